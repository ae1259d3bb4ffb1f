import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vitest/config';

// Development only: `npm run dev` proxies the API to a running server. Point UNIDESK_API at a
// gateway's public listener (sign in as in production), or at a kernel's internal listener
// together with an API token (UNIDESK_TOKEN, or UNIDESK_TOKEN_FILE naming a file with a
// `token=` line such as .unidesk/initial-credentials), which the proxy adds to every request.
const api = process.env.UNIDESK_API ?? 'http://127.0.0.1:7700';

function devToken(): string | undefined {
  if (process.env.UNIDESK_TOKEN) {
    return process.env.UNIDESK_TOKEN;
  }
  const file = process.env.UNIDESK_TOKEN_FILE;
  if (!file) {
    return undefined;
  }
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('token='));
  return line?.slice('token='.length).trim();
}

// The internal listener has no sessions: with a token, the dev server answers /v1/session
// itself from the token's own /v1/whoami, so the sign-in page lets the developer through.
function tokenSession(token: string): Plugin {
  return {
    name: 'unidesk-dev-token-session',
    configureServer(server) {
      server.middlewares.use(
        '/v1/session',
        (req: IncomingMessage, res: ServerResponse, next: () => void) => {
          if (req.method === 'DELETE') {
            res.statusCode = 204;
            res.end();
            return;
          }
          if (req.method !== 'GET' && req.method !== 'POST') {
            next();
            return;
          }
          fetch(`${api}/v1/whoami`, { headers: { Authorization: `Bearer ${token}` } })
            .then(async (r) => {
              const body = (await r.json()) as { user?: { name: string; role: string } };
              res.statusCode = r.status;
              res.setHeader('Content-Type', 'application/json');
              res.end(JSON.stringify(r.ok ? { user: body.user, csrf_token: 'dev' } : body));
            })
            .catch((e: unknown) => {
              res.statusCode = 502;
              res.end(String(e));
            });
        },
      );
    },
  };
}

const token = devToken();
const proxyTarget = {
  target: api,
  changeOrigin: true,
  headers: token ? { Authorization: `Bearer ${token}` } : undefined,
};

export default defineConfig({
  plugins: [react(), ...(token ? [tokenSession(token)] : [])],
  server: {
    proxy: { '/v1': proxyTarget, '/health': proxyTarget },
  },
  build: {
    target: 'es2022',
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
