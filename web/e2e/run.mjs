// End-to-end run of the web UI against a running UniDesk (kernel with the gateway and the
// scheduler, and at least one agent), in Debian's Chromium through playwright-core, with the
// browser in New York's time zone. Each step prints `ok` or `not ok`; the last line counts them.
// Settings come from the environment; see web/README.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { taskSources } from './fixtures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

function required(name) {
  const value = env[name];
  if (!value) {
    console.error(`e2e: set ${name} (see web/README.md)`);
    process.exit(2);
  }
  return value;
}

const base = required('E2E_BASE_URL').replace(/\/$/, '');
const user = required('E2E_USER');
const password = required('E2E_PASSWORD');
const browserPath =
  env.E2E_CHROMIUM ??
  ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));
// Screenshots only when asked for: `E2E_SCREENSHOTS=../docs/images` refreshes the project's.
const shots = env.E2E_SCREENSHOTS ? resolve(env.E2E_SCREENSHOTS) : null;
const taskTimeoutMs = Number(env.E2E_TASK_TIMEOUT_S ?? 180) * 1000;
const offlineTimeoutMs = Number(env.E2E_OFFLINE_TIMEOUT_S ?? 180) * 1000;
const browserZone = 'America/New_York';
// What the first task runs: output that the log must show, from any code repository.
const helloCommand = `sh -c 'echo "hello from the e2e task"; ls /workspace; echo "done: $((6 * 7))"'`;

// Beijing wall-clock text of a UTC timestamp, worked out here on its own so that the check does
// not lean on the code it checks.
function beijing(iso) {
  const shifted = new Date(Date.parse(iso) + 8 * 3600_000).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 19)}`;
}

function newYork(iso) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: browserZone,
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(Date.parse(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.hour}:${parts.minute}:${parts.second}`;
}

const results = { passed: 0, failed: 0, skipped: 0 };
let aborted = false;

async function step(name, fn) {
  if (aborted) {
    results.skipped += 1;
    console.log(`skip - ${name} (an earlier step it needs failed)`);
    return undefined;
  }
  const started = Date.now();
  try {
    const value = await fn();
    if (value === 'skip') {
      results.skipped += 1;
      console.log(`skip - ${name}`);
      return undefined;
    }
    results.passed += 1;
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return value ?? true;
  } catch (e) {
    results.failed += 1;
    console.log(
      `not ok - ${name}\n    ${String(e?.stack ?? e)
        .split('\n')
        .slice(0, 4)
        .join('\n    ')}`,
    );
    return undefined;
  }
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

// The whole page in one picture: the window is made as tall as the page (up to a limit), so the
// sticky sidebar stays where a person sees it.
async function screenshot(page, name) {
  if (!shots) {
    return;
  }
  mkdirSync(shots, { recursive: true });
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({
    width: size.width,
    height: Math.min(Math.max(height, size.height), 2400),
  });
  await page.screenshot({ path: join(shots, `${name}.png`) });
  await page.setViewportSize(size);
}

async function inPage(page, path, init = {}) {
  return page.evaluate(
    async ({ path, init }) => {
      const r = await fetch(path, init);
      const text = await r.text();
      const parse = () => {
        try {
          return JSON.parse(text);
        } catch {
          return text;
        }
      };
      return { status: r.status, body: parse(), retryAfter: r.headers.get('Retry-After') };
    },
    { path, init },
  );
}

async function submitThroughForm(page, sources, command) {
  await page.goto(`${base}/tasks/new`);
  await page.fill('input[name=code_repo_url]', sources.codeRepo);
  await page.fill('input[name=code_commit_id]', sources.codeCommit);
  await page.fill('input[name=env_repo_url]', sources.envRepo);
  await page.fill('input[name=env_commit_id]', sources.envCommit);
  await page.fill('input[name=dockerfile_path]', sources.dockerfile);
  await page.fill('input[name=command]', command);
  await page.fill('input[name=project]', 'e2e');
  await page.fill('input[name=max_attempts]', '1');
  await page.click('button[type=submit]');
  await page.waitForURL(
    (url) => /\/tasks\/[^/]+$/.test(url.pathname) && !url.pathname.endsWith('/new'),
    {
      timeout: 15_000,
    },
  );
  const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  check(id && id !== 'new', `no task page after submitting (at ${page.url()})`);
  return id;
}

async function headState(page, state, timeout) {
  await page.waitForSelector(`.page-head [data-state="${state}"]`, { timeout });
}

async function main() {
  check(browserPath, 'no Chromium found: apt-get install chromium, or set E2E_CHROMIUM');
  const browser = await chromium.launch({
    executablePath: browserPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({
    timezoneId: browserZone,
    locale: 'en-US',
    viewport: { width: 1360, height: 880 },
  });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const sources = await taskSources();

  try {
    await run(page, context, browser, sources);
  } finally {
    sources.stop();
    await browser.close();
  }
}

async function run(page, context, browser, sources) {
  await step(`the browser's own zone is ${browserZone}`, async () => {
    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    check(zone === browserZone, `the browser runs in ${zone}`);
  });

  await step('a wrong password is refused with a clear message', async () => {
    await page.goto(base);
    await page.fill('input[name=user]', user);
    await page.fill('input[name=password]', `wrong-${Date.now()}`);
    await page.click('button[type=submit]');
    const text = await page.textContent('[data-testid=sign-in-error]');
    check(/Wrong user name or password/.test(text ?? ''), `the page said: ${text}`);
  });

  const signedIn = await step('signs in with the right password', async () => {
    await page.fill('input[name=user]', user);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('h1:has-text("Overview")');
    const who = await page.textContent('[data-testid=who]');
    check(who?.includes(user), `signed in as ${who}`);
  });
  if (!signedIn) {
    aborted = true;
  }

  await step('a state-changing request without the CSRF header is refused', async () => {
    const answer = await inPage(page, '/v1/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    check(answer.status === 403, `answered ${answer.status}`);
    check(answer.body?.error?.code === 'csrf_invalid', `code ${JSON.stringify(answer.body)}`);
  });

  await step('the live connection is up (no banner)', async () => {
    await page.waitForTimeout(4000);
    const banner = await page.$('[data-testid=banner-live]');
    check(!banner, 'the page says live updates are disconnected');
  });

  await step('a banner says so when the live connection cannot be made', async () => {
    const cut = await context.newPage();
    await cut.route('**/v1/live*', (route) => route.abort('connectionrefused'));
    await cut.goto(`${base}/nodes`);
    await cut.waitForSelector('[data-testid=banner-live]', { timeout: 15_000 });
    // The page still shows what it reads through REST.
    await cut.waitForSelector('tr[data-node]');
    await cut.close();
  });

  const node = await step('sees a node online', async () => {
    await page.goto(`${base}/nodes`);
    const wanted = env.E2E_NODE;
    const selector = wanted
      ? `tr[data-node="${wanted}"] [data-state=online]`
      : 'tr[data-node] [data-state=online]';
    const badge = await page.waitForSelector(selector, { timeout: 60_000 });
    const name = await badge.evaluate((el) => el.closest('tr')?.getAttribute('data-node'));
    await screenshot(page, 'nodes');
    return name;
  });
  if (!node) {
    aborted = true;
  }

  await step('the overview counts the node online', async () => {
    await page.goto(base);
    await page.waitForSelector(`.node-list li[data-node="${node}"] [data-state=online]`);
    const online = Number(await page.textContent('[data-testid=stat-online] .stat-value'));
    check(online >= 1, `overview shows ${online} nodes online`);
  });

  const taskId = await step('submits a task through the form', async () =>
    submitThroughForm(page, sources, helloCommand),
  );

  const succeeded = await step('the task reaches succeeded, with its log', async () => {
    check(taskId, 'no task was submitted');
    await headState(page, 'succeeded', taskTimeoutMs);
    await page.waitForFunction(
      () => {
        const box = document.querySelector('[data-testid=log-box]');
        return (
          box &&
          box.textContent.includes('hello from the e2e task') &&
          box.textContent.includes('done: 42')
        );
      },
      null,
      { timeout: 30_000 },
    );
    await page.waitForSelector('[data-testid=log-status]:has-text("complete")');
  });

  await step('times on the task page are Beijing times, not the browser zone', async () => {
    check(succeeded, 'the task did not succeed');
    const answer = await inPage(page, `/v1/tasks/${encodeURIComponent(taskId)}`);
    const created = answer.body.task.created_at;
    const shown = await page.textContent('[data-testid=task-submitted]');
    check(shown.includes(beijing(created)), `submitted at ${created} UTC, page shows "${shown}"`);
    const ny = newYork(created);
    check(!shown.includes(ny), `the page shows New York's ${ny}`);
    const firstPhase = answer.body.attempts[0].phases[0].at;
    const timeline = await page.textContent('[data-testid=timeline]');
    check(timeline.includes(beijing(firstPhase)), `timeline lacks ${beijing(firstPhase)}`);
    const body = await page.innerText('main');
    check(
      !/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(body),
      'a raw UTC timestamp is shown outside the raw view',
    );
    // "Go to" in the log reads its input as Beijing time too.
    await page.fill('input[type=datetime-local]', beijing(firstPhase).replace(' ', 'T'));
    check(!(await page.isChecked('.log-bar input[type=checkbox]')), 'the log still follows');
    await page.click('.raw-json summary');
    check(
      (await page.textContent('.raw-json pre')).includes(created),
      'the raw view lacks the UTC time',
    );
    await page.click('.raw-json summary');
    await screenshot(page, 'task-detail');
  });

  await step('cancels a running task', async () => {
    const id = await submitThroughForm(page, sources, "sh -c 'echo started; sleep 600'");
    await headState(page, 'running', taskTimeoutMs);
    await page.waitForSelector('[data-testid=log-box]:has-text("started")', { timeout: 30_000 });
    // The overview and the list while it runs, for the screenshots.
    await page.goto(base);
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[data-testid=stat-running] .stat-value')?.textContent) >= 1,
    );
    await screenshot(page, 'overview');
    await page.goto(`${base}/tasks`);
    await page.waitForSelector(`tr[data-task-id="${id}"] [data-state=running]`);
    await screenshot(page, 'tasks');
    await page.goto(`${base}/tasks/${encodeURIComponent(id)}`);
    await page.click('button:has-text("Cancel task")');
    await page.click('button:has-text("Yes, cancel it")');
    await headState(page, 'cancelled', 60_000);
  });

  await step('a failed task shows why, and a retry runs it again as attempt 2', async () => {
    await submitThroughForm(page, sources, "sh -c 'echo failing on purpose; exit 3'");
    await headState(page, 'failed', taskTimeoutMs);
    const status = await page.textContent('.facts');
    check(/exit 3/.test(status), `the status does not show the exit code: ${status}`);
    await page.click('button:has-text("Retry")');
    await page.waitForSelector('.attempt[data-attempt="2"]', { timeout: taskTimeoutMs });
    await headState(page, 'failed', taskTimeoutMs);
    await page.waitForSelector('.attempt[data-attempt="2"] [data-state=failed]');
  });

  await step('the task list shows both tasks with their states', async () => {
    await page.goto(`${base}/tasks?project=e2e`);
    await page.waitForSelector(`tr[data-task-id="${taskId}"] [data-state=succeeded]`);
    await page.waitForSelector('tr[data-task-id] [data-state=cancelled]');
  });

  await step('the submit form', async () => {
    await page.goto(`${base}/tasks/new?from=${encodeURIComponent(taskId)}`);
    await page.waitForSelector('input[name=code_repo_url]');
    await screenshot(page, 'submit');
  });

  await step('storage is listed, or shown unavailable with the server reason', async () => {
    await page.goto(`${base}/storage`);
    const panel = await page.waitForSelector(
      '.state-unavailable, .state-error, .state-empty, table',
    );
    check(!(await panel.evaluate((el) => el.matches('.state-error'))), await panel.textContent());
    if (!(await panel.evaluate((el) => el.matches('.state-unavailable')))) {
      return undefined;
    }
    const text = await panel.textContent();
    check((await panel.getAttribute('data-code')) === 'plugin_unavailable', `shows ${text}`);
    check(/storage/i.test(text), `the reason does not name storage: ${text}`);
    return undefined;
  });

  await step('issues an API token, shown once, and revokes it', async () => {
    const name = `e2e-${Date.now().toString(36)}`;
    await page.goto(`${base}/admin/tokens`);
    await page.fill('input[name=name]', name);
    await page.click('button:has-text("Issue")');
    const secret = (await page.textContent('[data-testid=secret]')).trim();
    check(secret.startsWith('udk_'), `the secret shown is ${secret}`);
    await page.click('button:has-text("Done")');
    check(!(await page.$('[data-testid=secret]')), 'the secret is still shown');
    await page.click(`tr[data-token="${name}"] button:has-text("Revoke")`);
    await page.waitForSelector(`tr[data-token="${name}"] .badge:has-text("revoked")`);
  });

  await step(
    'an administrator adds a member, who signs in, sees no admin pages, signs out',
    async () => {
      const name = `e2e-${Date.now().toString(36)}`;
      const secret = `e2e-password-${Date.now()}`;
      await page.goto(`${base}/admin/users`);
      await page.fill('input[name=name]', name);
      await page.fill('input[name=password]', secret);
      await page.selectOption('select[name=role]', 'member');
      await page.click('button:has-text("Add")');
      await page.waitForSelector(`tr[data-user="${name}"]`);

      const other = await browser.newContext({ timezoneId: browserZone, locale: 'en-US' });
      const member = await other.newPage();
      await member.goto(base);
      await member.fill('input[name=user]', name);
      await member.fill('input[name=password]', secret);
      await member.click('button[type=submit]');
      await member.waitForSelector('h1:has-text("Overview")');
      check(await member.$('nav >> text=Submit a task'), 'a member cannot find the submit form');
      check(!(await member.$('nav >> text=Users')), 'a member sees the users page');
      check(!(await member.$('nav >> text=Node tokens')), 'a member sees the node tokens page');
      await member.click('button:has-text("Sign out")');
      await member.waitForSelector('h1:has-text("Sign in")');
      const after = await inPage(member, '/v1/nodes');
      check(after.status === 401, `after signing out /v1/nodes answers ${after.status}`);
      await other.close();

      // Leave the account disabled.
      await page.click(`tr[data-user="${name}"] button:has-text("Disable")`);
      await page.waitForSelector(`tr[data-user="${name}"] .badge:has-text("disabled")`);
    },
  );

  await step('a node that goes away is shown offline', async () => nodeGoesOffline(page));

  await step('too many failed sign-ins are refused for a while', async () => {
    const fresh = await browser.newContext({ timezoneId: browserZone, locale: 'en-US' });
    const other = await fresh.newPage();
    await other.goto(base);
    const bogus = `e2e-nobody-${Date.now()}`;
    let last = null;
    for (let i = 0; i < Number(env.E2E_SIGN_IN_TRIES ?? 30); i++) {
      last = await inPage(other, '/v1/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: bogus, password: 'not-the-password' }),
      });
      if (last.status === 429) {
        break;
      }
    }
    check(last.status === 429, `still ${last.status} after many failures`);
    check(last.body?.error?.code === 'too_many_attempts', `code ${JSON.stringify(last.body)}`);
    await other.fill('input[name=user]', bogus);
    await other.fill('input[name=password]', 'not-the-password');
    await other.click('button[type=submit]');
    const text = await other.textContent('[data-testid=sign-in-error]');
    check(/Too many failed sign-ins/.test(text ?? ''), `the page said: ${text}`);
    await fresh.close();
  });
}

// Joins a node of its own (a node token issued through the admin page, then unidesk-agent),
// sees it online, stops it, and sees it offline. Or, given a command, stops a named node.
async function nodeGoesOffline(page) {
  if (env.E2E_PROVIDER_URL) {
    const name = `e2e-${Date.now().toString(36)}`;
    await page.goto(`${base}/admin/node-tokens`);
    await page.fill('input[placeholder=gpu-07]', name);
    await page.click('button:has-text("Issue token")');
    const secret = (await page.textContent('[data-testid=secret]')).trim();
    const agentPath = env.E2E_AGENT ?? join(here, '../../build/bin/unidesk-agent');
    const agent = spawn(
      agentPath,
      [
        '--server',
        env.E2E_PROVIDER_URL,
        '--name',
        name,
        '--work-dir',
        mkdtempSync(join(tmpdir(), 'unidesk-e2e-agent-')),
      ],
      { env: { ...process.env, UNIDESK_NODE_TOKEN: secret }, stdio: 'ignore' },
    );
    try {
      await page.goto(`${base}/nodes`);
      await page.waitForSelector(`tr[data-node="${name}"] [data-state=online]`, {
        timeout: 60_000,
      });
    } finally {
      agent.kill('SIGTERM');
    }
    await page.waitForSelector(`tr[data-node="${name}"] [data-state=offline]`, {
      timeout: offlineTimeoutMs,
    });
    // Leave nothing behind that could admit a node: revoke its token through the page.
    await page.goto(`${base}/admin/node-tokens`);
    await page.click(`tr[data-node="${name}"] button:has-text("Revoke")`);
    await page.waitForSelector(`tr[data-node="${name}"] .badge:has-text("revoked")`);
    return undefined;
  }
  if (env.E2E_STOP_AGENT && env.E2E_NODE) {
    await new Promise((ok, fail) => {
      const child = spawn('sh', ['-c', env.E2E_STOP_AGENT], { stdio: 'inherit' });
      child.on('exit', (code) =>
        code === 0 ? ok() : fail(new Error(`stop command exited ${code}`)),
      );
    });
    await page.goto(`${base}/nodes`);
    await page.waitForSelector(`tr[data-node="${env.E2E_NODE}"] [data-state=offline]`, {
      timeout: offlineTimeoutMs,
    });
    return undefined;
  }
  console.log('    (set E2E_PROVIDER_URL, or E2E_STOP_AGENT and E2E_NODE)');
  return 'skip';
}

main()
  .catch((e) => {
    results.failed += 1;
    console.log(`not ok - the run itself\n    ${e?.stack ?? e}`);
  })
  .finally(() => {
    console.log(`${results.passed} passed, ${results.failed} failed, ${results.skipped} skipped`);
    process.exitCode = results.failed > 0 ? 1 : 0;
  });
