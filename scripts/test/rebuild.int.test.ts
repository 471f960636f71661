/**
 * `pnpm run rebuild <service>`: populate each service's read models through the service itself (in-process GraphQL
 * and its reactors), snapshot them, tamper with them (a changed row, a stray row), rebuild from the events as the
 * admin, and compare: the rebuilt tables equal the live ones; operational tables are untouched.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { createPool, Db, quoteIdent } from '@cos/db';
import { createLogger } from '@cos/logger';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET, userPrincipal, type TestDatabase } from '@cos/testing';
import { loadProjections, rebuild } from '../rebuild';
import { repoRoot, type ServiceName } from '../lib/paths';
import { createServer as createTasksServer } from '../../services/tasks/src/server';
import { createAgentsReactor } from '../../services/tasks/src/events/reactors/agents';
import { createServer as createCustomersServer } from '../../services/customers/src/server';
import { createServer as createIdentityServer } from '../../services/identity/src/server';
import { ensureActiveSigningKey, KeyRing } from '../../services/identity/src/auth/keyring';
import { createIdentityReactor } from '../../services/agents/src/events/reactors/identity';
import { createTasksReactor } from '../../services/agents/src/events/reactors/tasks';
import { workQueuedRuns } from '../../services/agents/test/drive';

/** A stored event as the bus delivers it (the type lives in @cos/event-store, not a root dependency). */
type StoredEvent = Parameters<ReturnType<typeof createAgentsReactor>>[1];

const log = createLogger('rebuild-test', 'silent');
let tdb: TestDatabase;
const pools: Db[] = [];
const dbs = {} as Record<ServiceName, { db: Db; systemDb: Db }>;

beforeAll(async () => {
  tdb = await createTestDatabase('cos_rebuild');
  for (const svc of ['identity', 'tasks', 'customers', 'agents'] as const) {
    const cfg = await migrateService(tdb, svc);
    const mk = (url: string, name: string) => {
      const d = new Db(createPool({ connectionString: url, schema: cfg.schema, applicationName: name, max: 4, statementTimeoutMs: 10_000 }));
      pools.push(d);
      return d;
    };
    dbs[svc] = { db: mk(cfg.runtimeUrl, `${svc}-rebuild-test`), systemDb: mk(cfg.systemUrl, `${svc}-rebuild-test-system`) };
  }
});
afterAll(async () => {
  await Promise.allSettled(pools.map((p) => p.close()));
  await tdb?.drop();
});

const fetchOf = (yoga: { fetch: (input: string, init: RequestInit) => Response | Promise<Response> }) => ({
  fetch: (input: string, init?: RequestInit) => yoga.fetch(input, init ?? {}),
});
async function ok<T = Record<string, any>>(sub: ReturnType<typeof fetchOf>, p: Principal, query: string, vars: Record<string, unknown> = {}): Promise<T> {
  const r = await execSubgraph<T>(sub, p, query, vars);
  if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
  return r.data as T;
}

/** Every read-model row as JSON, in a stable order, as the superuser. */
async function snapshot(svc: ServiceName, extraTables: string[] = [], ignore: Record<string, string[]> = {}): Promise<Record<string, unknown[]>> {
  const { READ_MODEL_TABLES } = await loadProjections(svc);
  const admin = new Db(createPool({ connectionString: tdb.adminUrl, schema: svc, applicationName: 'rebuild-test-admin', max: 1, statementTimeoutMs: 10_000 }));
  try {
    const out: Record<string, unknown[]> = {};
    for (const t of [...READ_MODEL_TABLES, ...extraTables]) {
      const row = `(to_jsonb(t)${(ignore[t] ?? []).map((c) => ` - '${c}'`).join('')})`;
      out[t] = (await admin.withClient((tx) => tx.query<{ r: unknown }>(`SELECT ${row} AS r FROM ${quoteIdent(t)} t ORDER BY ${row}::text`))).map((x) => x.r);
    }
    return out;
  } finally {
    await admin.close();
  }
}
async function adminSql(svc: ServiceName, sql: string, params: unknown[] = []) {
  const admin = new Db(createPool({ connectionString: tdb.adminUrl, schema: svc, applicationName: 'rebuild-test-admin', max: 1, statementTimeoutMs: 10_000 }));
  try {
    return await admin.withClient((tx) => tx.query(sql, params));
  } finally {
    await admin.close();
  }
}

/**
 * Snapshot, tamper, rebuild, compare. `populated` tables must have rows (so the comparison means something);
 * `operational` tables are compared too but must come through untouched; `ignore` drops columns the projector
 * does not own (e.g. agents' heartbeat and lease columns, written by the worker protocol as operational state).
 */
async function expectRebuildRestores(
  svc: ServiceName,
  o: { tamper: string[]; populated: string[]; operational?: string[]; ignore?: Record<string, string[]> },
) {
  const extra = o.operational ?? [];
  const live = await snapshot(svc, extra, o.ignore);
  for (const t of o.populated) expect(live[t]?.length, `${svc}.${t} is empty: populate it`).toBeGreaterThan(0);
  for (const sql of o.tamper) await adminSql(svc, sql);
  expect(await snapshot(svc, extra, o.ignore)).not.toEqual(live);
  const r = await rebuild(svc, tdb.adminUrl);
  expect(r.events).toBeGreaterThan(0);
  expect(r.tables.map((t) => t.after)).toEqual(r.tables.map((t) => live[t.table]!.length));
  expect(await snapshot(svc, extra, o.ignore)).toEqual(live);
}

describe('pnpm run rebuild <service>', () => {
  const orgId = randomUUID();
  const owner = userPrincipal(randomUUID(), orgId, 'OWNER');

  it('tasks: tasks, comments and approvals are rebuilt identically', async () => {
    const { db, systemDb } = dbs.tasks;
    const sub = fetchOf(createTasksServer({ db, internalSecret: TEST_INTERNAL_SECRET, log }).yoga);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await ok(sub, owner, `mutation($t: String!) { createTask(input: { title: $t, priority: HIGH, assigneeId: "${owner.kind === 'user' ? owner.userId : ''}" }) { id } }`, { t: `Task ${i}` });
      ids.push(c.createTask.id);
    }
    await ok(sub, owner, `mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Renamed", description: "d" }) { id } }`, { id: ids[0] });
    await ok(sub, owner, `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 1, status: IN_PROGRESS) { id } }`, { id: ids[1] });
    await ok(sub, owner, `mutation($id: ID!) { assignTask(id: $id, assigneeId: null) { id } }`, { id: ids[2] });
    await ok(sub, owner, `mutation($id: ID!) { addComment(taskId: $id, body: "first") { id } }`, { id: ids[3] });
    // An agent asks for approval (reaction 4, through the reactor), and a person decides it.
    const agentId = randomUUID();
    const react = createAgentsReactor(log);
    const approvalEvent: StoredEvent = {
      id: randomUUID(), globalPosition: 1, orgId, streamId: `AgentRun-${randomUUID()}`, streamType: 'AgentRun', version: 3,
      type: 'AgentRunApprovalRequested', schemaVersion: 1,
      data: { runId: randomUUID(), agentId, taskId: ids[3], action: 'support.sendReply', payload: { draft: 'hi' } },
      metadata: { actor: 'service:agents', correlationId: randomUUID() }, occurredAt: new Date().toISOString(),
    };
    await systemDb.tx({ orgId }, (tx) => react(tx, approvalEvent));
    await ok(sub, owner, `mutation($id: ID!) { decideApproval(id: $id, approve: false, reason: "not now") { status } }`, { id: approvalEvent.id });

    await expectRebuildRestores('tasks', { populated: ['tasks', 'comments', 'approvals'], operational: ['inbox', 'members'], tamper: [
      `UPDATE tasks SET title = 'tampered', version = 99 WHERE id = '${ids[0]}'`,
      `DELETE FROM comments`,
      `UPDATE approvals SET status = 'PENDING'`,
      `INSERT INTO tasks (id, org_id, title, status, priority, version, created_by_actor, created_at, updated_at)
         VALUES ('${randomUUID()}', '${orgId}', 'stray', 'TODO', 'LOW', 1, 'x', now(), now())`,
    ] });
  });

  it('customers: customers, contacts, signals and health scores are rebuilt identically', async () => {
    const sub = fetchOf(createCustomersServer({ db: dbs.customers.db, log, internalSecret: TEST_INTERNAL_SECRET }).yoga);
    const c = await ok(sub, owner, `mutation { createCustomer(input: { name: "Globex", domain: "globex.example", plan: "growth", mrr: 1234.5,
      contacts: [{ name: "Hank", email: "hank@globex.example" }] }) { id } }`);
    const id = c.createCustomer.id;
    for (const [kind, value] of [['PRODUCT_USAGE', 0.9], ['NPS', 3], ['SUPPORT_TICKET', 4], ['PRODUCT_USAGE', 0.05], ['PAYMENT_FAILED', 1]] as const) {
      await ok(sub, owner, `mutation($id: ID!, $k: SignalKind!, $v: Float!) { recordSignal(customerId: $id, input: { kind: $k, value: $v }) { score } }`, { id, k: kind, v: value });
    }
    await expectRebuildRestores('customers', {
      populated: ['customers', 'contacts', 'signals', 'health_scores'],
      // customers consumes no events (no inbox): its operational state is the contacts' data keys.
      operational: ['pii_keys'],
      tamper: [`UPDATE customers SET name = 'tampered'`, `DELETE FROM health_scores`],
    });
  });

  it('identity: organizations, users, memberships, invitations and API keys; credentials and sessions are kept', async () => {
    const { db, systemDb } = dbs.identity;
    await ensureActiveSigningKey(systemDb);
    const server = createIdentityServer({
      db, systemDb, log, keys: new KeyRing(systemDb, { accessTokenTtlS: 900, cacheMs: 0 }),
      config: { internalSecret: TEST_INTERNAL_SECRET, refreshTokenTtlS: 3600, invitationTtlS: 3600, inviteUrlBase: 'http://app.test/accept' },
    });
    const sub = fetchOf(server.yoga);
    const s = await ok(sub, { kind: 'anonymous' }, `mutation { signUp(input: { email: "rebuild@example.test", password: "correct-horse-42", name: "Rita", organizationName: "Rebuilders" }) { user { id } organization { id } } }`);
    const p = userPrincipal(s.signUp.user.id, s.signUp.organization.id, 'OWNER');
    const inv = await ok(sub, p, `mutation { inviteMember(email: "new@example.test", name: "Nia", role: MEMBER) { user { id } } }`);
    await ok(sub, p, `mutation { createApiKey(name: "partner", scopes: ["tasks:read"]) { secret } }`);
    await ok(sub, p, `mutation($u: ID!) { changeRole(userId: $u, role: VIEWER) { role } }`, { u: inv.inviteMember.user.id }).catch(() => undefined);
    const operational = ['user_credentials', 'refresh_tokens', 'api_key_credentials'];
    await expectRebuildRestores('identity', {
      populated: ['organizations', 'users', 'memberships', 'invitations', 'api_keys', ...operational],
      operational,
      tamper: [`DELETE FROM memberships`, `UPDATE users SET name = 'tampered'`],
    });
  });

  it('agents: agents, runs and checkpoints (fed by reactions and workers) are rebuilt identically', async () => {
    const { systemDb } = dbs.agents;
    const identity = createIdentityReactor({ log });
    const tasks = createTasksReactor({ log, maxAttempts: 3 });
    const ev = (type: string, data: unknown, streamId: string): StoredEvent => ({
      id: randomUUID(), globalPosition: 1, orgId, streamId, streamType: streamId.split('-')[0]!, version: 1, type, schemaVersion: 1, data,
      metadata: { actor: 'service:test', correlationId: randomUUID() }, occurredAt: new Date().toISOString(),
    });
    await systemDb.tx({ orgId }, (tx) => identity(tx, ev('OrganizationCreated', { organizationId: orgId, name: 'Acme', slug: 'acme', ownerId: randomUUID() }, `Organization-${orgId}`)));
    const agents = await systemDb.query<{ id: string; kind: string }>({ orgId }, 'SELECT id, kind FROM agents');
    const triage = agents.find((a) => a.kind === 'TRIAGE')!.id;
    const taskId = randomUUID();
    await systemDb.tx({ orgId }, (tx) =>
      tasks(tx, ev('TaskCreated', { taskId, title: 'Outage in EU', description: null, priority: 'MEDIUM', status: 'TODO', customerId: null, assignee: { id: triage, kind: 'Agent' }, createdBy: randomUUID(), dueAt: null }, `Task-${taskId}`)),
    );
    expect(await workQueuedRuns(systemDb, orgId)).toEqual(['succeeded']);
    await expectRebuildRestores('agents', {
      populated: ['agents', 'agent_runs', 'checkpoints'],
      operational: ['inbox', 'known_tasks'],
      ignore: { agent_runs: ['last_heartbeat_at', 'lease_until', 'lease_ms'] },
      tamper: [`DELETE FROM checkpoints`, `UPDATE agent_runs SET status = 'FAILED'`],
    });
  });

  it('rolls everything back when the replay fails', async () => {
    const before = await snapshot('tasks');
    await expect(
      rebuild('tasks', tdb.adminUrl, {
        projections: { READ_MODEL_TABLES: ['attachments', 'approvals', 'comments', 'tasks'], eventStore: { replayAll: async () => Promise.reject(new Error('projector bug')) } },
      }),
    ).rejects.toThrow('projector bug');
    expect(await snapshot('tasks')).toEqual(before);
  });

  it('the command: `pnpm run rebuild tasks` prints the counts; an unknown service exits 2 with the usage', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/rebuild.ts'), ...args], {
          env: { ...process.env, COS_PG_ADMIN_URL: tdb.adminUrl },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const before = await snapshot('tasks');
    const okRun = await run(['tasks']);
    expect(okRun.code, okRun.out).toBe(0);
    expect(okRun.out).toMatch(/rebuilt tasks \(schema tasks\): replayed \d+ events/);
    expect(okRun.out).toMatch(/tasks\s+\d+ ->\s+\d+ rows/);
    expect(await snapshot('tasks')).toEqual(before);
    const bad = await run(['nope']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('usage: pnpm run rebuild');
  }, 30_000);
});
