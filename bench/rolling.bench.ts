/**
 * `pnpm bench rolling`: a rolling restart of EVERY process under load (issue 13). Two replicas of each subgraph, of
 * the gateway, of the mailer, of the agent worker and of the MCP server share one database and subject prefix; a
 * balancer per HTTP process (scripts/lib/balancer.ts, what a Kubernetes Service does: readiness-based rotation, a
 * refused connection goes to the other replica) sits in front of the subgraphs, the gateways and the MCP servers;
 * the gateways call the subgraphs through theirs, the workers and MCP servers call the gateway through its. Load:
 * writers and readers through the gateway balancer, a graphql-ws subscription (resuming with its last cursor)
 * following one task, tasks assigned to a member (each one mail, sent over SMTP to a local sink), tasks assigned to
 * the TRIAGE agent (each one run, worked by the workers with a local OpenAI-compatible model that answers slowly, so
 * steps are in flight at SIGTERM) and an MCP client calling tools. Every replica is restarted one at a time: SIGTERM
 * (drain), exit, start, ready. Printed: each restart's duration, requests served and failed, whether the
 * subscription saw every update exactly once, every mail the load caused delivered exactly once (outbox rows vs
 * what the SMTP sink received, by Message-ID), every agent run the load started succeeded once (one run per task,
 * one checkpoint per step, one success), every MCP tool call answered. Exit 1 on any failure, gap, loss or duplicate.
 * Env: ROLLING_CLIENTS (default 4), ROLLING_ROUNDS (default 1), ROLLING_MODEL_MS (the model's answer time, 800),
 * ROLLING_SHUTDOWN_DELAY_MS (every HTTP process's SHUTDOWN_DELAY_MS, 1500; 0 shows the resets it prevents).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createTestDatabase, testSubjectPrefix } from '@cos/testing';
import { startFakeModel, type FakeModel } from '../agent-worker/test/support/fake-model';
import { freePort } from '../e2e/support/test-stack';
import { startSmtpSink, type SmtpSink } from '../mailer/test/smtp-sink';
import { createWorkerKey, workerProcess } from '../scripts/lib/agent-worker';
import { startBalancer, type Balancer } from '../scripts/lib/balancer';
import { migrateAll } from '../scripts/lib/database';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { mcpProcess } from '../scripts/lib/mcp';
import { SERVICES, type ServiceName } from '../scripts/lib/paths';
import { startStack, waitHealthy, type Stack } from '../scripts/lib/stack';
import { publishMcpManifest } from '../scripts/seed';

const CLIENTS = Number(process.env.ROLLING_CLIENTS ?? 4);
const ROUNDS = Number(process.env.ROLLING_ROUNDS ?? 1);
const MODEL_MS = Number(process.env.ROLLING_MODEL_MS ?? 800);
/** Below the stack's SIGKILL grace (10 s): a worker hands back what it could not finish instead of being killed. */
const WORKER_DRAIN_MS = 6_000;
/**
 * How long the model takes for every other request of the worker about to be stopped, from 1.5 s before its SIGTERM:
 * longer than its drain, so it hands those runs back (failAgentRun, retryable) and the other worker resumes them; the
 * steps answered at the usual pace (MODEL_MS) just before SIGTERM are still in flight and finished by the drain.
 */
const SLOW_MODEL_MS = 15_000;
const MEMBER_EMAIL = 'mia@rolling.test';
const SHUTDOWN_DELAY_MS = Number(process.env.ROLLING_SHUTDOWN_DELAY_MS ?? 1_500);

type Kind = ServiceName | 'gateway' | 'mailer' | 'agent-worker' | 'mcp';
interface Restart {
  process: Kind;
  replica: string;
  ms: number;
  from: number;
  to: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;

async function main(): Promise<number> {
  const db = await createTestDatabase('cos_bench');
  await migrateAll(db.adminUrl, () => {}, { phase: 'contract' });
  const prefix = testSubjectPrefix('e');
  const secret = randomBytes(32).toString('hex');
  // Every port picked before any process binds one: freePort may answer a port it answered before (it is free until
  // someone listens), which once gave a subgraph's balancer a mailer as its backend (404 on /graphql).
  const picked = new Set<number>();
  while (picked.size < 2 * SERVICES.length + 8) picked.add(await freePort());
  const free = [...picked];
  const take = () => free.pop()!;
  const ports = () => Object.fromEntries(SERVICES.map((s) => [s, take()])) as Record<ServiceName, number>;
  const pa = ports();
  const pb = ports();
  const gwA = take();
  const gwB = take();
  const mcpPorts = [take(), take()] as const;
  const mailerPorts = [take(), take()] as const;
  const workerPorts = [take(), take()] as const;
  const lbs = Object.fromEntries(
    await Promise.all(SERVICES.map(async (s) => [s, await startBalancer({ backends: [`127.0.0.1:${pa[s]}`, `127.0.0.1:${pb[s]}`] })])),
  ) as Record<ServiceName, Balancer>;
  const gwLb = await startBalancer({ backends: [`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`], path: '/graphql' });
  const mcpBackends = mcpPorts.map((p) => `127.0.0.1:${p}`);
  const mcpLb = await startBalancer({ backends: mcpBackends, path: '/mcp' });
  const smtp = await startSmtpSink();
  const fake = await startFakeModel();
  // TRIAGE's one model step; slow enough that a worker being stopped has steps in flight. Each worker names its own
  // model (test-model-a/-b), so the one about to be stopped can be made slower than its drain.
  let slowModel: string | null = null;
  let slowTurn = 0;
  fake.fallback = (req) => ({
    delayMs: req.model === slowModel && slowTurn++ % 2 === 0 ? SLOW_MODEL_MS : MODEL_MS,
    then: { content: JSON.stringify({ proposedPriority: 'MEDIUM', rationale: 'rolling bench' }), usage: [120, 20] },
  });
  const gatewayEnv = {
    // One user, two worker keys and one partner key drive all the load: the per-user/per-key limits (1200 and 600
    // per minute) would answer 429 long before the machine is busy.
    RATE_LIMIT_PER_USER: '1000000',
    RATE_LIMIT_PER_API_KEY: '1000000',
    JWKS_URL: `${lbs.identity.url}/.well-known/jwks.json`,
    ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, `${lbs[s].url}/graphql`])),
  };
  const mailerEnv = {
    SMTP_URL: smtp.url,
    PUBLIC_BASE_URL: gwLb.url.replace(/\/graphql$/, ''),
    MAIL_POLL_MS: '200',
    MAIL_RETRY_BASE_MS: '200',
    // A mail leased by a mailer that died mid-send comes back after this (a drained mailer leaves none).
    MAIL_LEASE_MS: '15000',
  };
  const common = {
    pgAdminUrl: db.adminUrl,
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    subjectPrefix: prefix,
    internalSecret: secret,
    nodeEnv: 'test' as const,
    // Every HTTP process keeps serving with /readyz 503 for this long after SIGTERM, so the balancers (probing every
    // 200 ms, 1 s timeout) drop it before its listener closes; with 0 a connection the balancer opened just before was
    // reset now and then (ECONNRESET → 502, seen for the gateway and for tasks).
    extraEnv: { LOG_LEVEL: 'warn', SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS) },
    perProcessEnv: { gateway: gatewayEnv, mailer: mailerEnv },
  };
  const stacks: Stack[] = [];
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  let mcp: McpClient | null = null;
  const t0 = Date.now();
  try {
    stacks.push(await startStack({ ...common, gatewayPort: gwA, servicePorts: pa, mailerPort: mailerPorts[0], logDir: mkdtempSync(path.join(tmpdir(), 'cos-rolling-a-')) }));
    stacks.push(await startStack({ ...common, gatewayPort: gwB, servicePorts: pb, mailerPort: mailerPorts[1], logDir: mkdtempSync(path.join(tmpdir(), 'cos-rolling-b-')) }));
    await Promise.all([...SERVICES.map((s) => lbs[s].waitReady([`127.0.0.1:${pa[s]}`, `127.0.0.1:${pb[s]}`])), gwLb.waitReady([`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`])]);
    const url = gwLb.url;
    const s = await gqlOk<any>(url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: 'owner@rolling.test', password: 'correct horse battery', name: 'Rolling Owner', organizationName: 'Rolling' },
    });
    const token = s.signUp.accessToken as string;
    const c = await gqlOk<any>(url, `mutation { createCustomer(input: { name: "Globex", plan: "growth", mrr: 1000 }) { id } }`, {}, { token });
    const customerId = c.createCustomer.id as string;
    const watched = (await gqlOk<any>(url, `mutation { createTask(input: { title: "watched" }) { id } }`, {}, { token })).createTask.id as string;

    // ---- a member who receives a mail for every task assigned to them (invited by mail, accepted with its link) ----
    const memberId = (await gqlOk<any>(url, `mutation { inviteMember(email: "${MEMBER_EMAIL}", name: "Mia Member", role: MEMBER) { user { id } } }`, {}, { token })).inviteMember.user
      .id as string;
    const invitation = await eventually(async () => smtp.to(MEMBER_EMAIL)[0], 30_000);
    const inviteToken = decodeURIComponent(/accept-invitation\?token=([A-Za-z0-9_%-]+)/.exec(invitation.decoded)![1]!);
    await gqlOk(url, `mutation($t: String!) { acceptInvitation(token: $t, password: "another horse battery") { accessToken } }`, { t: inviteToken });
    // The first assignment once tasks has heard of the new member (MemberJoined); its mail counts like the others.
    const mailTasks: Array<{ title: string; at: number }> = [];
    await eventually(async () => {
      const r = await gql<any>(url, `mutation($a: ID) { createTask(input: { title: "mail 0", assigneeId: $a }) { id } }`, { a: memberId }, { token });
      return r.data?.createTask ? mailTasks.push({ title: 'mail 0', at: Date.now() }) : null;
    }, 30_000);

    // ---- two agent workers (TRIAGE) and two MCP servers, one per stack, started by the stack like `pnpm start` ----
    const triageId = await eventually(async () => {
      const a = await gqlOk<{ agents: Array<{ id: string; kind: string }> }>(url, `{ agents { id kind } }`, {}, { token });
      return a.agents.find((x) => x.kind === 'TRIAGE')?.id ?? null;
    }, 30_000);
    await publishMcpManifest(url, token);
    const mcpKey = (
      await gqlOk<any>(url, `mutation { createApiKey(name: "mcp", scopes: ["customers:read", "tasks:read", "agents:read"]) { secret } }`, {}, { token })
    ).createApiKey.secret as string;
    for (const [i, stack] of stacks.entries()) {
      const replica = i === 0 ? 'a' : 'b';
      const apiKey = await createWorkerKey(url, token, `worker-${replica}`);
      await stack.startProcess(
        workerProcess({
          gatewayUrl: url,
          apiKey,
          kinds: ['TRIAGE'],
          metricsPort: workerPorts[i]!,
          env: {
            WORKER_NAME: `worker-${replica}`,
            WORKER_POLL_MS: '1000',
            WORKER_LEASE_SECONDS: '10',
            WORKER_DRAIN_MS: String(WORKER_DRAIN_MS),
            MODEL_PROVIDER: 'openai',
            MODEL_BASE_URL: fake.url,
            MODEL_API_KEY: 'sk-rolling',
            MODEL_NAME: `test-model-${replica}`,
          },
        }),
      );
      await stack.startProcess(mcpProcess({ gatewayUrl: url, port: mcpPorts[i]!, env: { SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS) } }));
    }
    await mcpLb.waitReady(mcpBackends);
    console.log(
      `2 replicas x (4 subgraphs + gateway + mailer + agent worker + MCP server) up behind balancers in ${Date.now() - t0} ms (shared 2-core machine: figures are noisy)`,
    );

    // ---- the subscription, resuming with its last cursor whenever its gateway drains ----
    const seen: Array<{ cursor: string; title: string }> = [];
    let reconnects = 0;
    const ws = createClient({
      url: url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 50,
      retryWait: async () => new Promise((r) => setTimeout(r, 200 + Math.random() * 300)),
      shouldRetry: () => true,
      connectionParams: () => ({ authorization: `Bearer ${token}`, ...(seen.length ? { after: seen[seen.length - 1]!.cursor } : {}) }),
      on: { connected: () => void reconnects++ },
    });
    ws.subscribe(
      { query: `subscription($id: ID) { taskChanged(taskId: $id) { cursor kind task { title } } }`, variables: { id: watched } },
      { next: (r: any) => r.data && seen.push({ cursor: r.data.taskChanged.cursor, title: r.data.taskChanged.task.title }), error: (e) => console.error('subscription error', e), complete: () => {} },
    );
    await sleep(2_000);

    // ---- load ----
    const traffic = { ok: 0, failed: 0, errors: [] as Array<{ at: number; message: string }> };
    const fail = (what: string, err: unknown) => {
      traffic.failed++;
      traffic.errors.push({ at: Date.now(), message: `${what}: ${(err instanceof Error ? err.message : JSON.stringify(err)).slice(0, 200)}` });
    };
    let stop = false;
    let watchedVersion = 1;
    let updates = 0;
    const client = async (i: number) => {
      for (let n = 0; !stop; n++) {
        try {
          const t = await gql<any>(url, `mutation($t: String!, $c: ID) { createTask(input: { title: $t, customerId: $c }) { id } }`, { t: `load ${i}-${n}`, c: customerId }, { token });
          if (t.errors?.length || !t.data?.createTask) throw new Error(JSON.stringify(t.errors));
          const q = await gql<any>(url, `query($id: ID!) { task(id: $id) { title createdBy { name } customer { name healthScore { score } } } }`, { id: t.data.createTask.id }, { token });
          if (q.errors?.length || q.data?.task?.customer?.name !== 'Globex') throw new Error(JSON.stringify(q.errors ?? q.data));
          const a = await gql<any>(url, `{ agents { id } me { name } }`, {}, { token });
          if (a.errors?.length) throw new Error(JSON.stringify(a.errors));
          traffic.ok += 3;
        } catch (err) {
          fail('read/write', err);
        }
      }
    };
    const updater = async () => {
      while (!stop) {
        try {
          const r = await gql<any>(url, `mutation($id: ID!, $v: Int!, $t: String!) { updateTask(id: $id, expectedVersion: $v, input: { title: $t }) { version } }`, {
            id: watched,
            v: watchedVersion,
            t: `watched v${watchedVersion + 1}`,
          }, { token });
          if (r.errors?.length || !r.data?.updateTask) throw new Error(JSON.stringify(r.errors));
          watchedVersion = r.data.updateTask.version;
          updates++;
          traffic.ok++;
        } catch (err) {
          fail('update', err);
        }
        await sleep(150);
      }
    };
    // A task assigned to the member: one TASK_ASSIGNED mail each.
    const mailer = async () => {
      for (let n = 1; !stop; n++) {
        const title = `mail ${n}`;
        const at = Date.now();
        try {
          const r = await gql<any>(url, `mutation($t: String!, $a: ID) { createTask(input: { title: $t, assigneeId: $a }) { id } }`, { t: title, a: memberId }, { token });
          if (r.errors?.length || !r.data?.createTask) throw new Error(JSON.stringify(r.errors));
          mailTasks.push({ title, at });
          traffic.ok++;
        } catch (err) {
          fail('assign to member', err);
        }
        await sleep(250);
      }
    };
    // A task assigned to the TRIAGE agent: one agent run each.
    const runTasks: Array<{ taskId: string; title: string; at: number }> = [];
    const runs = async () => {
      for (let n = 1; !stop; n++) {
        const at = Date.now();
        try {
          const title = `run ${n}`;
          const r = await gql<any>(url, `mutation($t: String!, $a: ID) { createTask(input: { title: $t, assigneeId: $a }) { id } }`, { t: title, a: triageId }, { token });
          if (r.errors?.length || !r.data?.createTask) throw new Error(JSON.stringify(r.errors));
          runTasks.push({ taskId: r.data.createTask.id, title, at });
          traffic.ok++;
        } catch (err) {
          fail('assign to agent', err);
        }
        await sleep(500);
      }
    };
    // An MCP client (the SDK's, Streamable HTTP) with a partner key, calling tools through the MCP balancer. On a
    // transport error it does what an assistant's client does: a new session.
    const mcpStats = { ok: 0, failed: 0, sessions: 0, errors: [] as Array<{ at: number; message: string }>, calls: [] as Array<{ at: number; ok: boolean; ms: number }> };
    const mcpSession = async (): Promise<McpClient> => {
      const m = new McpClient({ name: 'rolling-bench', version: '1.0.0' });
      await m.connect(new StreamableHTTPClientTransport(new URL(mcpLb.url), { requestInit: { headers: { authorization: `ApiKey ${mcpKey}` } } }));
      mcpStats.sessions++;
      return m;
    };
    mcp = await mcpSession();
    const mcpLoad = async () => {
      for (let n = 0; !stop; n++) {
        const at = Date.now();
        const call = n % 2 ? { name: 'ListCustomers', arguments: { first: 5 }, field: 'customers' } : { name: 'SearchTasks', arguments: { first: 5 }, field: 'tasks' };
        try {
          if (!mcp) mcp = await mcpSession();
          const r = (await mcp.callTool({ name: call.name, arguments: call.arguments })) as CallToolResult;
          const out = r.structuredContent as { data?: Record<string, unknown>; errors?: unknown[] } | undefined;
          if (r.isError || !out?.data?.[call.field] || out.errors?.length) throw new Error(`${call.name}: ${JSON.stringify(r.content).slice(0, 200)}`);
          mcpStats.ok++;
          mcpStats.calls.push({ at, ok: true, ms: Date.now() - at });
        } catch (err) {
          mcpStats.failed++;
          mcpStats.calls.push({ at, ok: false, ms: Date.now() - at });
          mcpStats.errors.push({ at: Date.now(), message: `MCP ${(err as Error).message.slice(0, 200)}` });
          await mcp?.close().catch(() => {});
          mcp = null;
        }
        await sleep(100);
      }
    };
    const load = [...Array.from({ length: CLIENTS }, (_, i) => client(i)), updater(), mailer(), runs(), mcpLoad()];
    await sleep(2_000);

    // ---- rolling restart ----
    const restarts: Restart[] = [];
    const order: Kind[] = [...SERVICES, 'gateway', 'mailer', 'agent-worker', 'mcp'];
    const backends = (name: Kind): { lb: Balancer; ready: string[] } | null => {
      if (name === 'gateway') return { lb: gwLb, ready: [`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`] };
      if (name === 'mcp') return { lb: mcpLb, ready: mcpBackends };
      if (name === 'mailer' || name === 'agent-worker') return null;
      return { lb: lbs[name], ready: [`127.0.0.1:${pa[name]}`, `127.0.0.1:${pb[name]}`] };
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of order) {
        for (const [i, stack] of stacks.entries()) {
          const replica = i === 0 ? 'a' : 'b';
          if (name === 'agent-worker') {
            slowModel = `test-model-${replica}`;
            await sleep(1_500);
          }
          const r0 = Date.now();
          // Resolves once the new process answers its health check (the worker's: its metrics port's /healthz).
          await stack.restartProcess(name);
          const p = stack.processes.find((x) => x.name === name)!;
          if (name !== 'agent-worker') await waitHealthy(p, '/readyz', 60_000);
          const b = backends(name);
          if (b) await b.lb.waitReady(b.ready);
          slowModel = null;
          restarts.push({ process: name, replica, ms: Date.now() - r0, from: r0, to: Date.now() });
          console.log(`restarted ${name}/${replica} in ${Date.now() - r0} ms (requests so far: ${traffic.ok} ok, ${traffic.failed} failed)`);
        }
      }
    }
    await sleep(2_000);
    stop = true;
    await Promise.all(load);
    // Let the last update reach the subscriber.
    const deadline = Date.now() + 15_000;
    while (seen.length < updates && Date.now() < deadline) await sleep(100);
    await ws.dispose();
    const during = (kind: Kind, at: number) => restarts.some((r) => r.process === kind && at >= r.from && at <= r.to);

    const mails = await checkMails(admin, smtp, mailTasks);
    const agentRuns = await checkRuns(admin, fake, runTasks, restarts.filter((r) => r.process === 'agent-worker'));

    // The event's task is resolved when it is delivered (current state), so titles may repeat; cursors may not.
    const cursors = seen.map((e) => Number(e.cursor));
    const inOrder = cursors.every((x, i) => i === 0 || x > cursors[i - 1]!);
    const noGap = new Set(cursors).size === updates && seen.length === updates && seen[seen.length - 1]?.title === `watched v${watchedVersion}`;
    const total = restarts.reduce((n, r) => n + r.ms, 0);
    console.log('\nprocess      replica  restart ms');
    for (const r of restarts) console.log(`${r.process.padEnd(12)} ${r.replica.padEnd(8)} ${String(r.ms).padStart(10)}`);
    console.log(`\nrolling restart of ${restarts.length} processes: ${total} ms in total, longest ${Math.max(...restarts.map((r) => r.ms))} ms`);
    console.log(`requests: ${traffic.ok} served, ${traffic.failed} failed; refused connections re-routed by the balancers: ${[gwLb, mcpLb, ...Object.values(lbs)].reduce((n, l) => n + l.retried, 0)}`);
    console.log(`subscription: ${seen.length} events for ${updates} updates, ${reconnects - 1} reconnects (resumed with the last cursor), in order: ${inOrder}, every update exactly once: ${noGap}`);
    // Which restart was under way when a request failed (the failure's time, not the request's start).
    const when = (at: number) => {
      const r = restarts.find((x) => at >= x.from && at <= x.to);
      return r ? `during ${r.process}/${r.replica}'s restart` : 'between restarts';
    };
    const describe = (e: { at: number; message: string }) => `${e.message} (${when(e.at)})`;
    const upstream = [gwLb, mcpLb, ...Object.values(lbs)].flatMap((l) => l.upstreamErrors.map((e) => ({ at: e.at, message: `balancer 502 from ${e.backend}: ${e.message}` })));
    if (upstream.length) console.log(`balancer answers 502 (upstream connection reset or timed out, not retried):\n  ${upstream.slice(0, 5).map(describe).join('\n  ')}`);
    if (traffic.errors.length) console.log(`first errors:\n  ${traffic.errors.slice(0, 5).map(describe).join('\n  ')}`);

    const mailsDuring = mailTasks.filter((m) => during('mailer', m.at)).length;
    const runsDuring = runTasks.filter((r) => during('agent-worker', r.at)).length;
    const mcpDuring = mcpStats.calls.filter((x) => during('mcp', x.at));
    const mailOk = mails.lost.length === 0 && mails.duplicated.length === 0 && mails.unexpected === 0 && mails.notSent.length === 0;
    const runsOk = agentRuns.lost.length === 0 && agentRuns.twice.length === 0 && agentRuns.succeeded === agentRuns.started;
    const mcpOk = mcpStats.failed === 0;
    console.log('\nper kind     restarts  restart ms (each)      outcome');
    const kindRow = (kind: Kind | 'subgraphs', outcome: string) => {
      const rs = restarts.filter((r) => (kind === 'subgraphs' ? (SERVICES as readonly string[]).includes(r.process) : r.process === kind));
      console.log(`${kind.padEnd(12)} ${String(rs.length).padStart(8)}  ${rs.map((r) => r.ms).join(', ').padEnd(21)}  ${outcome}`);
    };
    kindRow('subgraphs', `${traffic.failed === 0 ? 'ok' : 'FAILED'}: requests through the gateway (above)`);
    kindRow('gateway', `${traffic.failed === 0 && noGap && inOrder ? 'ok' : 'FAILED'}: requests and the subscription (above)`);
    kindRow(
      'mailer',
      `${mailOk ? 'ok' : 'FAILED'}: ${mails.expected} mails caused by the load (${mailsDuring} while a mailer restarted), ${mails.delivered} delivered once, ` +
        `${mails.lost.length} lost, ${mails.duplicated.length} duplicated, ${mails.unexpected} unexpected; outbox ${mails.rows} rows, ${mails.notSent.length} not SENT`,
    );
    kindRow(
      'agent-worker',
      `${runsOk ? 'ok' : 'FAILED'}: ${agentRuns.started} runs started (${runsDuring} while a worker restarted), ${agentRuns.succeeded} succeeded once, ` +
        `${agentRuns.lost.length} lost, ${agentRuns.twice.length} run twice; ${agentRuns.inFlight} in flight at a worker's SIGTERM (finished by its drain: ${agentRuns.drained}), ` +
        `${agentRuns.handedBack} re-claimed after a hand-back; ${agentRuns.modelCalls} model calls (${agentRuns.stepReruns} steps asked again after a hand-back)`,
    );
    kindRow(
      'mcp',
      `${mcpOk ? 'ok' : 'FAILED'}: ${mcpStats.ok + mcpStats.failed} tool calls (${mcpDuring.length} while an MCP server restarted), ${mcpStats.failed} failed; ` +
        `latency p50 ${pct(mcpStats.calls.map((x) => x.ms), 0.5)} ms, slowest during an MCP restart ${Math.max(0, ...mcpDuring.map((x) => x.ms))} ms; ` +
        `the client's session: ${mcpStats.sessions === 1 ? 'one for the whole run, never reconnected' : `${mcpStats.sessions - 1} reconnects`}`,
    );
    for (const line of [...mails.problems, ...agentRuns.problems, ...mcpStats.errors.map(describe)].slice(0, 10)) console.log(`  ${line}`);
    return traffic.failed === 0 && noGap && inOrder && mailOk && runsOk && mcpOk ? 0 : 1;
  } finally {
    await mcp?.close().catch(() => {});
    for (const st of stacks.reverse()) await st.stop().catch(() => {});
    await Promise.all([gwLb, mcpLb, ...Object.values(lbs)].map((l) => l.close().catch(() => {})));
    await admin.end().catch(() => {});
    await smtp.close().catch(() => {});
    await fake.close().catch(() => {});
    await db.drop().catch(() => {});
  }
}

/**
 * Every mail the load caused delivered exactly once: each task assigned to the member has one TASK_ASSIGNED row in
 * the mailer's outbox and one message in the SMTP sink with its subject; every outbox row is SENT and reached the sink
 * exactly once (the sink's Message-ID is the row's id); the sink got nothing else. Waits (bounded) for the outbox.
 */
async function checkMails(admin: pg.Client, smtp: SmtpSink, tasks: Array<{ title: string }>) {
  type Row = { id: string; kind: string; status: string; title: string | null };
  const expected = new Set(tasks.map((t) => `Task assigned to you: ${t.title}`));
  const read = async () => (await admin.query<Row>(`SELECT id, kind, status, template->>'taskTitle' AS title FROM mailer.mails`)).rows;
  const settled = (rows: Row[]) => rows.every((r) => r.status !== 'PENDING') && rows.filter((r) => r.kind === 'TASK_ASSIGNED').length >= expected.size;
  let rows = await read();
  for (const until = Date.now() + 60_000; !settled(rows) && Date.now() < until; rows = await read()) await sleep(500);
  const byId = new Map<string, number>();
  for (const m of smtp.received) {
    const id = /^<([^@]+)@company-os\.mailer>$/.exec(m.headers['message-id'] ?? '')?.[1] ?? `?${m.headers['message-id']}`;
    byId.set(id, (byId.get(id) ?? 0) + 1);
  }
  const bySubject = new Map<string, number>();
  for (const m of smtp.to(MEMBER_EMAIL)) bySubject.set(m.headers.subject ?? '', (bySubject.get(m.headers.subject ?? '') ?? 0) + 1);
  const lost = [...expected].filter((s) => !bySubject.has(s));
  const duplicated = [...new Set([...[...byId].filter(([, n]) => n > 1).map(([id]) => id), ...[...bySubject].filter(([, n]) => n > 1).map(([s]) => s)])];
  const ids = new Set(rows.map((r) => r.id));
  const unexpected = [...byId.keys()].filter((id) => !ids.has(id)).length + [...bySubject.keys()].filter((s) => s.startsWith('Task assigned') && !expected.has(s)).length;
  const notSent = rows.filter((r) => r.status !== 'SENT' || byId.get(r.id) !== 1);
  const problems = [
    ...lost.slice(0, 3).map((s) => `mail lost: ${s}`),
    ...duplicated.slice(0, 3).map((s) => `mail duplicated: ${s}`),
    ...notSent.slice(0, 3).map((r) => `outbox row ${r.id} (${r.kind}) ${r.status}, received ${byId.get(r.id) ?? 0} times`),
  ];
  return { expected: expected.size, delivered: [...expected].filter((s) => bySubject.get(s) === 1).length, lost, duplicated, unexpected, rows: rows.length, notSent, problems };
}

/**
 * Every agent run the load started succeeded exactly once, from the agents service's event history: one run per task
 * assigned to the agent, ending AgentRunSucceeded once, with one checkpoint per step (TRIAGE has one, answered by the
 * test model) — a second checkpoint or success would mean two workers ran it. A run handed back (its step still
 * waiting for the slowed model at the end of the drain) and re-claimed resumes from its last checkpoint, so its step
 * is asked of the model again: counted, not a failure. Also counted: the runs a worker
 * held when it got SIGTERM (claimed by it before, settled after) and how many of those its drain finished itself.
 * Waits (bounded) for the runs to finish.
 */
async function checkRuns(admin: pg.Client, fake: FakeModel, tasks: Array<{ taskId: string; title: string }>, workerRestarts: Restart[]) {
  type Row = { runId: string; taskId: string | null; claims: number; checkpoints: number; succeeded: number; models: string[]; last: string };
  const read = async () =>
    (
      await admin.query<Row>(
        `SELECT data->>'runId' AS "runId",
                max(data->>'taskId') FILTER (WHERE type = 'AgentRunQueued') AS "taskId",
                count(*) FILTER (WHERE type = 'AgentRunStarted')::int AS claims,
                count(*) FILTER (WHERE type = 'AgentRunCheckpointed')::int AS checkpoints,
                count(*) FILTER (WHERE type = 'AgentRunSucceeded')::int AS succeeded,
                coalesce(array_agg(data->'step'->>'model') FILTER (WHERE type = 'AgentRunCheckpointed'), '{}') AS models,
                (array_agg(type ORDER BY version DESC))[1] AS last
           FROM agents.events WHERE stream_id LIKE 'AgentRun-%' GROUP BY 1`,
      )
    ).rows;
  const wanted = new Set(tasks.map((t) => t.taskId));
  const done = (rows: Row[]) => {
    const finished = new Set(rows.filter((r) => r.last === 'AgentRunSucceeded' || r.last === 'AgentRunFailed').map((r) => r.taskId));
    return [...wanted].every((id) => finished.has(id));
  };
  let rows = await read();
  for (const until = Date.now() + 90_000; !done(rows) && Date.now() < until; rows = await read()) await sleep(500);
  const byTask = new Map<string, Row[]>();
  for (const r of rows) if (r.taskId && wanted.has(r.taskId)) byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r]);
  const ranOnce = (r: Row) => r.succeeded === 1 && r.checkpoints === 1 && r.models[0]?.startsWith('openai:test-model-') === true;
  const lost = [...wanted].filter((id) => !(byTask.get(id) ?? []).some((r) => r.succeeded === 1));
  const twice = [...byTask].filter(([, rs]) => rs.length > 1 || rs.some((r) => r.succeeded > 1 || r.checkpoints > 1)).map(([id]) => id);
  const mine = [...byTask.values()].flat();
  // The test model's requests, by the task title in the prompt.
  const titles = new Set(tasks.map((t) => t.title));
  const calls = new Map<string, number>();
  for (const q of fake.requests) {
    const title = /Task title: (run \d+)\n/.exec(q.body.messages.map((m) => m.content ?? '').join('\n'))?.[1];
    if (title && titles.has(title)) calls.set(title, (calls.get(title) ?? 0) + 1);
  }
  // Claims and settlements in time, for the runs a worker held when it was told to stop.
  const claims = (
    await admin.query<{ runId: string; type: string; worker: string | null; at: Date }>(
      `SELECT data->>'runId' AS "runId", type, data->>'workerId' AS worker, occurred_at AS at FROM agents.events
        WHERE stream_id LIKE 'AgentRun-%' AND type IN ('AgentRunStarted', 'AgentRunSucceeded', 'AgentRunRequeued', 'AgentRunFailed') ORDER BY global_position`,
    )
  ).rows;
  let inFlight = 0;
  let drained = 0;
  for (const r of workerRestarts) {
    const worker = `worker-${r.replica}`;
    for (const [i, e] of claims.entries()) {
      // The claim's workerId is `<principal>/<the worker's name>`.
      if (e.type !== 'AgentRunStarted' || !e.worker?.endsWith(`/${worker}`) || e.at.getTime() >= r.from) continue;
      const end = claims.slice(i + 1).find((x) => x.runId === e.runId && x.type !== 'AgentRunStarted');
      if (!end || end.at.getTime() < r.from) continue;
      inFlight++;
      if (end.type === 'AgentRunSucceeded') drained++;
    }
  }
  const problems = [
    ...lost.slice(0, 3).map((id) => `run of task ${id} lost: ${JSON.stringify(byTask.get(id) ?? 'no run')}`),
    ...twice.slice(0, 3).map((id) => `run of task ${id} ran twice: ${JSON.stringify(byTask.get(id))}`),
  ];
  return {
    started: wanted.size,
    succeeded: [...byTask.values()].filter((rs) => rs.length === 1 && ranOnce(rs[0]!)).length,
    lost,
    twice,
    handedBack: mine.filter((r) => r.claims > 1).length,
    inFlight,
    drained,
    modelCalls: [...calls.values()].reduce((a, b) => a + b, 0),
    stepReruns: [...calls.values()].filter((n) => n > 1).length,
    problems,
  };
}

process.exitCode = await main();
process.exit();
