import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { keys, useUsers } from '../api/queries';
import type { Role, User } from '../api/types';
import { Empty, ErrorPanel, QueryView } from '../components/Status';
import { When } from '../components/Time';
import { hasRole, useUser } from '../session';
import { useTitle } from '../title';
import { FailedAction } from '../components/FailedAction';

const roles: Role[] = ['viewer', 'member', 'admin'];

export function UsersPage() {
  useTitle('Users');
  const me = useUser();
  const users = useUsers();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('member');

  const create = useMutation({
    mutationFn: () =>
      api<{ user: User }>('/v1/users', { method: 'POST', body: { name, password, role } }),
    onSuccess: () => {
      setName('');
      setPassword('');
      void queryClient.invalidateQueries({ queryKey: keys.users });
    },
  });
  const patch = useMutation({
    mutationFn: ({ id, change }: { id: User['id']; change: Record<string, unknown> }) =>
      api<{ user: User }>(`/v1/users/${encodeURIComponent(String(id))}`, {
        method: 'PATCH',
        body: change,
      }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.users }),
  });

  if (!hasRole(me, 'admin')) {
    return <ErrorPanel error={new Error('Only administrators manage users.')} what="Users" />;
  }

  function onCreate(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  function resetPassword(u: User) {
    const next = window.prompt(`New password for ${u.name} (at least 12 characters)`);
    if (next) {
      patch.mutate({ id: u.id, change: { password: next } });
    }
  }

  return (
    <div className="page">
      <header className="page-head">
        <h1>Users</h1>
      </header>
      <form className="card inline-form" onSubmit={onCreate}>
        <h2>Add a user</h2>
        <label>
          Name
          <input
            name="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            pattern="[a-z][a-z0-9_.\-]{0,63}"
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            minLength={12}
            required
          />
        </label>
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Add
        </button>
        <FailedAction action={create} />
      </form>
      <FailedAction action={patch} />
      <QueryView query={users} what="Users">
        {(list) =>
          list.length === 0 ? (
            <Empty>No users.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Role</th>
                    <th>State</th>
                    <th>Created</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.map((u) => (
                    <tr
                      key={u.id}
                      data-user={u.name}
                      className={u.disabled ? 'row-dim' : undefined}
                    >
                      <td>
                        {u.name}
                        {u.name === me.name && <span className="muted"> (you)</span>}
                      </td>
                      <td>
                        <select
                          aria-label={`Role of ${u.name}`}
                          value={u.role}
                          onChange={(e) =>
                            patch.mutate({ id: u.id, change: { role: e.target.value } })
                          }
                        >
                          {roles.map((r) => (
                            <option key={r}>{r}</option>
                          ))}
                        </select>
                      </td>
                      <td>
                        {u.disabled ? (
                          <span className="badge badge-muted">disabled</span>
                        ) : (
                          <span className="badge badge-good">enabled</span>
                        )}
                      </td>
                      <td>
                        <When at={u.created_at} />
                      </td>
                      <td className="row-actions">
                        <button type="button" onClick={() => resetPassword(u)}>
                          Set password
                        </button>
                        <button
                          type="button"
                          onClick={() =>
                            patch.mutate({ id: u.id, change: { disabled: !u.disabled } })
                          }
                        >
                          {u.disabled ? 'Enable' : 'Disable'}
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </div>
  );
}
