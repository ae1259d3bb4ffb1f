import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { useTokens, useUsers } from '../api/queries';
import type { ApiToken } from '../api/types';
import { SecretOnce } from '../components/SecretOnce';
import { Empty, QueryView } from '../components/Status';
import { Ago, When } from '../components/Time';
import { hasRole, useUser } from '../session';
import { useTitle } from '../title';
import { FailedAction } from '../components/FailedAction';

export function ApiTokensPage() {
  useTitle('API tokens');
  const me = useUser();
  const admin = hasRole(me, 'admin');
  const [all, setAll] = useState(false);
  const tokens = useTokens(admin && all);
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [secret, setSecret] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: () =>
      api<{ token: ApiToken; secret: string }>('/v1/tokens', { method: 'POST', body: { name } }),
    onSuccess: (answer) => {
      setSecret(answer.secret);
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: ApiToken['id']) =>
      api(`/v1/tokens/${encodeURIComponent(String(id))}`, { method: 'DELETE' }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['tokens'] }),
  });

  function onCreate(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <div className="page">
      <header className="page-head">
        <h1>API tokens</h1>
        {admin && (
          <label className="check head-aside">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />{' '}
            Everyone’s tokens
          </label>
        )}
      </header>
      <p className="muted">
        Tokens let the <code>unidesk</code> command-line client and scripts act as you: send one as{' '}
        <code>Authorization: Bearer …</code>.
      </p>
      {secret && (
        <SecretOnce title="New API token" secret={secret} onDone={() => setSecret(null)} />
      )}
      <form className="card inline-form" onSubmit={onCreate}>
        <h2>Issue a token</h2>
        <label>
          Name
          <input
            name="name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="laptop-cli"
            required
          />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Issue
        </button>
        <FailedAction action={create} />
      </form>
      <FailedAction action={revoke} />
      <QueryView query={tokens} what="Tokens">
        {(list) =>
          list.length === 0 ? (
            <Empty>No tokens.</Empty>
          ) : (
            <TokenTable
              tokens={list}
              showOwner={admin && all}
              onRevoke={(id) => revoke.mutate(id)}
            />
          )
        }
      </QueryView>
    </div>
  );
}

function TokenTable({
  tokens,
  showOwner,
  onRevoke,
}: {
  tokens: ApiToken[];
  showOwner: boolean;
  onRevoke: (id: ApiToken['id']) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th>Name</th>
            {showOwner && <th>Owner</th>}
            <th>Issued</th>
            <th>Last used</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-token={t.name} className={t.revoked_at ? 'row-dim' : undefined}>
              <td>{t.name}</td>
              {showOwner && (
                <td>
                  <Owner id={t.user_id} />
                </td>
              )}
              <td>
                <When at={t.created_at} />
              </td>
              <td>{t.last_used_at ? <Ago at={t.last_used_at} /> : 'never'}</td>
              <td>
                {t.revoked_at ? (
                  <span className="badge badge-muted" title="revoked">
                    revoked
                  </span>
                ) : (
                  <span className="badge badge-good">active</span>
                )}
              </td>
              <td className="row-actions">
                {!t.revoked_at && (
                  <button type="button" className="danger" onClick={() => onRevoke(t.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Owner({ id }: { id: ApiToken['user_id'] }) {
  const users = useUsers();
  const user = users.data?.find((u) => String(u.id) === String(id));
  return <>{user ? user.name : `user ${id}`}</>;
}
