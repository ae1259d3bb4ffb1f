import { useQueryClient } from '@tanstack/react-query';
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import type { ReactNode } from 'react';
import type { BusEvent } from './api/types';

// The live connection: server-sent events from GET /v1/live, fed by the event bus. Events only
// say that something changed; pages then re-read it through REST, the authoritative path. When
// the server says this client fell behind (`resync`), or the connection was down for a while,
// every page re-reads everything rather than trust what it holds.

export type LiveStatus = 'connecting' | 'open' | 'down';

interface LiveState {
  status: LiveStatus;
  since: number;
  reason: string | null;
}

type Listener = (event: BusEvent) => void;

interface LiveApi extends LiveState {
  subscribe(listener: Listener): () => void;
}

const LiveContext = createContext<LiveApi | null>(null);

// Which cached reads an event kind makes out of date, by the first element of their key.
function staleKeys(kind: string): string[] {
  if (kind.startsWith('node_token.')) {
    return ['node-tokens'];
  }
  if (kind.startsWith('node.')) {
    return ['nodes'];
  }
  if (kind.startsWith('task.')) {
    return ['tasks'];
  }
  if (kind.startsWith('user.')) {
    return ['users'];
  }
  if (kind.startsWith('token.')) {
    return ['tokens'];
  }
  return [];
}

const flushMs = 500;
const downPollMs = 10_000;
const maxBackoffMs = 30_000;

export function LiveProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<LiveState>(() => ({
    status: 'connecting',
    since: Date.now(),
    reason: null,
  }));
  const listeners = useRef(new Set<Listener>());

  useEffect(() => {
    let source: EventSource | null = null;
    let lastId = 0;
    let failures = 0;
    let everOpen = false;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let flushTimer: ReturnType<typeof setTimeout> | undefined;
    let pollTimer: ReturnType<typeof setInterval> | undefined;
    const pending = new Set<string>();
    let stopped = false;

    const flush = () => {
      flushTimer = undefined;
      for (const key of pending) {
        void queryClient.invalidateQueries({ queryKey: [key] });
      }
      pending.clear();
    };

    const rereadAll = () => {
      void queryClient.invalidateQueries();
    };

    const setStatus = (status: LiveStatus, reason: string | null) => {
      setState((s) =>
        s.status === status && s.reason === reason ? s : { status, since: Date.now(), reason },
      );
      if (status === 'down' && pollTimer === undefined) {
        pollTimer = setInterval(rereadAll, downPollMs);
      }
      if (status === 'open' && pollTimer !== undefined) {
        clearInterval(pollTimer);
        pollTimer = undefined;
      }
    };

    const connect = () => {
      const url = lastId > 0 ? `/v1/live?after=${lastId}` : '/v1/live';
      const es = new EventSource(url);
      source = es;

      es.onopen = () => {
        failures = 0;
        setStatus('open', null);
        // Anything may have changed while we were away.
        if (everOpen) {
          rereadAll();
        }
        everOpen = true;
      };

      es.onmessage = (message: MessageEvent<string>) => {
        let event: BusEvent;
        try {
          event = JSON.parse(message.data) as BusEvent;
        } catch {
          return;
        }
        if (typeof event.id === 'number') {
          lastId = Math.max(lastId, event.id);
        }
        for (const key of staleKeys(event.kind ?? '')) {
          pending.add(key);
        }
        if (pending.size > 0 && flushTimer === undefined) {
          flushTimer = setTimeout(flush, flushMs);
        }
        listeners.current.forEach((listener) => listener(event));
      };

      es.addEventListener('hello', (message: MessageEvent<string>) => {
        try {
          const hello = JSON.parse(message.data) as { latest?: number };
          if (lastId === 0 && typeof hello.latest === 'number') {
            lastId = hello.latest;
          }
        } catch {
          // A hello without a position changes nothing.
        }
      });

      es.addEventListener('resync', () => {
        // We missed events: the server will not replay them, so read everything again.
        setStatus('open', null);
        rereadAll();
      });

      es.addEventListener('unavailable', (message: MessageEvent<string>) => {
        // The server cannot read its event bus for now; it sends `resync` when it can again.
        let reason = 'the server cannot read its event bus';
        try {
          const body = JSON.parse(message.data) as { reason?: string } | string;
          reason = typeof body === 'string' ? body : (body.reason ?? reason);
        } catch {
          reason = message.data || reason;
        }
        setStatus('down', reason);
      });

      es.onerror = () => {
        setStatus('down', null);
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (an error status or a wrong answer): try again ourselves.
          es.close();
          failures += 1;
          const cap = Math.min(maxBackoffMs, 1000 * 2 ** Math.min(failures, 5));
          retryTimer = setTimeout(
            () => {
              if (!stopped) {
                connect();
              }
            },
            500 + Math.random() * cap,
          );
        }
      };
    };

    connect();

    return () => {
      stopped = true;
      source?.close();
      clearTimeout(retryTimer);
      clearTimeout(flushTimer);
      clearInterval(pollTimer);
    };
  }, [queryClient]);

  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const api = useMemo<LiveApi>(() => ({ ...state, subscribe }), [state, subscribe]);

  return <LiveContext.Provider value={api}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveApi {
  const live = useContext(LiveContext);
  if (!live) {
    throw new Error('useLive outside LiveProvider');
  }
  return live;
}

/** Calls `handler` for every event from the live connection while the component is shown. */
export function useLiveEvents(handler: Listener): void {
  const { subscribe } = useLive();
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => subscribe((event) => latest.current(event)), [subscribe]);
}
