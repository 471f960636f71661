/**
 * The console in a real browser: Debian's Chromium, headless, driven by playwright-core, against the whole stack on
 * free ports with the gateway in SAFELIST mode (PERSISTED_FIRST_PARTY=safelist): every request the console makes
 * must name a `web` trusted document. Screenshots go to .data/e2e-artifacts/console/ (gitignored).
 *
 * Fixtures the console has no screen for (sign-ups, a customer) are made straight on the subgraphs with a signed
 * principal, as tenant-isolation.e2e.ts does; everything else goes through the gateway by persisted id.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopesForRole, signPrincipal, type Principal } from '@cos/auth';
import { WORKER_TOOL_SCOPES } from '../scripts/lib/agent-worker';
import { eventually } from '../scripts/lib/graphql-client';
import { repoRoot } from '../scripts/lib/paths';
import { buildConsole, consoleProcess } from '../scripts/lib/console';
import { freePort, startTestStack, type TestStack } from './support/test-stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, '.data/e2e-artifacts/console');
const PASSWORD = 'console-pass-42';
const internalSecret = randomBytes(32).toString('hex');
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'schema/persisted/web.json'), 'utf8')) as {
  operations: { id: string; name: string }[];
};
const idOf = (name: string) => manifest.operations.find((o) => o.name === name)!.id;

let t: TestStack;
/** The console as `pnpm start` serves it: its own static server process. */
let consoleUrl: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** What the pages received over WebSockets and logged (printed when a step fails). */
const received: string[] = [];
/** Every GraphQL request body and WebSocket subscribe payload the browser sent. */
const sent: { kind: 'http' | 'ws'; body: Record<string, any> }[] = [];

interface Person {
  email: string;
  name: string;
  userId: string;
  orgId: string;
  token: string;
}
let owner: Person;
let viewer: Person;
let customerId: string;
const customerName = `Initech ${randomBytes(2).toString('hex')}`;

/** A subgraph call with a signed principal (fixtures only). */
async function direct(service: 'identity' | 'customers', principal: Principal, query: string, variables: Record<string, unknown>) {
  const res = await fetch(t.stack.serviceUrl(service), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signPrincipal(principal, internalSecret) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors?.length || !body.data) throw new Error(`${service}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** A persisted `web` operation through the gateway, by id only (what safelist mode allows). */
async function persisted(name: string, variables: Record<string, unknown>, token?: string) {
  const res = await fetch(t.gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: idOf(name) } } }),
    signal: AbortSignal.timeout(15_000),
  });
  return (await res.json()) as { data?: Record<string, any> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function signUp(tag: string): Promise<Person> {
  const marker = `${tag}${randomBytes(3).toString('hex')}`;
  const email = `${marker}@console.test`;
  const name = `${tag === 'owner' ? 'Olivia' : 'Victor'} ${marker}`;
  const d = await direct('identity', { kind: 'anonymous' }, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`, {
    i: { email, password: PASSWORD, name, organizationName: `Org ${marker}` },
  });
  return { email, name, userId: d.signUp.user.id, orgId: d.signUp.organization.id, token: d.signUp.accessToken };
}

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('request', (req) => {
    if (req.url().startsWith(t.gatewayUrl) && req.method() === 'POST') sent.push({ kind: 'http', body: JSON.parse(req.postData() ?? '{}') });
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      const msg = JSON.parse(String(f.payload)) as { type: string; payload?: Record<string, any> };
      if (msg.type === 'subscribe') sent.push({ kind: 'ws', body: msg.payload! });
      if (msg.type === 'connection_init') received.push(`init ${String(msg.payload?.authorization).slice(0, 20)}`);
    });
    ws.on('framereceived', (f) => void received.push(String(f.payload).slice(0, 500)));
    ws.on('close', () => void received.push('ws closed'));
  });
  page.on('console', (m) => void received.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => void received.push(`pageerror: ${e.message}`));
  return page;
}

async function signIn(page: Page, who: Person) {
  await page.goto(consoleUrl);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run bash infra/local/ensure-chromium.sh`);
  buildConsole();
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestStack({ internalSecret, extraEnv: { PERSISTED_FIRST_PARTY: 'safelist' } });
  try {
    const port = await freePort();
    await t.stack.startProcess(consoleProcess({ port, gatewayUrl: t.gatewayUrl }));
    consoleUrl = `http://127.0.0.1:${port}/`;
    [owner, viewer] = await Promise.all([signUp('owner'), signUp('viewer')]);
    const invited = await persisted('InviteMember', { email: viewer.email, name: viewer.name, role: 'VIEWER' }, owner.token);
    expect(invited.errors, JSON.stringify(invited.errors)).toBeUndefined();
    const ownerPrincipal: Principal = { kind: 'user', userId: owner.userId, orgId: owner.orgId, role: 'OWNER', scopes: scopesForRole('OWNER') };
    customerId = (
      await direct('customers', ownerPrincipal, `mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }`, {
        i: { name: customerName, domain: 'initech.example', plan: 'growth', contacts: [{ name: 'Peter Gibbons', email: 'peter@initech.example' }] },
      })
    ).createCustomer.id;
    // A health history of four points: usage, then a failed payment and an angry NPS drive it down.
    for (const input of [
      { kind: 'PRODUCT_USAGE', value: 0.9 },
      { kind: 'NPS', value: 9 },
      { kind: 'PAYMENT_FAILED', value: 120 },
      { kind: 'NPS', value: 1 },
    ]) {
      const r = await persisted('RecordSignal', { customerId, input }, owner.token);
      expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    }
    // The seven specialists are created by a reaction to OrganizationCreated.
    await eventually(async () => ((await persisted('AgentsOverview', {}, owner.token)).data?.agents?.length ?? 0) >= 7, 30_000);
    // The specialists work in an external worker; its service account is made the way the console's admin page does.
    const account = await persisted('CreateServiceAccount', { name: 'agent-worker', scopes: WORKER_TOOL_SCOPES }, owner.token);
    expect(account.errors, JSON.stringify(account.errors)).toBeUndefined();
    await t.startWorker({ adminToken: owner.token, apiKey: account.data!.createServiceAccount.secret });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Playwright gives every launch a fresh temporary profile (its own --user-data-dir). Without the
      // background-networking flags Chromium floods the closed network with refused connections.
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 30_000,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${t.logs()}`, { cause: err });
  }
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close().catch(() => {});
  await t?.stop();
});

describe('the console in Chromium (gateway in safelist mode)', () => {
  let a: Page;
  let b: Page;
  const title = `Browser task ${randomBytes(3).toString('hex')}`;

  it('signs in and shows the board, connected live', async () => {
    a = await newPage();
    await signIn(a, owner);
    await expect.poll(() => a.getByTestId('role').textContent(), { timeout: 15_000 }).toBe('OWNER');
    await a.getByTestId('live-state').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
    await shot(a, '01-board');
  }, 60_000);

  it('an expired access token is refreshed by the client (the refresh token rotates) without the user noticing', async () => {
    const before = await a.evaluate(() => JSON.parse(localStorage.getItem('cos.console.session')!) as { refreshToken: string; accessToken: string });
    // As if 15 minutes had passed: the stored access token is expired (and no longer valid at all).
    await a.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('cos.console.session')!) as Record<string, string>;
      localStorage.setItem('cos.console.session', JSON.stringify({ ...s, accessToken: 'expired', expiresAt: new Date(Date.now() - 1_000).toISOString() }));
    });
    await a.reload();
    await expect.poll(() => a.getByTestId('role').textContent(), { timeout: 15_000 }).toBe('OWNER');
    await a.getByTestId('live-state').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${received.slice(-20).join('\n')}\n${JSON.stringify(sent.filter((x) => x.kind === 'ws').slice(-6))}`);
    });
    const after = await a.evaluate(() => JSON.parse(localStorage.getItem('cos.console.session')!) as { refreshToken: string; accessToken: string });
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.accessToken).not.toBe('expired');
  }, 60_000);

  it('a task created in one browser arrives on another browser’s board by subscription', async () => {
    b = await newPage();
    await signIn(b, owner);
    await b.getByTestId('live-state').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
    await a.getByLabel('New task title').fill(title);
    await a.getByLabel('Priority').selectOption('HIGH');
    await a.getByRole('button', { name: 'Create task' }).click();
    // B never refetches: the card can only come from the taskChanged feed.
    await b.getByTestId('column-TODO').getByText(title).waitFor({ timeout: 15_000 });
    await shot(b, '02-second-browser-live');
    await a.getByTestId('column-TODO').getByText(title).waitFor({ timeout: 15_000 }).catch(async (err: Error) => {
      await shot(a, '02b-first-browser');
      throw new Error(`${err.message}\n${received.filter((r) => !r.includes('taskChanged')).slice(-20).join('\n')}`);
    });
  }, 60_000);

  it('a stale edit shows the CONFLICT with the newer version, and retrying applies it', async () => {
    await a.getByTestId('column-TODO').getByText(title).click();
    await a.getByTestId('task-panel').waitFor();
    await expect.poll(() => a.getByTestId('task-version').textContent()).toBe('1');
    // Meanwhile, B moves the task on (version 2).
    await b.getByTestId('column-TODO').getByText(title).click();
    await b.getByLabel('Status').selectOption('IN_PROGRESS');
    await b.getByTestId('column-IN_PROGRESS').getByText(title).waitFor({ timeout: 15_000 });
    // A still edits version 1.
    await a.getByLabel('Description', { exact: true }).fill('Edited in browser A');
    await a.getByRole('button', { name: 'Save' }).click();
    const conflict = a.getByTestId('conflict');
    await conflict.waitFor({ timeout: 10_000 });
    expect(await conflict.textContent()).toContain('it is now version 2');
    // The newer version is shown: B's status change.
    await expect.poll(() => conflict.textContent(), { timeout: 10_000 }).toContain('IN_PROGRESS');
    await expect.poll(() => a.getByTestId('task-version').textContent()).toBe('2');
    await shot(a, '03-conflict');
    await conflict.getByRole('button', { name: /Apply my changes to version 2/ }).click();
    await conflict.waitFor({ state: 'detached', timeout: 10_000 });
    await a.getByRole('button', { name: 'Close' }).click();
    const stored = await persisted('BoardTasks', { filter: { search: title }, first: 5 }, owner.token);
    expect(stored.data!.tasks.edges[0].node).toMatchObject({ title, description: 'Edited in browser A', status: 'IN_PROGRESS', version: 3 });
  }, 60_000);

  it('a task assigned to the SUPPORT agent asks for approval; approving it from the inbox resumes the run', async () => {
    const replyTitle = `Reply to ticket ${randomBytes(3).toString('hex')}`;
    await a.getByLabel('New task title').fill(replyTitle);
    const support = (await a.getByLabel('Assign to').locator('option').allTextContents()).find((o) => o.includes('(SUPPORT)'))!;
    await a.getByLabel('Assign to').selectOption({ label: support });
    await a.getByRole('button', { name: 'Create task' }).click();
    await a.getByRole('link', { name: 'Approvals' }).click();
    // The agents service runs the SUPPORT specialist, which asks before sending its reply.
    await eventually(async () => {
      const r = await persisted('PendingApprovals', {}, owner.token);
      return r.data?.pendingApprovals.some((p: { task: { title: string } }) => p.task.title === replyTitle);
    }, 45_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${t.logs(15)}`);
    });
    const card = a.getByTestId('approval').filter({ hasText: replyTitle });
    await card.waitFor({ timeout: 15_000 }).catch(async (err: Error) => {
      await shot(a, '04-approval-missing');
      throw new Error(`${err.message}\n${received.slice(-30).join('\n')}`);
    });
    expect(await card.textContent()).toContain('support.sendReply');
    await shot(a, '04-approval-inbox');
    await card.getByLabel('Reason').fill('Looks right');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.waitFor({ state: 'detached', timeout: 15_000 });
    const task = await eventually(async () => {
      const r = await persisted('BoardTasks', { filter: { search: replyTitle }, first: 1 }, owner.token);
      const node = r.data?.tasks.edges[0]?.node;
      if (!node) return null;
      const detail = await persisted('TaskDetail', { id: node.id }, owner.token);
      return detail.data?.task;
    }, 15_000);
    expect(task.approvals).toEqual([expect.objectContaining({ action: 'support.sendReply', status: 'APPROVED', reason: 'Looks right' })]);
    // The approval resumed the run from its checkpoint and it finished.
    await eventually(async () => {
      const r = await persisted('AgentsOverview', {}, owner.token);
      const runs = r.data?.agents.flatMap((ag: { runs: { status: string; task: { id: string } }[] }) => ag.runs) ?? [];
      return runs.some((run: { status: string; task: { id: string } }) => run.task.id === task.id && run.status === 'SUCCEEDED');
    }, 30_000);
    await a.getByRole('link', { name: 'Agents' }).click();
    await a.getByTestId('agent-run').filter({ hasText: replyTitle }).filter({ hasText: 'SUCCEEDED' }).waitFor({ timeout: 15_000 });
    await shot(a, '04b-agent-timeline');
  }, 90_000);

  it('a customer page shows the health history as a chart', async () => {
    await a.getByRole('link', { name: 'Customers' }).click();
    await a.getByRole('link', { name: customerName }).click();
    const chart = a.getByTestId('health-chart');
    await chart.waitFor();
    await expect.poll(() => chart.getByTestId('health-point').count()).toBe(4);
    expect(await a.getByTestId('health-grade').textContent()).toMatch(/^[A-F] · \d+$/);
    await a.getByText('Peter Gibbons').waitFor();
    await shot(a, '05-customer-chart');
  }, 60_000);

  it('search finds the task and the customer, highlighted', async () => {
    await a.getByLabel('Search').fill('Initech');
    await a.getByLabel('Search').press('Enter');
    const hit = a.getByTestId('search-hit').filter({ has: a.getByRole('link', { name: customerName, exact: true }) });
    await hit.waitFor({ timeout: 10_000 });
    expect(await hit.locator('mark').first().textContent()).toBe('Initech');
    await shot(a, '06-search');
  }, 30_000);

  it('a VIEWER sees no write controls, and a write forced from the page is refused', async () => {
    const v = await newPage();
    await signIn(v, viewer);
    // The viewer's oldest membership is their own organization: switch to the owner's, where they are VIEWER.
    await v.getByLabel('Organization').selectOption(owner.orgId);
    await v.getByLabel('Email').fill(viewer.email);
    await v.getByLabel('Password').fill(PASSWORD);
    await v.getByRole('button', { name: 'Switch' }).click();
    await expect.poll(() => v.getByTestId('role').textContent(), { timeout: 15_000 }).toBe('VIEWER');
    await v.getByTestId('column-IN_PROGRESS').getByText(title).waitFor({ timeout: 15_000 });
    expect(await v.getByRole('button', { name: 'Create task' }).count()).toBe(0);
    await v.getByTestId('column-IN_PROGRESS').getByText(title).click();
    await v.getByTestId('task-panel').waitFor();
    for (const control of ['Save', 'Comment']) expect(await v.getByRole('button', { name: control }).count()).toBe(0);
    expect(await v.getByLabel('Status').count()).toBe(0);
    await v.getByRole('link', { name: 'Approvals' }).click();
    await v.getByRole('heading', { name: 'Approvals' }).waitFor();
    expect(await v.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await v.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await shot(v, '07-viewer');
    // The controls are absent, and the gateway refuses the write anyway: the viewer's own token, from the page.
    const forced = await v.evaluate(
      async ({ url, id }) => {
        const s = JSON.parse(localStorage.getItem('cos.console.session')!) as { accessToken: string };
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${s.accessToken}` },
          body: JSON.stringify({ variables: { input: { title: 'forced by a viewer' } }, extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
        });
        return (await res.json()) as { data: unknown; errors?: { extensions?: { code?: string } }[] };
      },
      { url: t.gatewayUrl, id: idOf('CreateTask') },
    );
    expect(forced.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const found = await persisted('BoardTasks', { filter: { search: 'forced viewer' }, first: 5 }, owner.token);
    expect(found.data!.tasks.totalCount).toBe(0);
  }, 90_000);

  it('admin: an API key’s secret is shown once, and the key is listed without it', async () => {
    await a.getByRole('link', { name: 'Admin' }).click();
    await a.getByLabel('Key name').fill('browser-partner');
    await a.getByRole('button', { name: 'Create', exact: true }).click();
    const secret = a.getByTestId('secret');
    await secret.waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      await shot(a, '08-admin-failed');
      throw err;
    });
    const value = await secret.locator('code').textContent();
    expect(value).toMatch(/^cos_/);
    await shot(a, '08-admin-secret-once');
    await secret.getByRole('button', { name: 'I have copied it' }).click();
    await a.getByRole('cell', { name: 'browser-partner', exact: true }).waitFor({ timeout: 10_000 });
    expect(await a.content()).not.toContain(value!);
  }, 30_000);

  it('safelist mode: the console sent only trusted-document ids, and a raw query from the page is refused', async () => {
    expect(sent.filter((s) => s.kind === 'http').length).toBeGreaterThan(10);
    expect(sent.filter((s) => s.kind === 'ws').length).toBeGreaterThan(0);
    for (const s of sent) {
      expect(s.body.query ?? '', JSON.stringify(s.body)).toBe('');
      expect(manifest.operations.map((o) => o.id)).toContain(s.body.extensions?.persistedQuery?.sha256Hash);
    }
    const raw = await a.evaluate(async (url) => {
      const s = JSON.parse(localStorage.getItem('cos.console.session')!) as { accessToken: string };
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${s.accessToken}` },
        body: JSON.stringify({ query: '{ tasks { totalCount } }' }),
      });
      return (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    }, t.gatewayUrl);
    expect(raw.errors?.[0]?.extensions?.code).toBe('OPERATION_NOT_ALLOWED');
  });

  it('signs out', async () => {
    await a.getByRole('button', { name: 'Sign out' }).click();
    await a.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await a.evaluate(() => localStorage.getItem('cos.console.session'))).toBeNull();
  });
});
