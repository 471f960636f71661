/**
 * `pnpm start` as a newcomer runs it, in its own database, subject prefix, data folder and ports: it comes up and
 * seeds, the README's first query (run with bash and curl, as printed) returns what the seed reported, client
 * mistakes leave no error-level log line, and Ctrl-C (SIGINT to the whole process group, as a terminal sends it)
 * drains, stops every process and exits 0 — without pnpm's `ELIFECYCLE Command failed`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testSubjectPrefix, type TestDatabase } from '@cos/testing';
import { gql } from '../scripts/lib/graphql-client';
import { repoRoot } from '../scripts/lib/paths';

let db: TestDatabase;
let dataDir: string;
let port: number;
let child: ChildProcess;
let output = '';
let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

const portFree = (p: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** Every port `pnpm start` binds, as offsets from PORT: gateway, four subgraphs, console, mailer, MCP, worker metrics. */
const START_PORT_OFFSETS = [0, 1, 2, 3, 4, 5, 6, 10, 5464];

/**
 * A gateway port whose other start ports are free too, all below the kernel's ephemeral range (32768+ here): the
 * other stacks running beside this file take OS-assigned ports and every outgoing connection a local port from that
 * range, so a port checked free there could be taken before `pnpm start` binds it (agents once exited EADDRINUSE).
 */
async function freePortRun(): Promise<number> {
  const ephemeralFloor = ephemeralPortFloor();
  const span = ephemeralFloor - 20_000 - Math.max(...START_PORT_OFFSETS);
  for (let i = 0; i < 50; i++) {
    const base = 20_000 + Math.floor(Math.random() * span);
    const all = await Promise.all(START_PORT_OFFSETS.map((d) => portFree(base + d)));
    if (all.every(Boolean)) return base;
  }
  throw new Error('no free run of start ports');
}

function ephemeralPortFloor(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && low > 30_000) return low;
  } catch {
    // not Linux: assume the IANA range's floor
  }
  return 32_768;
}

async function waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(output);
    if (m) return m;
    if (child.exitCode !== null) throw new Error(`pnpm start exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`no ${re} within ${timeoutMs} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  db = await createTestDatabase('cos_e2e');
  dataDir = mkdtempSync(path.join(tmpdir(), 'cos-start-'));
  port = await freePortRun();
  child = spawn('pnpm', ['start'], {
    cwd: repoRoot,
    // Its own process group, so the test can signal it the way a terminal's Ctrl-C does.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: String(port),
      COS_PG_ADMIN_URL: db.adminUrl,
      COS_SUBJECT_PREFIX: testSubjectPrefix('e'),
      COS_DATA_DIR: dataDir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
    },
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await waitForOutput(/Company OS graph is up\./, 150_000);
}, 180_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid!, 'SIGTERM');
    await Promise.race([exit, new Promise((r) => setTimeout(r, 20_000))]);
  }
  await db?.drop().catch(() => {});
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const gatewayUrl = () => `http://127.0.0.1:${port}/graphql`;

describe('pnpm start', () => {
  it('puts the subgraphs on the four ports after PORT, and every process’s log under COS_DATA_DIR', async () => {
    for (const [i, name] of ['identity', 'tasks', 'customers', 'agents'].entries()) {
      const res = await fetch(`http://127.0.0.1:${port + 1 + i}/healthz`);
      expect(await res.json()).toMatchObject({ status: 'ok', service: name });
    }
    // The mailer (README "Email") on PORT + 6.
    expect(await (await fetch(`http://127.0.0.1:${port + 6}/healthz`)).json()).toMatchObject({ status: 'ok', service: 'mailer' });
    expect(readdirSync(path.join(dataDir, 'logs')).sort()).toEqual([
      'agent-worker.log',
      'agents.log',
      'console.log',
      'customers.log',
      'gateway.log',
      'identity.log',
      'mailer.log',
      'mcp.log',
      'tasks.log',
    ]);
  });

  it('reports the demo data the README’s first query returns (the churn follow-up task included)', async () => {
    const banner = /Demo data:\s+(\d+) tasks?, (\d+) customers?/.exec(output);
    expect(banner, output).not.toBeNull();
    // The README's commands, verbatim but for the port.
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const block = /### A first query\s+```bash\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const run = spawnSync('bash', ['-c', block!.replaceAll('localhost:4000', `localhost:${port}`)], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const answer = JSON.parse(run.stdout) as { data: { tasks: { totalCount: number; edges: { node: { title: string; customer: { name: string; churnRisk: boolean } | null } }[] } } };
    expect(answer.data.tasks.totalCount).toBe(Number(banner![1]));
    expect(answer.data.tasks.edges.some((e) => e.node.customer?.churnRisk && /follow up/i.test(e.node.title))).toBe(true);
  });

  it('client mistakes leave no error-level line in any log', async () => {
    const login = await gql(gatewayUrl(), 'mutation { login(email: "owner@demo.test", password: "wrong-password") { accessToken } }');
    expect(login.errors?.[0]?.message).toBe('Invalid email or password');
    const signUp = await gql(gatewayUrl(), 'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }', {
      i: { email: 'owner@demo.test', password: 'demo-password-1', name: 'Again', organizationName: 'Again' },
    });
    expect(signUp.errors?.[0]?.message).toBe('An account with this email already exists');
    const badJson = await fetch(gatewayUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":' });
    expect(badJson.status).toBe(400);
    await new Promise((r) => setTimeout(r, 300)); // log lines are written asynchronously to the files
    const lines = readdirSync(path.join(dataDir, 'logs')).flatMap((f) =>
      readFileSync(path.join(dataDir, 'logs', f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => ({ file: f, ...(JSON.parse(l) as { level: number; msg: string }) })),
    );
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.filter((l) => l.file === 'gateway.log' && l.level === 30).map((l) => l.msg)).toEqual(
      expect.arrayContaining(['Invalid email or password', 'An account with this email already exists', 'POST body sent invalid JSON.']),
    );
  });

  it('subscribes as GraphiQL does: plain HTTP refuses a subscription and says where to go, SSE streams its events', async () => {
    const login = await gql<{ login: { accessToken: string } }>(gatewayUrl(), 'mutation { login(email: "owner@demo.test", password: "demo-password-1") { accessToken } }');
    const token = login.data!.login.accessToken;
    const SUB = 'subscription { taskChanged { kind task { title } } }';
    const overHttp = await gql(gatewayUrl(), SUB, {}, { token });
    expect(overHttp.status).toBe(400);
    expect(overHttp.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(overHttp.errors?.[0]?.message).toMatch(/\/graphql\/stream/);

    // GraphiQL's fetcher (graphql-sse, distinct connections mode) at the endpoint its page names.
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: SUB }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    let received = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += decoder.decode(chunk, { stream: true });
    })().catch(() => {});
    try {
      // The subscription registers asynchronously: write until one of the tasks comes back as an event (bounded).
      const deadline = Date.now() + 20_000;
      for (let i = 0; !received.includes('Seen over SSE') && Date.now() < deadline; i++) {
        await gql(gatewayUrl(), `mutation { createTask(input: { title: "Seen over SSE ${i}", priority: LOW }) { id } }`, {}, { token });
        await new Promise((r) => setTimeout(r, 1_000));
      }
      expect(received).toMatch(/event: next\ndata: \{"data":\{"taskChanged":\{"kind":"CREATED","task":\{"title":"Seen over SSE \d+"\}/);
    } finally {
      ac.abort();
      await reading;
    }
  });

  it('Ctrl-C drains and stops every process, and pnpm exits 0 without ELIFECYCLE', async () => {
    process.kill(-child.pid!, 'SIGINT');
    const { code, signal } = await exit;
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
    expect(output).toMatch(/» stopping \(draining in-flight requests\)\nstopped/);
    expect(output).not.toMatch(/ELIFECYCLE|Command failed/);
    // The gateway, the four subgraphs, the console (+5), the MCP server (+10) and the worker's metrics (+5464).
    for (const d of [0, 1, 2, 3, 4, 5, 10, 5464]) expect(await portFree(port + d), `port ${port + d}`).toBe(true);
    // Every process ran its own graceful shutdown to the end (none was killed on the way).
    for (const f of readdirSync(path.join(dataDir, 'logs'))) {
      const msgs = readFileSync(path.join(dataDir, 'logs', f), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs, f).toContain('stopped');
    }
  });
});
