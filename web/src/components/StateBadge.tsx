import { isEnded } from '../api/types';

const taskTone: Record<string, string> = {
  queued: 'waiting',
  assigned: 'starting',
  accepted: 'starting',
  fetching: 'starting',
  building: 'starting',
  running: 'running',
  uploading: 'running',
  succeeded: 'good',
  failed: 'bad',
  lost: 'warn',
  cancelled: 'muted',
};

/** A task state in its colour; states still in progress pulse. */
export function TaskStateBadge({ state, live }: { state: string; live?: boolean }) {
  const tone = taskTone[state] ?? 'muted';
  const pulse = live ?? !isEnded(state);
  return (
    <span className={`badge badge-${tone}${pulse ? ' badge-live' : ''}`} data-state={state}>
      {state}
    </span>
  );
}

export function NodeStateBadge({ state }: { state: string }) {
  return (
    <span className={`badge badge-${state === 'online' ? 'good' : 'muted'}`} data-state={state}>
      {state}
    </span>
  );
}

/** `ok`, `degraded` or `down` from /health. */
export function HealthBadge({ status }: { status: string }) {
  const tone = status === 'ok' ? 'good' : status === 'degraded' ? 'warn' : 'bad';
  return (
    <span className={`badge badge-${tone}`} data-state={status}>
      {status}
    </span>
  );
}
