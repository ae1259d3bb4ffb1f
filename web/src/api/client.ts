// Every request to the server goes through here: same origin, the session cookie, the CSRF
// header on state-changing requests, and one error type that keeps the server's code and message.

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;

  constructor(status: number, code: string, message: string, retryAfterS: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }

  /** The server said a part of it cannot answer now (a plugin or the database is down). */
  get unavailable(): boolean {
    return this.status === 503 || this.status === 0;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

let csrfToken: string | null = null;
const signedOutListeners = new Set<() => void>();

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the server answers 401 to a signed-in request: the session has ended. */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

const changing = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as the end of the session (the sign-in calls themselves). */
  expect401?: boolean;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  if (changing.has(method) && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }

  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') {
      throw e;
    }
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }

  if (response.status === 204) {
    return undefined as T;
  }
  const text = await response.text();
  if (response.ok) {
    return (text ? JSON.parse(text) : undefined) as T;
  }

  const error = toError(response, text);
  if (response.status === 401 && !options.expect401) {
    signedOutListeners.forEach((listener) => listener());
  }
  throw error;
}

function toError(response: Response, text: string): ApiError {
  let code = `http_${response.status}`;
  let message = response.statusText || `the server answered ${response.status}`;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) {
      code = body.error.code;
    }
    if (body.error?.message) {
      message = body.error.message;
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status line.
  }
  const retry = Number(response.headers.get('Retry-After'));
  return new ApiError(
    response.status,
    code,
    message,
    Number.isFinite(retry) && retry > 0 ? retry : null,
  );
}

/** The text to show a person for any failure. */
export function errorText(e: unknown): string {
  if (isApiError(e)) {
    return e.message;
  }
  if (e instanceof Error) {
    return e.message;
  }
  return String(e);
}
