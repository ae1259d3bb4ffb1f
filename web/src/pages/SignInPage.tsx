import { useState } from 'react';
import type { FormEvent } from 'react';
import { ApiError, errorText } from '../api/client';
import { useSession } from '../session';
import { useTitle } from '../title';

function failureText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'password_invalid' || e.status === 401) {
      return 'Wrong user name or password.';
    }
    if (e.code === 'too_many_attempts' || e.status === 429) {
      const wait = e.retryAfterS ? ` Try again in ${e.retryAfterS} s.` : ' Try again later.';
      return `Too many failed sign-ins.${wait}`;
    }
  }
  return `Sign-in failed: ${errorText(e)}`;
}

export function SignInPage({ notice }: { notice?: string }) {
  useTitle('Sign in');
  const { signIn } = useSession();
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(user.trim(), password);
    } catch (err) {
      setError(failureText(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="center-screen sign-in">
      <form className="card sign-in-card" onSubmit={(e) => void submit(e)}>
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden>
            U
          </span>
          UniDesk
        </div>
        <h1>Sign in</h1>
        {notice && !error && <p className="notice">{notice}</p>}
        {error && (
          <p className="form-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
        <label>
          User name
          <input
            name="user"
            autoComplete="username"
            value={user}
            onChange={(e) => setUser(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
