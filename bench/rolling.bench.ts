/**
 * `pnpm bench rolling`: a rolling restart of EVERY process under load (issue 13). Two replicas of each subgraph and
 * of the gateway share one database and subject prefix; a balancer per process (scripts/lib/balancer.ts, what a
 * Kubernetes Service does: readiness-based rotation, a refused connection goes to the other replica) sits in front
 * of each, and the gateways call the subgraphs through theirs. While writers and readers run through the gateway
 * balancer and a graphql-ws subscription (resuming with its last cursor) follows one task, every replica is
 * restarted one at a time: SIGTERM (drain), exit, start, ready. Printed: requests served and failed, each restart's
 * duration, and whether the subscription saw every update exactly once. Exit 1 on any failed request or a gap.
 * Env: ROLLING_CLIENTS (default 4), ROLLING_ROUNDS (default 1).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createTestDatabase, testSubjectPrefix } from '@cos/testing';
import { freePort } from '../e2e/support/test-stack';
import { startBalancer, type Balancer } from '../scripts/lib/balancer';
import { migrateAll } from '../scripts/lib/database';
import { gql, gqlOk } from '../scripts/lib/graphql-client';
import { SERVICES, type ServiceName } from '../scripts/lib/paths';
import { startStack, waitHealthy, type Stack } from '../scripts/lib/stack';

const CLIENTS = Number(process.env.ROLLING_CLIENTS ?? 4);
const ROUNDS = Number(process.env.ROLLING_ROUNDS ?? 1);

async function main(): Promise<number> {
  const db = await createTestDatabase('cos_bench');
  await migrateAll(db.adminUrl, () => {}, { phase: 'contract' });
  const prefix = testSubjectPrefix('e');
  const secret = randomBytes(32).toString('hex');
  const ports = async () => Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  const pa = await ports();
  const pb = await ports();
  const gwA = await freePort();
  const gwB = await freePort();
  const lbs = Object.fromEntries(
    await Promise.all(SERVICES.map(async (s) => [s, await startBalancer({ backends: [`127.0.0.1:${pa[s]}`, `127.0.0.1:${pb[s]}`] })])),
  ) as Record<ServiceName, Balancer>;
  const gwLb = await startBalancer({ backends: [`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`], path: '/graphql' });
  const gatewayEnv = {
    // One user drives all the load: the per-user limit (1200/min) would answer 429 long before the machine is busy.
    RATE_LIMIT_PER_USER: '1000000',
    JWKS_URL: `${lbs.identity.url}/.well-known/jwks.json`,
    ...Object.fromEntries(SERVICES.map((s) => [`SUBGRAPH_${s.toUpperCase()}_URL`, `${lbs[s].url}/graphql`])),
  };
  const common = {
    pgAdminUrl: db.adminUrl,
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    subjectPrefix: prefix,
    internalSecret: secret,
    nodeEnv: 'test' as const,
    extraEnv: { LOG_LEVEL: 'warn' },
    perProcessEnv: { gateway: gatewayEnv },
  };
  const stacks: Stack[] = [];
  const t0 = Date.now();
  try {
    stacks.push(await startStack({ ...common, gatewayPort: gwA, servicePorts: pa, logDir: mkdtempSync(path.join(tmpdir(), 'cos-rolling-a-')) }));
    stacks.push(await startStack({ ...common, gatewayPort: gwB, servicePorts: pb, logDir: mkdtempSync(path.join(tmpdir(), 'cos-rolling-b-')) }));
    await Promise.all([...SERVICES.map((s) => lbs[s].waitReady([`127.0.0.1:${pa[s]}`, `127.0.0.1:${pb[s]}`])), gwLb.waitReady([`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`])]);
    console.log(`2 replicas x (4 subgraphs + gateway) up behind balancers in ${Date.now() - t0} ms (shared 2-core machine: figures are noisy)`);
    const url = gwLb.url;
    const s = await gqlOk<any>(url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: 'owner@rolling.test', password: 'correct horse battery', name: 'Rolling Owner', organizationName: 'Rolling' },
    });
    const token = s.signUp.accessToken as string;
    const c = await gqlOk<any>(url, `mutation { createCustomer(input: { name: "Globex", plan: "growth", mrr: 1000 }) { id } }`, {}, { token });
    const customerId = c.createCustomer.id as string;
    const watched = (await gqlOk<any>(url, `mutation { createTask(input: { title: "watched" }) { id } }`, {}, { token })).createTask.id as string;

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
    await new Promise((r) => setTimeout(r, 2_000));

    // ---- load ----
    const traffic = { ok: 0, failed: 0, errors: [] as string[] };
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
          traffic.failed++;
          traffic.errors.push((err as Error).message.slice(0, 200));
        }
      }
    };
    const updater = async () => {
      while (!stop) {
        const r = await gql<any>(url, `mutation($id: ID!, $v: Int!, $t: String!) { updateTask(id: $id, expectedVersion: $v, input: { title: $t }) { version } }`, {
          id: watched,
          v: watchedVersion,
          t: `watched v${watchedVersion + 1}`,
        }, { token });
        if (r.errors?.length || !r.data?.updateTask) {
          traffic.failed++;
          traffic.errors.push(`update: ${JSON.stringify(r.errors).slice(0, 200)}`);
        } else {
          watchedVersion = r.data.updateTask.version;
          updates++;
          traffic.ok++;
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    };
    const load = [...Array.from({ length: CLIENTS }, (_, i) => client(i)), updater()];
    await new Promise((r) => setTimeout(r, 2_000));

    // ---- rolling restart ----
    const restarts: Array<{ process: string; replica: string; ms: number }> = [];
    const order: Array<ServiceName | 'gateway'> = [...SERVICES, 'gateway'];
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of order) {
        for (const [i, stack] of stacks.entries()) {
          const r0 = Date.now();
          await stack.restartProcess(name);
          const p = stack.processes.find((x) => x.name === name)!;
          await waitHealthy(p, '/readyz', 60_000);
          if (name === 'gateway') await gwLb.waitReady([`127.0.0.1:${gwA}`, `127.0.0.1:${gwB}`]);
          else await lbs[name].waitReady([`127.0.0.1:${pa[name]}`, `127.0.0.1:${pb[name]}`]);
          restarts.push({ process: name, replica: i === 0 ? 'a' : 'b', ms: Date.now() - r0 });
          console.log(`restarted ${name}/${i === 0 ? 'a' : 'b'} in ${Date.now() - r0} ms (requests so far: ${traffic.ok} ok, ${traffic.failed} failed)`);
        }
      }
    }
    await new Promise((r) => setTimeout(r, 2_000));
    stop = true;
    await Promise.all(load);
    // Let the last update reach the subscriber.
    const deadline = Date.now() + 15_000;
    while (seen.length < updates && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await ws.dispose();

    // The event's task is resolved when it is delivered (current state), so titles may repeat; cursors may not.
    const cursors = seen.map((e) => Number(e.cursor));
    const inOrder = cursors.every((x, i) => i === 0 || x > cursors[i - 1]!);
    const noGap = new Set(cursors).size === updates && seen.length === updates && seen[seen.length - 1]?.title === `watched v${watchedVersion}`;
    const total = restarts.reduce((n, r) => n + r.ms, 0);
    console.log('\nprocess      replica  restart ms');
    for (const r of restarts) console.log(`${r.process.padEnd(12)} ${r.replica.padEnd(8)} ${String(r.ms).padStart(10)}`);
    console.log(`\nrolling restart of ${restarts.length} processes: ${total} ms in total, longest ${Math.max(...restarts.map((r) => r.ms))} ms`);
    console.log(`requests: ${traffic.ok} served, ${traffic.failed} failed; refused connections re-routed by the balancers: ${[gwLb, ...Object.values(lbs)].reduce((n, l) => n + l.retried, 0)}`);
    console.log(`subscription: ${seen.length} events for ${updates} updates, ${reconnects - 1} reconnects (resumed with the last cursor), in order: ${inOrder}, every update exactly once: ${noGap}`);
    if (traffic.errors.length) console.log(`first errors:\n  ${traffic.errors.slice(0, 5).join('\n  ')}`);
    return traffic.failed === 0 && noGap && inOrder ? 0 : 1;
  } finally {
    for (const st of stacks.reverse()) await st.stop().catch(() => {});
    await Promise.all([gwLb, ...Object.values(lbs)].map((l) => l.close().catch(() => {})));
    await db.drop().catch(() => {});
  }
}

process.exitCode = await main();
process.exit();
