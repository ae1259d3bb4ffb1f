// What the end-to-end run submits: a code repository and an environment repository at exact
// commits, served by `git daemon` on a free loopback port (so an agent on this machine can
// fetch them), and a tiny base image made from busybox-static for the environment's
// Dockerfile. An integrator whose agent runs elsewhere names reachable repositories instead
// (see README).
import { execFileSync, spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const baseImage = 'unidesk-e2e-base:1';

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...options,
  }).trim();
}

function ensureBaseImage() {
  try {
    run('docker', ['image', 'inspect', baseImage]);
    return;
  } catch {
    // Not there yet: make it.
  }
  if (!existsSync('/bin/busybox')) {
    throw new Error(
      'busybox-static is needed to make the e2e base image (apt-get install busybox-static)',
    );
  }
  const root = mkdtempSync(join(tmpdir(), 'unidesk-e2e-root-'));
  run('sh', [
    '-c',
    `mkdir -p ${root}/bin ${root}/tmp && cp /bin/busybox ${root}/bin/ && ` +
      `for a in $(/bin/busybox --list); do [ -e ${root}/bin/$a ] || ln -s busybox ${root}/bin/$a; done && ` +
      `tar -C ${root} -c . | docker import -c 'ENV PATH=/bin' - ${baseImage}`,
  ]);
}

function commitRepo(dir, files) {
  const work = join(dir, 'work');
  const bare = join(dir, 'bare.git');
  mkdirSync(work, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(work, name), content);
  }
  const git = (...args) =>
    run('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', ...args], { cwd: work });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'e2e fixture');
  const commit = git('rev-parse', 'HEAD');
  run('git', ['clone', '-q', '--bare', work, bare]);
  // Servers send a commit no branch names only when told to; hosting services do.
  run('git', ['config', 'uploadpack.allowReachableSHA1InWant', 'true'], { cwd: bare });
  return { path: bare, commit };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function serveRepos(dir) {
  const port = await freePort();
  const daemon = spawn(
    `${run('git', ['--exec-path'])}/git-daemon`,
    [
      '--reuseaddr',
      `--base-path=${dir}`,
      '--export-all',
      `--port=${port}`,
      '--listen=127.0.0.1',
      dir,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (Date.now() > deadline || daemon.exitCode !== null) {
      daemon.kill();
      throw new Error('git daemon did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // However this process ends, the daemon ends with it.
  const stop = () => daemon.kill();
  process.on('exit', stop);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => process.exit(130));
  }
  return { url: (path) => `git://127.0.0.1:${port}/${path}`, stop };
}

/**
 * Repositories and commits for the tasks the run submits, from the environment or made here;
 * `stop()` ends what was started for them.
 */
export async function taskSources(env = process.env) {
  if (env.E2E_CODE_REPO) {
    return {
      codeRepo: env.E2E_CODE_REPO,
      codeCommit: env.E2E_CODE_COMMIT,
      envRepo: env.E2E_ENV_REPO,
      envCommit: env.E2E_ENV_COMMIT,
      dockerfile: env.E2E_DOCKERFILE ?? 'Dockerfile',
      stop: () => {},
    };
  }
  ensureBaseImage();
  const dir = mkdtempSync(join(tmpdir(), 'unidesk-e2e-repos-'));
  const code = commitRepo(join(dir, 'code'), {
    README: 'the code of the web UI end-to-end run\n',
  });
  const envRepo = commitRepo(join(dir, 'env'), { Dockerfile: `FROM ${baseImage}\n` });
  const daemon = await serveRepos(dir);
  return {
    codeRepo: daemon.url('code/bare.git'),
    codeCommit: code.commit,
    envRepo: daemon.url('env/bare.git'),
    envCommit: envRepo.commit,
    dockerfile: 'Dockerfile',
    stop: daemon.stop,
  };
}

// `node e2e/fixtures.mjs` serves the repositories until stopped, for trying the UI by hand.
if (import.meta.url === `file://${process.argv[1]}`) {
  const sources = await taskSources();
  console.log(JSON.stringify({ ...sources, stop: undefined }, null, 2));
}
