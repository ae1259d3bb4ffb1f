import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { QueryView } from './Status';

afterEach(cleanup);

const unavailable = new ApiError(503, 'plugin_unavailable', 'the scheduler plugin is not running');

describe('QueryView', () => {
  it('shows the data of a good read', () => {
    render(
      <QueryView
        query={{ isPending: false, isError: false, error: null, data: ['a', 'b'] }}
        what="Tasks"
      >
        {(d) => <p>{d.join(',')}</p>}
      </QueryView>,
    );
    expect(screen.getByText('a,b')).toBeTruthy();
  });

  it('shows a part that is down as unavailable with the server reason, never the old data', () => {
    render(
      <QueryView
        query={{ isPending: false, isError: true, error: unavailable, data: ['stale'] }}
        what="Tasks"
      >
        {(d) => <p>{d.join(',')}</p>}
      </QueryView>,
    );
    expect(screen.queryByText('stale')).toBeNull();
    expect(screen.getByRole('alert').textContent).toContain('Tasks: unavailable');
    expect(screen.getByRole('alert').textContent).toContain('the scheduler plugin is not running');
    expect(screen.getByRole('alert').getAttribute('data-code')).toBe('plugin_unavailable');
  });

  it('says what failed for other errors', () => {
    const error = new ApiError(500, 'internal', 'the handler of plugin scheduler failed');
    render(
      <QueryView query={{ isPending: false, isError: true, error, data: undefined }} what="Tasks">
        {() => <p>never</p>}
      </QueryView>,
    );
    expect(screen.getByRole('alert').textContent).toContain('Could not load tasks');
  });

  it('shows loading until the first answer', () => {
    render(
      <QueryView
        query={{ isPending: true, isError: false, error: null, data: undefined }}
        what="Nodes"
      >
        {() => <p>never</p>}
      </QueryView>,
    );
    expect(screen.getByRole('status').textContent).toContain('Loading nodes');
  });
});
