import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SESSION_RETRY_MS, SessionProvider, useSession } from './session';

function Shown() {
  const { state } = useSession();
  return <p data-testid="state">{state.status}</p>;
}

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('SessionProvider', () => {
  it('asks again by itself while the server cannot say who is signed in', async () => {
    const down = { error: { code: 'database_unavailable', message: 'database unavailable' } };
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(answer(503, down))
      .mockResolvedValueOnce(answer(503, down))
      .mockResolvedValue(answer(200, { user: { name: 'ada', role: 'member' }, csrf_token: 'c' }));
    vi.stubGlobal('fetch', fetchMock);

    render(
      <QueryClientProvider client={new QueryClient()}>
        <SessionProvider>
          <Shown />
        </SessionProvider>
      </QueryClientProvider>,
    );
    await act(async () => {
      await vi.advanceTimersByTimeAsync(10);
    });
    expect(screen.getByTestId('state').textContent).toBe('error');

    // No click: two waits later the server answers and the person is signed in.
    await act(async () => {
      await vi.advanceTimersByTimeAsync(SESSION_RETRY_MS);
    });
    expect(screen.getByTestId('state').textContent).toBe('error');
    await act(async () => {
      await vi.advanceTimersByTimeAsync(SESSION_RETRY_MS);
    });
    expect(screen.getByTestId('state').textContent).toBe('signed-in');
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });
});
