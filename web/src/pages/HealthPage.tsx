import { useHealth } from '../api/queries';
import type { HealthEntry } from '../api/types';
import { HealthBadge } from '../components/StateBadge';
import { QueryView, RawJson } from '../components/Status';
import { When } from '../components/Time';
import { useTitle } from '../title';

function Entries({ title, entries }: { title: string; entries: Record<string, HealthEntry> }) {
  const list = Object.entries(entries);
  return (
    <section className="card">
      <h2>{title}</h2>
      {list.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <table className="table" data-testid={`health-${title.toLowerCase()}`}>
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {list.map(([name, e]) => (
              <tr key={name} data-part={name}>
                <td>{name}</td>
                <td>
                  <HealthBadge status={e.status} />
                </td>
                <td className="muted">{e.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function HealthPage() {
  useTitle('Health');
  const health = useHealth();
  return (
    <div className="page">
      <header className="page-head">
        <h1>Health</h1>
      </header>
      <QueryView query={health} what="Health">
        {(h) => (
          <>
            <section className="card health-head">
              <div>
                Server <HealthBadge status={h.status} />
              </div>
              <div className="muted">version {h.version}</div>
              <div className="muted">
                checked <When at={h.time} />
              </div>
            </section>
            <div className="columns">
              <Entries title="Components" entries={h.components} />
              <Entries title="Plugins" entries={h.plugins} />
            </div>
            <RawJson value={h} />
          </>
        )}
      </QueryView>
    </div>
  );
}
