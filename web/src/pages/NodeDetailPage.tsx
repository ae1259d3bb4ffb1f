import { Link, useParams } from 'react-router';
import { useNode, useTasks } from '../api/queries';
import { Labels } from '../components/NodeFacts';
import { NodeStateBadge } from '../components/StateBadge';
import { QueryView, RawJson } from '../components/Status';
import { TaskTable } from '../components/TaskTable';
import { Ago, When } from '../components/Time';
import { formatBytes } from '../format';
import { useTitle } from '../title';

// TODO: a node's earlier state changes (its node.* events) are not shown, because no REST route
// reads events yet; people see only the latest connection times (docs/limitations.md).
export function NodeDetailPage() {
  const { name = '' } = useParams();
  useTitle(name);
  const node = useNode(name);
  const tasks = useTasks({ node: name, limit: 20 });

  return (
    <div className="page">
      <header className="page-head">
        <h1>
          <Link to="/nodes" className="crumb">
            Nodes
          </Link>{' '}
          / {name}
        </h1>
        {node.data && !node.isError && <NodeStateBadge state={node.data.state} />}
      </header>
      <QueryView query={node} what="Node">
        {(n) => (
          <>
            <div className="columns">
              <section className="card">
                <h2>Resources</h2>
                <dl className="facts">
                  <dt>CPU</dt>
                  <dd>{n.cpu_cores ?? '—'} cores</dd>
                  <dt>Memory</dt>
                  <dd>{formatBytes(n.memory_bytes)}</dd>
                  <dt>Disk</dt>
                  <dd>{formatBytes(n.disk_bytes)}</dd>
                  <dt>System</dt>
                  <dd>
                    {n.os ?? '?'}/{n.arch ?? '?'}
                  </dd>
                  <dt>Labels</dt>
                  <dd>
                    <Labels labels={n.labels} />
                  </dd>
                </dl>
                <h3>GPUs</h3>
                {n.gpus.length === 0 ? (
                  <p className="muted">No GPU.</p>
                ) : (
                  <table className="table compact">
                    <thead>
                      <tr>
                        <th>#</th>
                        <th>Model</th>
                        <th>Memory</th>
                        <th>Driver</th>
                      </tr>
                    </thead>
                    <tbody>
                      {n.gpus.map((g) => (
                        <tr key={g.index}>
                          <td>{g.index}</td>
                          <td>{g.model}</td>
                          <td>{formatBytes(g.memory_bytes)}</td>
                          <td>{g.driver ?? '—'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </section>
              <section className="card">
                <h2>Connection</h2>
                <dl className="facts">
                  <dt>State</dt>
                  <dd>
                    <NodeStateBadge state={n.state} />
                  </dd>
                  <dt>Last heartbeat</dt>
                  <dd>
                    <When at={n.last_heartbeat_at} /> (<Ago at={n.last_heartbeat_at} />)
                  </dd>
                  <dt>Connected</dt>
                  <dd>
                    <When at={n.connected_at} />
                  </dd>
                  {n.offline_at && (
                    <>
                      <dt>Offline since</dt>
                      <dd>
                        <When at={n.offline_at} />
                      </dd>
                    </>
                  )}
                  <dt>First registered</dt>
                  <dd>
                    <When at={n.first_registered_at} />
                  </dd>
                  <dt>Agent version</dt>
                  <dd className="mono">{n.agent_version ?? '—'}</dd>
                  <dt>Address</dt>
                  <dd className="mono">{n.remote ?? '—'}</dd>
                  <dt>Session</dt>
                  <dd className="mono">
                    generation {n.session_generation ?? '—'} on {n.session_instance ?? '—'}
                  </dd>
                </dl>
              </section>
            </div>
            <RawJson value={n} />
          </>
        )}
      </QueryView>
      <section className="card">
        <h2>Recent tasks on this node</h2>
        <QueryView query={tasks} what="Tasks">
          {(page) => (
            <TaskTable tasks={page.tasks} empty="No task has run on this node." showReason />
          )}
        </QueryView>
      </section>
    </div>
  );
}
