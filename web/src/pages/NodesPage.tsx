import { Link } from 'react-router';
import { useNodes } from '../api/queries';
import { Labels, gpuSummary } from '../components/NodeFacts';
import { NodeStateBadge } from '../components/StateBadge';
import { Empty, QueryView } from '../components/Status';
import { Ago } from '../components/Time';
import type { Node } from '../api/types';
import { formatBytes } from '../format';
import { secondsSince } from '../time';
import { useTitle } from '../title';

// Agents beat every 15 s by default; an online node silent for three beats is worth a look
// before the server calls it offline.
const lateAfterS = 45;

function heartbeatLate(n: Node): boolean {
  return n.state === 'online' && secondsSince(n.last_heartbeat_at) > lateAfterS;
}

export function NodesPage() {
  useTitle('Nodes');
  const nodes = useNodes();

  return (
    <div className="page">
      <header className="page-head">
        <h1>Nodes</h1>
        {nodes.data && !nodes.isError && (
          <span className="head-aside muted">
            {nodes.data.filter((n) => n.state === 'online').length} of {nodes.data.length} online
          </span>
        )}
      </header>
      <QueryView query={nodes} what="Nodes">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No compute node has joined. An administrator issues a node token under{' '}
              <Link to="/admin/node-tokens">Node tokens</Link>; the machine then runs{' '}
              <code>unidesk-agent</code> with it.
            </Empty>
          ) : (
            <div className="table-wrap">
              <table className="table" data-testid="node-table">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>State</th>
                    <th>CPU</th>
                    <th>Memory</th>
                    <th>Disk</th>
                    <th>GPUs</th>
                    <th>Labels</th>
                    <th>Agent</th>
                    <th>Last heartbeat</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((n) => (
                    <tr
                      key={n.name}
                      data-node={n.name}
                      className={n.state === 'offline' ? 'row-dim' : undefined}
                    >
                      <td>
                        <Link to={`/nodes/${encodeURIComponent(n.name)}`}>{n.name}</Link>
                        <div className="muted small">
                          {n.os ?? '?'}/{n.arch ?? '?'}
                        </div>
                      </td>
                      <td>
                        <NodeStateBadge state={n.state} />
                      </td>
                      <td>{n.cpu_cores ?? '—'} cores</td>
                      <td>{formatBytes(n.memory_bytes)}</td>
                      <td>{formatBytes(n.disk_bytes)}</td>
                      <td>{gpuSummary(n.gpus)}</td>
                      <td>
                        <Labels labels={n.labels} />
                      </td>
                      <td className="mono">{n.agent_version ?? '—'}</td>
                      <td className={heartbeatLate(n) ? 'late' : undefined}>
                        <Ago at={n.last_heartbeat_at} />
                        {heartbeatLate(n) && <div className="small">late</div>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </div>
  );
}
