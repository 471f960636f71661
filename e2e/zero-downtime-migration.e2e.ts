/**
 * Zero-downtime schema change (issue 13), with the shipped tasks migrations 0007 (expand: created_by_user_id, the
 * sync trigger, a batched backfill) and 0008 (contract: drop created_by). Two releases of the tasks service serve
 * the same database behind a balancer the gateway calls, under continuous traffic through the gateway:
 *   1. the previous release alone (schema level 6, TASKS_LEGACY_RELEASE) on the schema before the change;
 *   2. `pnpm migrate` (expand) while it serves: column + trigger + backfill in batches;
 *   3. the new release starts beside it: both serve at once (counted per instance);
 *   4. `pnpm migrate --contract` refuses, naming the old instance;
 *   5. the old instance drains (SIGTERM) and deregisters; the contract applies;
 *   6. the old release can no longer start on this schema.
 * Every request of the traffic must succeed, and every task must read back its creator, whichever release wrote it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractBlockedError } from '@cos/db';
import { createTestDatabase, testSubjectPrefix, type TestDatabase } from '@cos/testing';
import { startBalancer, type Balancer } from '../scripts/lib/balancer';
import { migrateAll } from '../scripts/lib/database';
import { gql, gqlOk } from '../scripts/lib/graphql-client';
import { repoRoot } from '../scripts/lib/paths';
import { startStack, type Stack } from '../scripts/lib/stack';
import { freePort } from './support/test-stack';

let db: TestDatabase;
let stack: Stack;
let lb: Balancer;
let admin: pg.Client;
const secret = randomBytes(32).toString('hex');
const prefix = testSubjectPrefix('e');
const logs: string[] = [];
const log = (m: string) => logs.push(m);
let legacyPort = 0;
let newPort = 0;

beforeAll(async () => {
  db = await createTestDatabase('cos_e2e');
  await migrateAll(db.adminUrl, log, { phase: 'contract', services: ['identity', 'customers', 'agents'] });
  // The tasks schema as the previous release left it.
  await migrateAll(db.adminUrl, log, { services: ['tasks'], maxVersion: 6 });
  legacyPort = await freePort();
  newPort = await freePort();
  lb = await startBalancer({ backends: [`127.0.0.1:${legacyPort}`, `127.0.0.1:${newPort}`] });
  stack = await startStack({
    pgAdminUrl: db.adminUrl,
    natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    subjectPrefix: prefix,
    internalSecret: secret,
    gatewayPort: await freePort(),
    servicePorts: { identity: await freePort(), tasks: legacyPort, customers: await freePort(), agents: await freePort() },
    logDir: mkdtempSync(path.join(tmpdir(), 'cos-e2e-zdm-')),
    nodeEnv: 'test',
    perProcessEnv: {
      // As behind any balancer (README, SHUTDOWN_DELAY_MS): after SIGTERM it answers /readyz 503 for 3 of the
      // balancer's probe intervals before its listener closes, so no request is sent on a connection it is closing.
      tasks: { TASKS_LEGACY_RELEASE: 'true', COS_CODE_VERSION: 'release-5', SHUTDOWN_DELAY_MS: '600' },
      gateway: { SUBGRAPH_TASKS_URL: `${lb.url}/graphql` },
    },
  });
  admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
}, 180_000);

afterAll(async () => {
  await admin?.end();
  await stack?.stop();
  await lb?.close();
  await db?.drop();
});

const columns = async () =>
  (await admin.query<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'tasks' AND table_name = 'tasks' AND column_name LIKE 'created_by%' ORDER BY 1`)).rows.map((r) => r.c);

const newTasksProcess = (name: string, port: number, env: Record<string, string> = {}) => ({
  name,
  entry: path.join(repoRoot, 'services/tasks/src/index.ts'),
  env: {
    PORT: String(port),
    COS_PG_ADMIN_URL: db.adminUrl,
    NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    COS_SUBJECT_PREFIX: prefix,
    INTERNAL_SECRET: secret,
    COS_CODE_VERSION: 'release-7',
    ...env,
  },
});

describe('expand/contract with two releases serving behind the gateway', () => {
  it('renames tasks.created_by to created_by_user_id under traffic with zero failed requests', async () => {
    const s = await gqlOk<any>(stack.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }`, {
      i: { email: 'owner@zdm.test', password: 'correct horse battery', name: 'Zoe Owner', organizationName: 'ZDM' },
    });
    const token = s.signUp.accessToken as string;
    const ownerId = s.signUp.user.id as string;
    // Rows the backfill will have to copy: written by the previous release before the change.
    for (let i = 0; i < 25; i++) await gqlOk(stack.gatewayUrl, `mutation { createTask(input: { title: "before ${i}" }) { id } }`, {}, { token });
    expect(await columns()).toEqual(['created_by', 'created_by_actor']);

    const traffic = { ok: 0, failed: 0, errors: [] as string[] };
    let stop = false;
    const client = async (c: number) => {
      for (let n = 0; !stop; n++) {
        try {
          const r = await gql<any>(stack.gatewayUrl, `mutation($t: String!) { createTask(input: { title: $t }) { id createdBy { id } } }`, { t: `traffic ${c}-${n}` }, { token });
          if (r.errors?.length || r.data?.createTask?.createdBy?.id !== ownerId) throw new Error(JSON.stringify(r.errors ?? r.data));
          const q = await gql<any>(stack.gatewayUrl, `query($id: ID!) { task(id: $id) { title createdBy { id } } }`, { id: r.data.createTask.id }, { token });
          if (q.errors?.length || q.data?.task?.createdBy?.id !== ownerId) throw new Error(JSON.stringify(q.errors ?? q.data));
          const l = await gql<any>(stack.gatewayUrl, `{ tasks(first: 20) { totalCount edges { node { createdBy { id } } } } }`, {}, { token });
          if (l.errors?.length || l.data.tasks.edges.some((e: any) => e.node.createdBy?.id !== ownerId)) throw new Error(JSON.stringify(l.errors ?? l.data));
          traffic.ok += 3;
        } catch (err) {
          traffic.failed++;
          traffic.errors.push((err as Error).message.slice(0, 300));
        }
      }
    };
    const clients = Array.from({ length: 3 }, (_, c) => client(c));
    const waitOps = async (n: number) => {
      const target = traffic.ok + n;
      const deadline = Date.now() + 45_000;
      while (traffic.ok < target) {
        if (traffic.failed > 0 || Date.now() > deadline) throw new Error(`traffic: ${traffic.ok} ok, ${traffic.failed} failed: ${traffic.errors.slice(0, 3).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitOps(30);

      // 2. expand while the previous release serves
      const expand = await migrateAll(db.adminUrl, log, { services: ['tasks'], backfillBatchSize: 10 });
      expect(expand.tasks!.applied).toEqual(['7_expand_task_creator_user_id']);
      expect(expand.tasks!.pendingContract).toBe('tasks/0008_contract_task_creator_user_id');
      expect(expand.tasks!.backfilled[0]!.batches).toBeGreaterThanOrEqual(3);
      expect(await columns()).toEqual(['created_by', 'created_by_actor', 'created_by_user_id']);
      await waitOps(30);

      // 3. the new release beside the old one, both behind the balancer
      const legacyServed = () => lb.served.get(`127.0.0.1:${legacyPort}`) ?? 0;
      const newServed = () => lb.served.get(`127.0.0.1:${newPort}`) ?? 0;
      await stack.startProcess({ ...newTasksProcess('tasks-new', newPort), health: { port: newPort, path: '/readyz' } });
      await lb.waitReady([`127.0.0.1:${legacyPort}`, `127.0.0.1:${newPort}`]);
      const [l0, n0] = [legacyServed(), newServed()];
      await waitOps(60);
      expect(legacyServed() - l0).toBeGreaterThan(5);
      expect(newServed() - n0).toBeGreaterThan(5);

      // 4. contract refused while the old release is registered
      const refused = await migrateAll(db.adminUrl, log, { services: ['tasks'], phase: 'contract' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ContractBlockedError);
      expect((refused as Error).message).toMatch(/tasks\/0008_contract_task_creator_user_id refused.*code release-5, schema level 6/);
      expect(await columns()).toContain('created_by');

      // 5. the old release drains away; the contract applies under traffic
      await stack.stopProcess('tasks');
      await lb.waitReady([`127.0.0.1:${newPort}`]);
      await waitOps(15);
      const contract = await migrateAll(db.adminUrl, log, { services: ['tasks'], phase: 'contract' });
      // The contract first; migrations numbered after it (0009_attachments ...) follow in the same run.
      expect(contract.tasks!.applied[0]).toBe('8_contract_task_creator_user_id');
      expect(await columns()).toEqual(['created_by_actor', 'created_by_user_id']);
      await waitOps(30);
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    console.log(
      `expand/contract under traffic: ${traffic.ok} requests ok, ${traffic.failed} failed; served by release 5: ${lb.served.get(`127.0.0.1:${legacyPort}`) ?? 0}, ` +
        `release 7: ${lb.served.get(`127.0.0.1:${newPort}`) ?? 0}; refused connections retried on the other instance: ${lb.retried}`,
    );
    expect(traffic.errors).toEqual([]);
    expect(traffic.failed).toBe(0);
    expect(lb.unavailable).toBe(0);
    const wrong = await admin.query(`SELECT count(*)::int AS n FROM tasks.tasks WHERE created_by_user_id IS DISTINCT FROM $1::uuid`, [ownerId]);
    expect(wrong.rows[0].n).toBe(0);

    // 6. the previous release refuses to start on the contracted schema
    const oldAgain = await stack.startProcess(newTasksProcess('tasks-legacy-again', await freePort(), { TASKS_LEGACY_RELEASE: 'true', COS_CODE_VERSION: 'release-5' }));
    const code = await new Promise<number | null>((r) => oldAgain.child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
  }, 240_000);
});
