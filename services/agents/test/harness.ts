import { randomUUID } from 'node:crypto';
import { createPool, Db } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import type { IdentityEvent, TaskEvent } from '@cos/events';
import { createLogger } from '@cos/logger';
import { createTestDatabase, migrateService, TEST_INTERNAL_SECRET } from '@cos/testing';
import { createIdentityReactor } from '../src/events/reactors/identity';
import { createTasksReactor } from '../src/events/reactors/tasks';
import { createServer } from '../src/server';

export const log = createLogger('agents-test', 'silent');

/** A fresh database with the agents schema, both role pools, the reactors and an in-process server. */
export async function setupAgents(opts: { maxAttempts?: number; retry?: { baseMs: number; maxMs: number } } = {}) {
  const tdb = await createTestDatabase();
  const cfg = await migrateService(tdb, 'agents');
  const base = { schema: cfg.schema, statementTimeoutMs: 5_000 };
  const db = new Db(createPool({ ...base, connectionString: cfg.runtimeUrl, applicationName: 'agents-test', max: 5 }));
  const systemDb = new Db(createPool({ ...base, connectionString: cfg.systemUrl, applicationName: 'agents-test-system', max: 6 }));
  const maxAttempts = opts.maxAttempts ?? 3;
  const identity = createIdentityReactor({ log });
  const tasks = createTasksReactor({ log, maxAttempts });
  const server = createServer({ db, log, internalSecret: TEST_INTERNAL_SECRET, maxAttempts, retry: opts.retry });
  // yoga's overloaded fetch does not match @cos/testing's narrow signature; adapt it.
  const subgraph = { fetch: (input: string, init?: RequestInit) => server.yoga.fetch(input, init ?? {}) };

  let position = 0;
  function stored<E extends IdentityEvent | TaskEvent>(orgId: string, service: string, streamId: string, event: E): StoredEvent {
    return {
      id: randomUUID(),
      globalPosition: ++position,
      orgId,
      streamId,
      streamType: streamId.split('-')[0]!,
      version: 1,
      type: event.type,
      schemaVersion: 1,
      data: event.data,
      metadata: { actor: `service:${service}`, correlationId: randomUUID() },
      occurredAt: new Date().toISOString(),
    };
  }

  /** Delivers an event to a reactor the way the consumer does: one system-role transaction, tenant set. */
  const deliverIdentity = (orgId: string, e: IdentityEvent) =>
    systemDb.tx({ orgId }, (tx) => identity(tx, stored(orgId, 'identity', `Organization-${orgId}`, e)));
  const deliverTasks = (orgId: string, e: TaskEvent, streamId = `Task-${randomUUID()}`) =>
    systemDb.tx({ orgId }, (tx) => tasks(tx, stored(orgId, 'tasks', streamId, e)));

  async function createOrg(orgId = randomUUID()) {
    await deliverIdentity(orgId, {
      type: 'OrganizationCreated',
      data: { organizationId: orgId, name: 'Acme', slug: `acme-${orgId.slice(0, 6)}`, ownerId: randomUUID() },
    });
    const agents = await systemDb.query<{ id: string; kind: string }>({ orgId }, 'SELECT id, kind FROM agents WHERE org_id = $1', [orgId]);
    const byKind = Object.fromEntries(agents.map((a) => [a.kind, a.id])) as Record<string, string>;
    return { orgId, agents: byKind };
  }

  async function createTask(orgId: string, title: string, assignee: { id: string; kind: 'User' | 'Agent' } | null = null, description: string | null = null) {
    const taskId = randomUUID();
    await deliverTasks(
      orgId,
      {
        type: 'TaskCreated',
        data: { taskId, title, description, priority: 'MEDIUM', status: 'TODO', customerId: null, assignee, createdBy: randomUUID(), dueAt: null },
      },
      `Task-${taskId}`,
    );
    return taskId;
  }

  const runs = (orgId: string, taskId: string) =>
    systemDb.query<{ id: string; status: string; attempt: number; error: string | null; dead_lettered: boolean; agent_id: string }>(
      { orgId },
      'SELECT id, status, attempt, error, dead_lettered, agent_id FROM agent_runs WHERE task_id = $1 ORDER BY created_at',
      [taskId],
    );
  const runRow = async (runId: string) =>
    (await systemDb.query<{ status: string; attempt: number; error: string | null; dead_lettered: boolean; worker_id: string | null; lease_until: Date | null; org_id: string }>(
      { orgId: null },
      'SELECT status, attempt, error, dead_lettered, worker_id, lease_until, org_id FROM agent_runs WHERE id = $1',
      [runId],
    ))[0]!;
  const checkpoints = (runId: string) =>
    systemDb.query<{ seq: number; state: { step: string; data: Record<string, unknown> } }>(
      { orgId: null },
      'SELECT seq, state FROM checkpoints WHERE run_id = $1 ORDER BY seq',
      [runId],
    );
  const eventTypes = async (runId: string) =>
    (
      await systemDb.query<{ type: string }>({ orgId: null }, 'SELECT type FROM events WHERE stream_id = $1 ORDER BY version', [`AgentRun-${runId}`])
    ).map((r) => r.type);

  return {
    tdb,
    db,
    systemDb,
    server,
    subgraph,
    stored,
    deliverIdentity,
    deliverTasks,
    createOrg,
    createTask,
    runs,
    runRow,
    checkpoints,
    eventTypes,
    async close() {
      await Promise.allSettled([db.close(), systemDb.close()]);
      await tdb.drop();
    },
  };
}

export type AgentsHarness = Awaited<ReturnType<typeof setupAgents>>;
