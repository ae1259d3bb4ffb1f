import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { api, errorText } from '../api/client';
import type { LogPage } from '../api/types';
import { appendEntries, noLines } from '../logLines';
import type { LineBuilder } from '../logLines';
import { formatTime, fromDateTimeLocal } from '../time';

// The log is read from its REST endpoint, which is where it is kept: each call asks for the
// entries after the last one seen and waits up to `waitS` for new ones, until the task ends.
const waitS = 20;
// TODO: a longer log loses its first lines on the page (the full log stays on the server);
// paging back through it is not built (docs/limitations.md).
const maxLines = 20_000;

interface LogState {
  built: LineBuilder;
  dropped: number;
  ended: boolean;
  error: string | null;
}

function useTaskLog(taskId: string, generation: number): LogState {
  const [state, setState] = useState<LogState>({
    built: noLines,
    dropped: 0,
    ended: false,
    error: null,
  });
  const nextRef = useRef(0);

  useEffect(() => {
    const controller = new AbortController();
    let stopped = false;

    async function follow() {
      let failures = 0;
      while (!stopped) {
        const started = Date.now();
        try {
          const page = await api<LogPage>(
            `/v1/tasks/${encodeURIComponent(taskId)}/log?after=${nextRef.current}&wait_s=${waitS}`,
            { signal: controller.signal },
          );
          failures = 0;
          nextRef.current = page.next;
          setState((s) => {
            const built = appendEntries(s.built, page.entries);
            const drop = Math.max(0, built.lines.length - maxLines);
            return {
              built: drop > 0 ? { ...built, lines: built.lines.slice(drop) } : built,
              dropped: s.dropped + drop,
              ended: page.ended,
              error: null,
            };
          });
          if (page.ended) {
            return;
          }
          // A server that answers at once with nothing new is not asked again right away.
          if (page.entries.length === 0 && Date.now() - started < 500) {
            await sleep(1000, controller.signal);
          }
        } catch (e) {
          if (stopped) {
            return;
          }
          failures += 1;
          setState((s) => ({ ...s, error: errorText(e) }));
          await sleep(Math.min(15_000, 1000 * 2 ** failures), controller.signal);
        }
      }
    }

    void follow();
    return () => {
      stopped = true;
      controller.abort();
    };
  }, [taskId, generation]);

  return state;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The text with each case-insensitive occurrence of `needle` (lower case) marked. */
function highlight(text: string, needle: string): ReactNode[] {
  const lower = text.toLowerCase();
  const parts: ReactNode[] = [];
  let from = 0;
  for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, from)) {
    parts.push(text.slice(from, at), <mark key={at}>{text.slice(at, at + needle.length)}</mark>);
    from = at + needle.length;
  }
  parts.push(text.slice(from));
  return parts;
}

export function TaskLog({ taskId, generation }: { taskId: string; generation: number }) {
  const log = useTaskLog(taskId, generation);
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const lastTop = useRef(0);

  const needle = search.trim().toLowerCase();
  const lines = log.built.lines;
  const shown = useMemo(
    () => (needle ? lines.filter((l) => l.text.toLowerCase().includes(needle)) : lines),
    [lines, needle],
  );

  useLayoutEffect(() => {
    if (follow && box.current) {
      box.current.scrollTop = box.current.scrollHeight;
    }
  }, [shown, follow]);

  // Scrolls to the first shown line written at or after a Beijing wall-clock time. Both sides
  // are UTC ISO strings of one shape, so they compare as text.
  function goTo(value: string) {
    const at = fromDateTimeLocal(value);
    const el = box.current;
    if (!at || !el) {
      return;
    }
    const index = shown.findIndex((l) => l.at >= at);
    const target = el.querySelector<HTMLElement>(
      `[data-line="${index < 0 ? shown.length - 1 : index}"]`,
    );
    if (target) {
      setFollow(false);
      el.scrollTop = target.offsetTop;
    }
  }

  // Scrolling up stops following; scrolling down to the end starts it again. Only the direction
  // the person moved counts, so a short log (always near its end) keeps what they chose.
  function onScroll() {
    const el = box.current;
    if (!el) {
      return;
    }
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    const down = el.scrollTop > lastTop.current;
    lastTop.current = el.scrollTop;
    if (down && atBottom && !follow) {
      setFollow(true);
    } else if (!down && !atBottom && follow) {
      setFollow(false);
    }
  }

  return (
    <div className="log">
      <div className="log-bar">
        <input
          type="search"
          placeholder="Search the log"
          aria-label="Search the log"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        {needle && (
          <span className="muted small" data-testid="log-matches">
            {shown.length} of {lines.length} lines match
          </span>
        )}
        <label className="log-goto">
          Go to
          <input
            type="datetime-local"
            step={1}
            aria-label="Go to the first line at or after a Beijing time"
            onChange={(e) => goTo(e.target.value)}
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          Follow
        </label>
        <span className={`log-status ${log.ended ? 'muted' : 'live-dot'}`} data-testid="log-status">
          {log.ended ? 'complete' : 'live'}
        </span>
      </div>
      {log.error && (
        <div className="log-error" role="alert">
          The log cannot be read: {log.error}. Trying again…
        </div>
      )}
      <div className="log-box" ref={box} onScroll={onScroll} data-testid="log-box">
        {log.dropped > 0 && (
          <div className="log-note">{log.dropped} earlier lines are not shown.</div>
        )}
        {shown.length === 0 && (
          <div className="log-note">
            {needle
              ? 'No entry matches.'
              : log.ended
                ? 'The task wrote no output.'
                : 'Waiting for output…'}
          </div>
        )}
        {shown.map((l, i) => (
          <div key={l.key} className={`log-line log-${l.stream}`} data-line={i}>
            <span className="log-time">{formatTime(l.at)}</span>
            <span className="log-text">{needle ? highlight(l.text, needle) : l.text}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
