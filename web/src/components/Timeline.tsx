import type { Attempt } from '../api/types';
import { isEnded } from '../api/types';
import { TaskStateBadge } from './StateBadge';
import { Elapsed, When } from './Time';

/** The phases of one attempt in order, each with when it began and how long it lasted. */
export function Timeline({ attempt }: { attempt: Attempt }) {
  const phases = attempt.phases ?? [];
  if (phases.length === 0) {
    return <p className="muted">No phase reported yet.</p>;
  }
  const over = isEnded(attempt.state);
  return (
    <ol className="timeline" data-testid="timeline">
      {phases.map((p, i) => {
        const next = phases[i + 1];
        const last = i === phases.length - 1;
        return (
          <li key={`${p.phase}-${i}`} className={`timeline-step phase-${p.phase}`}>
            <span className="timeline-dot" aria-hidden />
            <span className="timeline-phase">
              <TaskStateBadge state={p.phase} live={last && !over} />
            </span>
            <span className="timeline-at">
              <When at={p.at} />
            </span>
            <span className="timeline-took muted">
              {next ? (
                <Elapsed from={p.at} to={next.at} />
              ) : last && !over ? (
                <Elapsed from={p.at} />
              ) : null}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
