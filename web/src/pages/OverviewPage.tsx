import { Link } from 'react-router';
import { useHealth, useNodes, useTasks } from '../api/queries';
import type { Task } from '../api/types';
import { HealthBadge, NodeStateBadge } from '../components/StateBadge';
import { ErrorPanel, QueryView } from '../components/Status';
import { TaskTable } from '../components/TaskTable';
import { Ago } from '../components/Time';
import { useTitle } from '../title';

function Stat({
  label,
  value,
  tone,
  to,
  testId,
}: {
  label: string;
  value: string | number;
  tone: string;
  to: string;
  testId: string;
}) {
  return (
    <Link to={to} className={`stat stat-${tone}`} data-testid={testId}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </Link>
  );
}

function countByState(tasks: Task[], more: boolean) {
  const queued = tasks.filter((t) => t.state === 'queued').length;
  const running = tasks.length - queued;
  const suffix = more ? '+' : '';
  return { queued: `${queued}${suffix}`, running: `${running}${suffix}` };
}

export function OverviewPage() {
  useTitle('Overview');
  const nodes = useNodes();
  const active = useTasks({ state: 'active', limit: 500 }, { pollMs: 15_000 });
  const failed = useTasks({ state: 'failed', limit: 8 });
  const health = useHealth();

  const online = nodes.data?.filter((n) => n.state === 'online').length ?? 0;
  const offline = (nodes.data?.length ?? 0) - online;
  const counts = active.data ? countByState(active.data.tasks, active.data.next !== null) : null;

  return (
    <div className="page">
      <header className="page-head">
        <h1>Overview</h1>
        {health.data && !health.isError && (
          <Link to="/status" className="head-aside">
            Server <HealthBadge status={health.data.status} />
          </Link>
        )}
      </header>

      <section className="stats">
        {nodes.isError ? (
          <ErrorPanel error={nodes.error} what="Nodes" />
        ) : (
          <>
            <Stat
              label="nodes online"
              value={nodes.data ? online : '…'}
              tone="good"
              to="/nodes"
              testId="stat-online"
            />
            <Stat
              label="nodes offline"
              value={nodes.data ? offline : '…'}
              tone="muted"
              to="/nodes"
              testId="stat-offline"
            />
          </>
        )}
        {active.isError ? (
          <ErrorPanel error={active.error} what="Tasks" />
        ) : (
          <>
            <Stat
              label="tasks running"
              value={counts?.running ?? '…'}
              tone="running"
              to="/tasks?state=active"
              testId="stat-running"
            />
            <Stat
              label="tasks queued"
              value={counts?.queued ?? '…'}
              tone="waiting"
              to="/tasks?state=queued"
              testId="stat-queued"
            />
          </>
        )}
      </section>

      <div className="columns">
        <section className="card">
          <h2>Nodes</h2>
          <QueryView query={nodes} what="Nodes">
            {(list) =>
              list.length === 0 ? (
                <p className="muted">
                  No node has joined yet. Issue a node token under{' '}
                  <Link to="/admin/node-tokens">Node tokens</Link> and start{' '}
                  <code>unidesk-agent</code> on a machine.
                </p>
              ) : (
                <ul className="node-list">
                  {list.map((n) => (
                    <li key={n.name} data-node={n.name}>
                      <Link to={`/nodes/${encodeURIComponent(n.name)}`}>{n.name}</Link>
                      <NodeStateBadge state={n.state} />
                      <span className="muted small">
                        {n.state === 'online' ? (
                          <>
                            heartbeat <Ago at={n.last_heartbeat_at} />
                          </>
                        ) : (
                          <>
                            offline since <Ago at={n.offline_at} />
                          </>
                        )}
                      </span>
                    </li>
                  ))}
                </ul>
              )
            }
          </QueryView>
        </section>

        <section className="card">
          <h2>Running and queued</h2>
          <QueryView query={active} what="Tasks">
            {(page) => (
              <TaskTable
                tasks={page.tasks.slice(0, 10)}
                empty="Nothing is running or waiting."
                compact
              />
            )}
          </QueryView>
          {active.data && active.data.tasks.length > 10 && !active.isError && (
            <Link to="/tasks?state=active">All {active.data.tasks.length} active tasks</Link>
          )}
        </section>
      </div>

      <section className="card">
        <h2>Recent failures</h2>
        <QueryView query={failed} what="Failed tasks">
          {(page) => <TaskTable tasks={page.tasks} empty="No failed tasks." showReason />}
        </QueryView>
      </section>
    </div>
  );
}
