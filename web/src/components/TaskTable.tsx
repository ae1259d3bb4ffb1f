import { Link } from 'react-router';
import type { Task, TaskId } from '../api/types';
import { formatCommand } from '../format';
import { TaskStateBadge } from './StateBadge';
import { Elapsed, When } from './Time';
import { Empty } from './Status';

export function shortId(id: TaskId): string {
  const s = String(id);
  return s.length > 12 ? s.slice(0, 8) : s;
}

export function TaskTable({
  tasks,
  empty = 'No tasks.',
  showReason = false,
  compact = false,
}: {
  tasks: Task[];
  empty?: string;
  showReason?: boolean;
  /** Fewer columns, for a narrow card. */
  compact?: boolean;
}) {
  if (tasks.length === 0) {
    return <Empty>{empty}</Empty>;
  }
  return (
    <div className="table-wrap">
      <table className={compact ? 'table compact-tasks' : 'table'} data-testid="task-table">
        <thead>
          <tr>
            <th>Task</th>
            <th>State</th>
            <th>Command</th>
            {!compact && <th>Project</th>}
            <th>Node</th>
            {!compact && <th>Submitted</th>}
            <th>Run time</th>
            {showReason && <th>Why</th>}
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.id} data-task-id={t.id}>
              <td className="mono">
                <Link to={`/tasks/${encodeURIComponent(String(t.id))}`}>{shortId(t.id)}</Link>
              </td>
              <td>
                <TaskStateBadge state={t.state} />
              </td>
              <td className="mono truncate" title={formatCommand(t.command)}>
                {formatCommand(t.command)}
              </td>
              {!compact && <td>{t.project ?? 'default'}</td>}
              <td className="nowrap">
                {t.node ? <Link to={`/nodes/${encodeURIComponent(t.node)}`}>{t.node}</Link> : '—'}
              </td>
              {!compact && (
                <td>
                  <When at={t.created_at} short />
                </td>
              )}
              <td className="nowrap">
                {t.started_at ? <Elapsed from={t.started_at} to={t.ended_at} /> : '—'}
              </td>
              {showReason && (
                <td className="truncate muted" title={reasonOf(t)}>
                  {reasonOf(t)}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Why a task waits or how it ended, in one line. */
export function reasonOf(t: Task): string {
  if (t.state === 'queued' && t.pending_reason) {
    return t.pending_reason;
  }
  const parts = [
    t.cause,
    t.exit_code !== null && t.exit_code !== undefined ? `exit ${t.exit_code}` : null,
    t.message,
  ];
  return parts.filter(Boolean).join(' · ') || '';
}
