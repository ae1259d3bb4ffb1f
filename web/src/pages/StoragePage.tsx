import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { api } from '../api/client';
import { keys } from '../api/queries';
import { Empty, QueryView } from '../components/Status';
import { When } from '../components/Time';
import { formatBytes } from '../format';
import { useTitle } from '../title';

// The storage browser reads GET /v1/storage/objects?prefix=P&after=K (a page of objects in key
// order and the `next` key). It is there only while a storage plugin answers; otherwise the
// server's answer (503 naming the plugin, or 404 for a server without the route) is shown.
// TODO: it only lists; downloads, uploads and deletes go through the CLI for now
// (docs/limitations.md).

interface StorageObject {
  key: string;
  size: number;
  sha256?: string;
  etag?: string;
  modified_at?: string;
}

interface ObjectPage {
  objects: StorageObject[];
  next: string | null; // "" on the last page
}

function useObjects(prefix: string, after: string) {
  return useQuery({
    queryKey: [...keys.storage(prefix), after],
    queryFn: ({ signal }) => {
      const params = new URLSearchParams({ prefix, limit: '200' });
      if (after) {
        params.set('after', after);
      }
      return api<ObjectPage>(`/v1/storage/objects?${params.toString()}`, { signal });
    },
  });
}

/** The folders directly under `prefix` and the objects right in it. */
function split(prefix: string, objects: StorageObject[]) {
  const folders = new Set<string>();
  const files: StorageObject[] = [];
  for (const o of objects) {
    const rest = o.key.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash >= 0) {
      folders.add(prefix + rest.slice(0, slash + 1));
    } else {
      files.push(o);
    }
  }
  return { folders: [...folders].sort(), files };
}

export function StoragePage() {
  useTitle('Storage');
  const [params, setParams] = useSearchParams();
  const prefix = params.get('prefix') ?? '';
  const [after, setAfter] = useState<string[]>([]);
  const objects = useObjects(prefix, after[after.length - 1] ?? '');

  function open(p: string) {
    setAfter([]);
    setParams(p ? { prefix: p } : {});
  }

  const crumbs = prefix.split('/').filter(Boolean);

  return (
    <div className="page">
      <header className="page-head">
        <h1>Storage</h1>
      </header>
      <nav className="crumbs" aria-label="Folder">
        <button type="button" className="link-button" onClick={() => open('')}>
          (root)
        </button>
        {crumbs.map((c, i) => (
          <span key={i}>
            {' / '}
            <button
              type="button"
              className="link-button"
              onClick={() => open(`${crumbs.slice(0, i + 1).join('/')}/`)}
            >
              {c}
            </button>
          </span>
        ))}
      </nav>
      <QueryView query={objects} what="Storage">
        {(page) => {
          const { folders, files } = split(prefix, page.objects);
          if (folders.length === 0 && files.length === 0) {
            return <Empty>No object here.</Empty>;
          }
          return (
            <>
              <div className="table-wrap">
                <table className="table">
                  <thead>
                    <tr>
                      <th>Name</th>
                      <th>Size</th>
                      <th>Modified</th>
                      <th>SHA-256</th>
                    </tr>
                  </thead>
                  <tbody>
                    {folders.map((f) => (
                      <tr key={f}>
                        <td colSpan={4}>
                          <button type="button" className="link-button" onClick={() => open(f)}>
                            📁 {f.slice(prefix.length)}
                          </button>
                        </td>
                      </tr>
                    ))}
                    {files.map((o) => (
                      <tr key={o.key}>
                        <td className="mono">{o.key.slice(prefix.length)}</td>
                        <td>{formatBytes(o.size)}</td>
                        <td>
                          <When at={o.modified_at} />
                        </td>
                        <td className="mono muted" title={o.sha256}>
                          {o.sha256 ? o.sha256.slice(0, 16) : '—'}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div className="pager">
                <button
                  type="button"
                  disabled={after.length === 0}
                  onClick={() => setAfter((a) => a.slice(0, -1))}
                >
                  ← Previous
                </button>
                <button
                  type="button"
                  disabled={!page.next}
                  onClick={() => page.next && setAfter((a) => [...a, page.next as string])}
                >
                  Next →
                </button>
              </div>
            </>
          );
        }}
      </QueryView>
    </div>
  );
}
