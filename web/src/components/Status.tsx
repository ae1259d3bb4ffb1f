import type { ReactNode } from 'react';
import { ApiError, errorText } from '../api/client';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="state-panel state-loading" role="status">
      <span className="spinner" aria-hidden /> {what}…
    </div>
  );
}

/**
 * Why a read failed. A part of the server that is down (503: a plugin or the database) is
 * shown as unavailable with the server's own reason; nothing from before is shown in its place.
 */
export function ErrorPanel({ error, what }: { error: unknown; what?: string }) {
  if (error instanceof ApiError && error.unavailable) {
    return (
      <div className="state-panel state-unavailable" role="alert" data-code={error.code}>
        <strong>{what ? `${what}: unavailable` : 'Unavailable'}</strong>
        <span>{errorText(error)}</span>
      </div>
    );
  }
  if (error instanceof ApiError && error.status === 404 && error.code === 'not_found') {
    return (
      <div className="state-panel state-unavailable" role="alert" data-code={error.code}>
        <strong>{what ? `${what}: not available on this server` : 'Not available'}</strong>
        <span>{errorText(error)}</span>
      </div>
    );
  }
  return (
    <div className="state-panel state-error" role="alert">
      <strong>{what ? `Could not load ${what.toLowerCase()}` : 'Something went wrong'}</strong>
      <span>{errorText(error)}</span>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state-panel state-empty">{children}</div>;
}

/** The server's answer, as sent (UTC timestamps and all), only when a person opens it. */
export function RawJson({ value, label = 'Raw JSON' }: { value: unknown; label?: string }) {
  return (
    <details className="raw-json">
      <summary>{label}</summary>
      <pre>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}

interface QueryLike<T> {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data: T | undefined;
}

/**
 * Shows a read's data only while the read is good: an error replaces what was there before,
 * so a page never shows figures the server can no longer vouch for.
 */
export function QueryView<T>({
  query,
  what,
  children,
}: {
  query: QueryLike<T>;
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isError) {
    return <ErrorPanel error={query.error} what={what} />;
  }
  if (query.isPending || query.data === undefined) {
    return <Loading what={`Loading ${what.toLowerCase()}`} />;
  }
  return <>{children(query.data)}</>;
}
