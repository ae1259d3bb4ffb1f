import { useEffect, useState } from 'react';
import { formatDateTime, formatElapsed, formatRelative, formatShort } from '../time';

/** Now, refreshed every `intervalMs`, so relative times and running durations move. */
export function useNow(intervalMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** A timestamp in Beijing time: the full date and time, or the short form in lists. */
export function When({ at, short = false }: { at: string | null | undefined; short?: boolean }) {
  const full = formatDateTime(at);
  return (
    <span className="when" title={at ? `${full} Beijing time` : undefined}>
      {short ? formatShort(at) : full}
    </span>
  );
}

/** `3 min ago`, kept current, with the Beijing time on hover. */
export function Ago({ at }: { at: string | null | undefined }) {
  const now = useNow();
  return (
    <span className="when" title={at ? `${formatDateTime(at)} Beijing time` : undefined}>
      {formatRelative(at, now)}
    </span>
  );
}

/** How long from `from` to `to`, or to now (kept current) while `to` is open. */
export function Elapsed({ from, to }: { from: string | null | undefined; to?: string | null }) {
  if (to) {
    return <span className="duration">{formatElapsed(from, to)}</span>;
  }
  return <Running from={from} />;
}

// Only spans still open tick, so a long list of ended tasks does not re-render every second.
function Running({ from }: { from: string | null | undefined }) {
  const now = useNow(1000);
  return <span className="duration">{formatElapsed(from, null, now)}</span>;
}
