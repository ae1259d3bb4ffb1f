import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useTasks } from '../api/queries';
import type { TaskFilter } from '../api/queries';
import { QueryView } from '../components/Status';
import { TaskTable } from '../components/TaskTable';
import { hasRole, useUser } from '../session';
import { useTitle } from '../title';

const stateChoices = [
  ['', 'Any state'],
  ['active', 'Active (not ended)'],
  ['queued', 'Queued'],
  ['assigned', 'Assigned'],
  ['accepted', 'Accepted'],
  ['fetching', 'Fetching'],
  ['building', 'Building'],
  ['running', 'Running'],
  ['uploading', 'Uploading'],
  ['succeeded', 'Succeeded'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
  ['lost', 'Lost'],
] as const;

const pageSize = 50;

export function TasksPage() {
  useTitle('Tasks');
  const user = useUser();
  const [params, setParams] = useSearchParams();
  // Older pages: the `before` cursors walked so far, so "Newer" can step back.
  const [cursors, setCursors] = useState<string[]>([]);

  const filter: TaskFilter = {
    state: params.get('state') ?? '',
    project: params.get('project') ?? '',
    node: params.get('node') ?? '',
    limit: pageSize,
    before: cursors[cursors.length - 1],
  };
  const tasks = useTasks(filter, { pollMs: 15_000 });

  function setFilter(key: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) {
      next.set(key, value);
    } else {
      next.delete(key);
    }
    setCursors([]);
    setParams(next, { replace: true });
  }

  return (
    <div className="page">
      <header className="page-head">
        <h1>Tasks</h1>
        {hasRole(user, 'member') && (
          <Link to="/tasks/new" className="button primary">
            Submit a task
          </Link>
        )}
      </header>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter tasks">
        <label>
          State
          <select
            name="state"
            value={filter.state}
            onChange={(e) => setFilter('state', e.target.value)}
          >
            {stateChoices.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Project
          <input
            name="project"
            placeholder="any"
            defaultValue={filter.project}
            onBlur={(e) => setFilter('project', e.target.value.trim())}
            onKeyDown={(e) =>
              e.key === 'Enter' && setFilter('project', e.currentTarget.value.trim())
            }
          />
        </label>
        <label>
          Node
          <input
            name="node"
            placeholder="any"
            defaultValue={filter.node}
            onBlur={(e) => setFilter('node', e.target.value.trim())}
            onKeyDown={(e) => e.key === 'Enter' && setFilter('node', e.currentTarget.value.trim())}
          />
        </label>
      </form>
      <QueryView query={tasks} what="Tasks">
        {(page) => (
          <>
            <TaskTable
              tasks={page.tasks}
              empty={
                filter.state || filter.project || filter.node
                  ? 'No task matches these filters.'
                  : 'No task has been submitted yet.'
              }
              showReason
            />
            <div className="pager">
              <button
                type="button"
                disabled={cursors.length === 0}
                onClick={() => setCursors((c) => c.slice(0, -1))}
              >
                ← Newer
              </button>
              <span className="muted small">
                {cursors.length === 0 ? 'Newest first' : `Page ${cursors.length + 1}`}
              </span>
              <button
                type="button"
                disabled={!page.next}
                onClick={() => page.next && setCursors((c) => [...c, page.next as string])}
              >
                Older →
              </button>
            </div>
          </>
        )}
      </QueryView>
    </div>
  );
}
