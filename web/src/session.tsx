import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, api, onSignedOut, setCsrfToken } from './api/client';
import type { Role, Session, SessionUser } from './api/types';

type SessionState =
  | { status: 'checking' }
  | { status: 'signed-out'; reason?: string }
  | { status: 'error'; error: ApiError }
  | { status: 'signed-in'; user: SessionUser };

interface SessionApi {
  state: SessionState;
  signIn(user: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  recheck(): void;
}

const SessionContext = createContext<SessionApi | null>(null);

const roleRank: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

/** While the server cannot say who is signed in, it is asked again this often. */
export const SESSION_RETRY_MS = 5000;

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<SessionState>({ status: 'checking' });
  const [attempt, setAttempt] = useState(0);

  const accept = useCallback((session: Session) => {
    setCsrfToken(session.csrf_token);
    setState({ status: 'signed-in', user: session.user });
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    api<Session>('/v1/session', { signal: controller.signal, expect401: true })
      .then(accept)
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) {
          setState({ status: 'signed-out' });
        } else if (e instanceof ApiError) {
          setState({ status: 'error', error: e });
        }
      });
    return () => controller.abort();
  }, [accept, attempt]);

  // A server that cannot answer now (its database is down, it is restarting) is asked again
  // until it can: the page comes back by itself, without a stale answer meanwhile.
  useEffect(() => {
    if (state.status !== 'error') {
      return;
    }
    const timer = setTimeout(() => setAttempt((n) => n + 1), SESSION_RETRY_MS);
    return () => clearTimeout(timer);
  }, [state]);

  useEffect(
    () =>
      onSignedOut(() => {
        setCsrfToken(null);
        queryClient.clear();
        setState({ status: 'signed-out', reason: 'Your session has ended. Sign in again.' });
      }),
    [queryClient],
  );

  const value = useMemo<SessionApi>(
    () => ({
      state,
      async signIn(user, password) {
        const session = await api<Session>('/v1/session', {
          method: 'POST',
          body: { user, password },
          expect401: true,
        });
        queryClient.clear();
        accept(session);
      },
      async signOut() {
        try {
          await api<void>('/v1/session', { method: 'DELETE', expect401: true });
        } finally {
          setCsrfToken(null);
          queryClient.clear();
          setState({ status: 'signed-out' });
        }
      },
      recheck() {
        setState({ status: 'checking' });
        setAttempt((n) => n + 1);
      },
    }),
    [state, accept, queryClient],
  );

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const session = useContext(SessionContext);
  if (!session) {
    throw new Error('useSession outside SessionProvider');
  }
  return session;
}

/** The signed-in user; only for components under the signed-in layout. */
export function useUser(): SessionUser {
  const { state } = useSession();
  if (state.status !== 'signed-in') {
    throw new Error('useUser without a signed-in user');
  }
  return state.user;
}

export function hasRole(user: SessionUser, least: Role): boolean {
  return roleRank[user.role] >= roleRank[least];
}
