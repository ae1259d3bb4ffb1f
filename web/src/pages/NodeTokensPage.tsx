import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api/client';
import { keys, useNodeTokens } from '../api/queries';
import type { NodeToken } from '../api/types';
import { SecretOnce } from '../components/SecretOnce';
import { Empty, ErrorPanel, QueryView } from '../components/Status';
import { Ago, When } from '../components/Time';
import { hasRole, useUser } from '../session';
import { useTitle } from '../title';
import { FailedAction } from '../components/FailedAction';

export function NodeTokensPage() {
  useTitle('Node tokens');
  const me = useUser();
  const tokens = useNodeTokens();
  const queryClient = useQueryClient();
  const [nodeName, setNodeName] = useState('');
  const [issued, setIssued] = useState<{ node: string; secret: string } | null>(null);

  const create = useMutation({
    mutationFn: () =>
      api<{ token: NodeToken; secret: string }>('/v1/node-tokens', {
        method: 'POST',
        body: { node_name: nodeName },
      }),
    onSuccess: (answer) => {
      setIssued({ node: answer.token.node_name, secret: answer.secret });
      setNodeName('');
      void queryClient.invalidateQueries({ queryKey: keys.nodeTokens });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: NodeToken['id']) =>
      api(`/v1/node-tokens/${encodeURIComponent(String(id))}`, { method: 'DELETE' }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.nodeTokens }),
  });

  if (!hasRole(me, 'admin')) {
    return (
      <ErrorPanel error={new Error('Only administrators manage node tokens.')} what="Node tokens" />
    );
  }

  function onCreate(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  return (
    <div className="page">
      <header className="page-head">
        <h1>Node tokens</h1>
      </header>
      <p className="muted">
        A node token admits one compute node by name. Revoking it disconnects that node.
      </p>
      {issued && (
        <SecretOnce
          title={`Token for node ${issued.node}: start its agent with UNIDESK_NODE_TOKEN set to`}
          secret={issued.secret}
          onDone={() => setIssued(null)}
        />
      )}
      <form className="card inline-form" onSubmit={onCreate}>
        <h2>Admit a node</h2>
        <label>
          Node name
          <input
            value={nodeName}
            onChange={(e) => setNodeName(e.target.value)}
            placeholder="gpu-07"
            required
          />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          Issue token
        </button>
        <FailedAction action={create} />
      </form>
      <FailedAction action={revoke} />
      <QueryView query={tokens} what="Node tokens">
        {(list) =>
          list.length === 0 ? (
            <Empty>No node token has been issued.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>Issued</th>
                    <th>Last used</th>
                    <th>State</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.map((t) => (
                    <tr
                      key={t.id}
                      data-node={t.node_name}
                      className={t.revoked_at ? 'row-dim' : undefined}
                    >
                      <td>{t.node_name}</td>
                      <td>
                        <When at={t.created_at} />
                      </td>
                      <td>{t.last_used_at ? <Ago at={t.last_used_at} /> : 'never'}</td>
                      <td>
                        {t.revoked_at ? (
                          <span className="badge badge-muted">revoked</span>
                        ) : (
                          <span className="badge badge-good">active</span>
                        )}
                      </td>
                      <td className="row-actions">
                        {!t.revoked_at && (
                          <button
                            type="button"
                            className="danger"
                            onClick={() => revoke.mutate(t.id)}
                          >
                            Revoke
                          </button>
                        )}
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
