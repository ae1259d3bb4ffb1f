import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, errorText } from '../api/client';
import { useTask } from '../api/queries';
import type { Attempt, Task } from '../api/types';
import { isEnded, retryableStates } from '../api/types';
import { TaskStateBadge } from '../components/StateBadge';
import { QueryView, RawJson } from '../components/Status';
import { TaskLog } from '../components/TaskLog';
import { reasonOf } from '../components/TaskTable';
import { Timeline } from '../components/Timeline';
import { Elapsed, When } from '../components/Time';
import { formatBytes, formatCommand, formatCores, plural } from '../format';
import { hasRole, useUser } from '../session';
import { useTitle } from '../title';

export function TaskDetailPage() {
  const { id = '' } = useParams();
  useTitle(`Task ${id}`);
  const task = useTask(id);

  return (
    <div className="page">
      <header className="page-head">
        <h1>
          <Link to="/tasks" className="crumb">
            Tasks
          </Link>{' '}
          / <span className="mono">{id}</span>
        </h1>
        {task.data && !task.isError && <TaskStateBadge state={task.data.task.state} />}
      </header>
      <QueryView query={task} what="Task">
        {({ task: t, attempts }) => (
          <>
            <Actions task={t} />
            <div className="columns">
              <Summary task={t} />
              <Coordinates task={t} />
            </div>
            <section className="card">
              <h2>Log</h2>
              <TaskLog key={t.id} taskId={String(t.id)} generation={t.attempts} />
            </section>
            <Attempts attempts={attempts} />
            <RawJson value={{ task: t, attempts }} />
          </>
        )}
      </QueryView>
    </div>
  );
}

function Actions({ task }: { task: Task }) {
  const user = useUser();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);

  const act = useMutation({
    mutationFn: (action: 'cancel' | 'retry') =>
      api<{ task: Task }>(`/v1/tasks/${encodeURIComponent(String(task.id))}/${action}`, {
        method: 'POST',
      }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['tasks'] }),
    onSuccess: (answer) => {
      setConfirming(false);
      if (answer?.task?.id && String(answer.task.id) !== String(task.id)) {
        void navigate(`/tasks/${encodeURIComponent(String(answer.task.id))}`);
      }
    },
  });

  if (!hasRole(user, 'member')) {
    return null;
  }
  const canCancel = !isEnded(task.state);
  const canRetry = (retryableStates as readonly string[]).includes(task.state);

  return (
    <div className="actions">
      {canCancel && !confirming && (
        <button
          type="button"
          className="danger"
          onClick={() => setConfirming(true)}
          disabled={act.isPending}
        >
          Cancel task
        </button>
      )}
      {canCancel && confirming && (
        <span className="confirm">
          Stop this task?{' '}
          <button
            type="button"
            className="danger"
            onClick={() => act.mutate('cancel')}
            disabled={act.isPending}
          >
            {act.isPending ? 'Cancelling…' : 'Yes, cancel it'}
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep running
          </button>
        </span>
      )}
      {canRetry && (
        <button
          type="button"
          className="primary"
          onClick={() => act.mutate('retry')}
          disabled={act.isPending}
        >
          {act.isPending ? 'Retrying…' : 'Retry'}
        </button>
      )}
      <Link to={`/tasks/new?from=${encodeURIComponent(String(task.id))}`} className="button">
        Submit a copy
      </Link>
      {act.isError && (
        <span className="form-error" role="alert">
          {errorText(act.error)}
        </span>
      )}
    </div>
  );
}

function Summary({ task: t }: { task: Task }) {
  const reason = reasonOf(t);
  return (
    <section className="card">
      <h2>Status</h2>
      <dl className="facts">
        <dt>State</dt>
        <dd>
          <TaskStateBadge state={t.state} />
          {reason && <span className="reason"> {reason}</span>}
        </dd>
        <dt>Node</dt>
        <dd>{t.node ? <Link to={`/nodes/${encodeURIComponent(t.node)}`}>{t.node}</Link> : '—'}</dd>
        <dt>Attempts</dt>
        <dd>
          {t.attempts} of at most {t.retry?.max_attempts ?? 3}
        </dd>
        <dt>Submitted</dt>
        <dd data-testid="task-submitted">
          <When at={t.created_at} /> by {t.submitted_by ?? '—'}
        </dd>
        <dt>Started</dt>
        <dd>
          <When at={t.started_at} />
        </dd>
        <dt>Ended</dt>
        <dd>
          <When at={t.ended_at} />
        </dd>
        <dt>Run time</dt>
        <dd>{t.started_at ? <Elapsed from={t.started_at} to={t.ended_at} /> : '—'}</dd>
        <dt>Exit code</dt>
        <dd className="mono">{t.exit_code ?? '—'}</dd>
        <dt>Project</dt>
        <dd>{t.project ?? 'default'}</dd>
        <dt>Priority</dt>
        <dd>{t.priority ?? 0}</dd>
      </dl>
    </section>
  );
}

function Coordinates({ task: t }: { task: Task }) {
  const r = t.resources ?? {};
  const labels = Object.entries(r.labels ?? {});
  const env = Object.entries(t.env ?? {});
  return (
    <section className="card">
      <h2>What runs</h2>
      <dl className="facts" data-testid="coordinates">
        <dt>Code</dt>
        <dd className="mono break">{t.code_repo_url}</dd>
        <dt>Code commit</dt>
        <dd className="mono">{t.code_commit_id}</dd>
        <dt>Environment</dt>
        <dd className="mono break">{t.env_repo_url}</dd>
        <dt>Env commit</dt>
        <dd className="mono">{t.env_commit_id}</dd>
        <dt>Dockerfile</dt>
        <dd className="mono">{t.dockerfile_path ?? 'Dockerfile'}</dd>
        <dt>Command</dt>
        <dd className="mono break">{formatCommand(t.command)}</dd>
        {env.length > 0 && (
          <>
            <dt>Environment variables</dt>
            <dd className="mono break">{env.map(([k, v]) => `${k}=${v}`).join(' ')}</dd>
          </>
        )}
        <dt>Resources</dt>
        <dd>
          {formatCores(r.cpu_millis ?? 1000)} CPU ·{' '}
          {r.memory_bytes ? formatBytes(r.memory_bytes) : 'no memory limit'}
          {r.gpu_count
            ? ` · ${r.gpu_count} GPU${r.gpu_count > 1 ? 's' : ''}${r.gpu_model ? ` (${r.gpu_model})` : ''}`
            : ''}
          {labels.length > 0 && ` · on ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`}
        </dd>
        <dt>Time limit</dt>
        <dd>{t.time_limit_s ? `${t.time_limit_s} s` : 'none'}</dd>
        <dt>Retries</dt>
        <dd>
          up to {plural(t.retry?.max_attempts ?? 3, 'attempt')}
          {t.retry?.on_exit_nonzero ? ', also on a non-zero exit' : ''}
        </dd>
      </dl>
    </section>
  );
}

function Attempts({ attempts }: { attempts: Attempt[] }) {
  if (attempts.length === 0) {
    return (
      <section className="card">
        <h2>Attempts</h2>
        <p className="muted">Not placed on a node yet.</p>
      </section>
    );
  }
  const newestFirst = [...attempts].sort((a, b) => b.number - a.number);
  return (
    <section className="card">
      <h2>Attempts</h2>
      {newestFirst.map((a) => (
        <div key={a.id} className="attempt" data-attempt={a.number}>
          <div className="attempt-head">
            <strong>Attempt {a.number}</strong>
            <TaskStateBadge state={a.state} />
            <span className="muted">
              on {a.node ? <Link to={`/nodes/${encodeURIComponent(a.node)}`}>{a.node}</Link> : '—'}
            </span>
            {(a.cause || a.exit_code !== null || a.message) && (
              <span className="reason">
                {[
                  a.cause,
                  a.exit_code !== null && a.exit_code !== undefined ? `exit ${a.exit_code}` : null,
                  a.message,
                ]
                  .filter(Boolean)
                  .join(' · ')}
              </span>
            )}
          </div>
          <Timeline attempt={a} />
        </div>
      ))}
    </section>
  );
}
