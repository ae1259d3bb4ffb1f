import { Link } from 'react-router';
import { errorText } from '../api/client';
import { useHealth } from '../api/queries';
import { useLive } from '../live';
import { useNow } from './Time';

// A short grace before saying the live connection is down, so a page load or one quick
// reconnect does not flash a warning.
const graceMs = 3000;

export function Banners() {
  const live = useLive();
  const health = useHealth();
  const now = useNow(1000);

  const liveDown =
    (live.status === 'down' || live.status === 'connecting') && now - live.since > graceMs;

  const parts: string[] = [];
  if (health.data && !health.isError) {
    for (const [name, entry] of Object.entries(health.data.components)) {
      if (entry.status !== 'ok') {
        parts.push(`${name} is ${entry.status}${entry.reason ? `: ${entry.reason}` : ''}`);
      }
    }
    for (const [name, entry] of Object.entries(health.data.plugins)) {
      if (entry.status !== 'ok') {
        parts.push(`plugin ${name} is ${entry.status}${entry.reason ? `: ${entry.reason}` : ''}`);
      }
    }
  }

  // A reason may end with its own period; the sentence gets one.
  const summary = parts.join('; ').replace(/\.$/, '');

  return (
    <div className="banners">
      {liveDown && (
        <div className="banner banner-warn" role="alert" data-testid="banner-live">
          <strong>Live updates are disconnected</strong>
          {live.reason ? ` (${live.reason})` : ''}. Reconnecting; meanwhile every page is re-read
          from the server every 10 s.
        </div>
      )}
      {health.isError && (
        <div className="banner banner-bad" role="alert" data-testid="banner-health">
          <strong>The server's health cannot be read:</strong> {errorText(health.error)}
        </div>
      )}
      {parts.length > 0 && (
        <div className="banner banner-bad" role="alert" data-testid="banner-health">
          <strong>Part of the server is unavailable:</strong> {summary}.{' '}
          <Link to="/status">Details</Link>
        </div>
      )}
    </div>
  );
}
