import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, startOutboxRelay, subjectFor, type Bus, type OutboxRelay, type RunningConsumer } from '@cos/bus';
import type { StoredEvent } from '@cos/event-store';
import { startAgentsConsumers } from '../src/events/consumers';
import { NOTIFY_CHANNEL } from '../src/projector';
import { workQueuedRuns } from './drive';
import { log, setupAgents, type AgentsHarness } from './harness';
import { testSubjectPrefix } from '@cos/testing';

/** The service wired as in index.ts (consumers, relay) against real NATS JetStream and Postgres; a worker's protocol calls in-process. */
let h: AgentsHarness;
let bus: Bus;
let consumers: RunningConsumer[];
let relay: OutboxRelay;

beforeAll(async () => {
  h = await setupAgents();
  bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: testSubjectPrefix(), name: 'agents-test', log });
  consumers = await startAgentsConsumers({ bus, systemDb: h.systemDb, log, maxAttempts: 3 });
  relay = startOutboxRelay({ bus, db: h.systemDb, service: 'agents', notifyChannel: NOTIFY_CHANNEL, log, pollIntervalMs: 100 });
});
afterAll(async () => {
  await Promise.allSettled((consumers ?? []).map((c) => c.stop()));
  await relay?.stop();
  if (bus) {
    await bus.jsm.streams.delete(bus.streamName).catch(() => {});
    await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
    await bus.close();
  }
  await h?.close();
});

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let version = 0;
async function publish(service: string, orgId: string, streamId: string, type: string, data: unknown) {
  const e: StoredEvent = {
    id: randomUUID(),
    globalPosition: ++version,
    orgId,
    streamId,
    streamType: streamId.split('-')[0]!,
    version,
    type,
    schemaVersion: 1,
    data,
    metadata: { actor: `service:${service}`, correlationId: randomUUID() },
    occurredAt: new Date().toISOString(),
  };
  await bus.js.publish(subjectFor(bus.prefix, service, e), JSON.stringify(e), { msgID: e.id });
  return e;
}

describe('agents over the bus', () => {
  it('organization created -> agents; task assigned -> run queued -> worked -> succeeded; our events are published', async () => {
    const orgId = randomUUID();
    const published: string[] = [];
    const sub = bus.nc.subscribe(`${bus.prefix}.${orgId}.agents.>`, {
      callback: (_err, msg) => {
        published.push(msg.subject.split('.').at(-1)!);
      },
    });
    const org = await publish('identity', orgId, `Organization-${orgId}`, 'OrganizationCreated', { organizationId: orgId, name: 'Bus', slug: 'bus', ownerId: randomUUID() });
    // A redelivered duplicate (same event id) is dropped by JetStream / the inbox.
    await bus.js.publish(subjectFor(bus.prefix, 'identity', org), JSON.stringify(org), { msgID: randomUUID() });
    const agents = await waitFor(
      () => h.systemDb.query<{ id: string; kind: string }>({ orgId }, 'SELECT id, kind FROM agents WHERE org_id = $1', [orgId]),
      (rows) => rows.length === 7,
    );
    const triage = agents.find((a) => a.kind === 'TRIAGE')!.id;
    const taskId = randomUUID();
    await publish('tasks', orgId, `Task-${taskId}`, 'TaskCreated', {
      taskId, title: 'Site is down', description: null, priority: 'LOW', status: 'TODO', customerId: null, assignee: null, createdBy: randomUUID(), dueAt: null,
    });
    await publish('tasks', orgId, `Task-${taskId}`, 'TaskAssigned', { taskId, assignee: { id: triage, kind: 'Agent' }, previous: null });
    await waitFor(() => h.runs(orgId, taskId), (rows) => rows[0]?.status === 'QUEUED');
    expect(await workQueuedRuns(h.db, orgId)).toEqual(['succeeded']);
    const [run] = await waitFor(() => h.runs(orgId, taskId), (rows) => rows[0]?.status === 'SUCCEEDED');
    expect(run!.attempt).toBe(1);
    await waitFor(async () => published, (p) => p.includes('AgentRunSucceeded'));
    sub.unsubscribe();
    expect(published.filter((t) => t === 'AgentCreated')).toHaveLength(7);
    expect(published).toEqual(expect.arrayContaining(['AgentRunQueued', 'AgentRunStarted', 'AgentRunCheckpointed', 'AgentRunSucceeded']));
    expect(await h.runs(orgId, taskId)).toHaveLength(1);
  });
});
