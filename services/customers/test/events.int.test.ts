import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, startOutboxRelay, type Bus, type OutboxRelay } from '@cos/bus';
import type { StoredEvent } from '@cos/event-store';
import { eventStore, NOTIFY_CHANNEL, READ_MODEL_TABLES } from '../src/projector';
import { CREATE, createHarness, log, RECORD, type Harness } from './harness';
import { testSubjectPrefix } from '@cos/testing';

let h: Harness;
let bus: Bus;
let relay: OutboxRelay;
const prefix = testSubjectPrefix();

beforeAll(async () => {
  h = await createHarness();
  bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'customers-test', log });
  relay = startOutboxRelay({ bus, db: h.systemDb, service: 'customers', notifyChannel: NOTIFY_CHANNEL, log, pollIntervalMs: 200 });
});
afterAll(async () => {
  await relay?.stop();
  await bus?.close();
  await h?.close();
});

describe('events leave through the outbox', () => {
  it('publishes CustomerCreated, SignalRecorded, HealthScoreChanged and ChurnRiskFlagged on tenant subjects', async () => {
    const p = h.user('OWNER');
    const received: StoredEvent[] = [];
    const sub = bus.nc.subscribe(`${prefix}.${p.orgId}.customers.>`);
    void (async () => {
      for await (const m of sub) received.push(m.json<StoredEvent>());
    })();
    const { createCustomer } = await h.ok<{ createCustomer: { id: string } }>(p, CREATE, { input: { name: 'Wayne', ownerId: randomUUID() } });
    await h.ok(p, RECORD, { id: createCustomer.id, input: { kind: 'NPS', value: 1 } });
    const deadline = Date.now() + 10_000;
    while (received.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sub.unsubscribe();
    expect(received.map((e) => e.type)).toEqual(['CustomerCreated', 'SignalRecorded', 'HealthScoreChanged', 'ChurnRiskFlagged']);
    expect(received[3]).toMatchObject({
      orgId: p.orgId,
      streamId: `Customer-${createCustomer.id}`,
      streamType: 'Customer',
      version: 4,
      data: { customerId: createCustomer.id, name: 'Wayne', score: 10, episode: 1 },
      metadata: { actor: `user:${(p as { userId: string }).userId}`, causationId: null },
    });
  });
});

describe('rebuild', () => {
  it('truncating the read models and replaying the events reproduces them exactly', async () => {
    const p = h.user('OWNER');
    for (let i = 0; i < 3; i++) {
      const { createCustomer } = await h.ok<{ createCustomer: { id: string } }>(p, CREATE, {
        input: { name: `R${i}`, mrr: i * 10, contacts: [{ name: 'X', email: 'x@example.com' }] },
      });
      await h.ok(p, RECORD, { id: createCustomer.id, input: { kind: 'PRODUCT_USAGE', value: 0.3 * i } });
      await h.ok(p, RECORD, { id: createCustomer.id, input: { kind: 'SUPPORT_TICKET', value: 3, note: `ticket ${i}` } });
    }
    const snapshot = () =>
      h.systemDb.tx({ orgId: null }, async (tx) => {
        const out: Record<string, unknown[]> = {};
        for (const t of READ_MODEL_TABLES) out[t] = await tx.query(`SELECT * FROM ${t} ORDER BY id`);
        return out;
      });
    const before = await snapshot();
    expect(before.health_scores!.length).toBeGreaterThanOrEqual(6);
    const replayed = await h.systemDb.tx({ orgId: null }, async (tx) => {
      // The system role may DELETE but not TRUNCATE (migrate grants DML only).
      for (const t of READ_MODEL_TABLES) await tx.query(`DELETE FROM ${t}`);
      return eventStore.replayAll(tx);
    });
    expect(replayed).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
  });
});
