import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tx } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import {
  listDeadLetters,
  replayDeadLetter,
  startConsumer,
  startOutboxRelay,
  type Bus,
  type BusMetrics,
  type OutboxRelay,
  type RunningConsumer,
} from '../src';
import { appendEvents, createHarness, effects, log, waitFor, type Harness } from './harness';

let h: Harness;
let relay: OutboxRelay;
const running: RunningConsumer[] = [];

beforeAll(async () => {
  h = await createHarness();
  relay = startOutboxRelay({ bus: h.bus, db: h.db, service: 'bus', notifyChannel: 'bus_events', log, pollIntervalMs: 200 });
});
afterAll(async () => {
  for (const c of running) await c.stop();
  await relay?.stop();
  await h?.teardown();
});

/** A consumer whose effect is one `effects` row per handled event (in the handler's transaction). */
async function consumer(
  name: string,
  opts: { bus?: Bus; org?: string; calls?: StoredEvent[]; fail?: (e: StoredEvent) => string | null; metrics?: BusMetrics } = {},
) {
  const c = await startConsumer({
    bus: opts.bus ?? h.bus,
    db: h.db,
    service: 'bus',
    name,
    filterSubject: `${h.prefix}.${opts.org ?? '*'}.bus.>`,
    log,
    maxDeliver: 3,
    backoffMs: [50, 100],
    batchSize: 2,
    fetchExpiresMs: 1_000,
    metrics: opts.metrics,
    handle: async (tx: Tx, e) => {
      opts.calls?.push(e);
      const reason = opts.fail?.(e);
      if (reason) throw new Error(reason);
      await tx.query('INSERT INTO effects (consumer, event_id, stream_id, version) VALUES ($1, $2, $3, $4)', [
        `bus-${name}`,
        e.id,
        e.streamId,
        e.version,
      ]);
    },
  });
  running.push(c);
  return c;
}

const eventRow = (id: string) =>
  h.db.tx({ orgId: null }, (tx) =>
    tx.one<{ published: boolean }>(
      'SELECT published_at IS NOT NULL AS published FROM events WHERE id = $1',
      [id],
    ),
  );

describe('durable consumer', () => {
  it('handles each event once and keeps each stream in order', async () => {
    const org = randomUUID();
    await consumer('order', { org });
    const a = `Task-${randomUUID()}`;
    const b = `Task-${randomUUID()}`;
    for (let i = 0; i < 4; i++) {
      await appendEvents(h.db, org, a, ['Step'], i);
      await appendEvents(h.db, org, b, ['Step'], i);
    }
    const rows = await waitFor(() => effects(h.db, 'bus-order'), (r) => r.length >= 8);
    await new Promise((r) => setTimeout(r, 300));
    expect((await effects(h.db, 'bus-order')).length).toBe(8);
    expect(rows.filter((r) => r.stream_id === a).map((r) => r.version)).toEqual([1, 2, 3, 4]);
    expect(rows.filter((r) => r.stream_id === b).map((r) => r.version)).toEqual([1, 2, 3, 4]);
  });

  it('a relay crash between publish and mark, and a re-send after the duplicate window, still take effect once', async () => {
    const org = randomUUID();
    const calls: StoredEvent[] = [];
    await consumer('crash', { org, calls });
    const [id] = await appendEvents(h.db, org, `Task-${randomUUID()}`, ['TaskCreated']);
    await relay.flush();
    // The relay got its PubAck but "crashed" before its UPDATE: the event looks unpublished again.
    await relay.stop();
    await h.db.tx({ orgId: null }, (tx) => tx.query('UPDATE events SET published_at = NULL WHERE id = $1', [id]));
    // A copy sent after the duplicate window would have expired (a different msg id): only the inbox can stop it.
    const info0 = await h.bus.jsm.streams.info(h.bus.streamName);
    const original = (await h.bus.jsm.streams.getMessage(h.bus.streamName, { seq: info0.state.last_seq }))!;
    expect(original.header.get('Cos-Event-Id')).toBe(id);
    await h.bus.js.publish(original.subject, original.data, { msgID: `${id}:late`, headers: original.header });
    relay = startOutboxRelay({ bus: h.bus, db: h.db, service: 'bus', notifyChannel: 'bus_events', log, pollIntervalMs: 200 });
    await waitFor(async () => (await relay.flush(), eventRow(id!)), (r) => r?.published === true);
    expect((await h.bus.jsm.streams.info(h.bus.streamName)).state.last_seq).toBe(info0.state.last_seq + 1); // re-publish dropped
    await waitFor(() => effects(h.db, 'bus-crash'), (r) => r.length >= 1);
    await waitFor(() => h.bus.jsm.consumers.info(h.bus.streamName, 'bus-crash'), (i) => i.num_pending === 0 && i.num_ack_pending === 0);
    expect(await effects(h.db, 'bus-crash')).toHaveLength(1);
    expect(calls).toHaveLength(1); // the broker dropped the relay's re-publish; the inbox skipped the late copy
    // tracing off (no SDK registered): the handler sees the event's own trace context, untouched
    expect(calls[0]!.metadata.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const inbox = await h.db.tx({ orgId: null }, (tx) => tx.query('SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2', ['bus-crash', id]));
    expect(inbox).toHaveLength(1);
  });

  it('dead-letters an event after maxDeliver failures with the reason, and a replay after the fix applies it once', async () => {
    const org = randomUUID();
    const calls: StoredEvent[] = [];
    let broken = true;
    const bystander: StoredEvent[] = [];
    await consumer('bystander', { org, calls: bystander });
    const processed: string[] = [];
    const deadMetric: string[] = [];
    const metrics: BusMetrics = { onProcessed: (c, lag) => void (lag >= 0 && processed.push(c)), onDeadLetter: (c) => void deadMetric.push(c) };
    await consumer('poison', { org, calls, metrics, fail: (e) => (broken && e.type === 'Bad' ? 'upstream said: no\nsecond line' : null) });
    const [goodId] = await appendEvents(h.db, org, `Task-${randomUUID()}`, ['Good']);
    const [badId] = await appendEvents(h.db, org, `Task-${randomUUID()}`, ['Bad']);

    const dead = await waitFor(() => listDeadLetters(h.bus, { service: 'bus' }), (d) => d.some((x) => x.eventId === badId));
    const dl = dead.find((x) => x.eventId === badId)!;
    expect(calls.filter((e) => e.id === badId)).toHaveLength(3);
    expect(deadMetric).toEqual(['bus-poison']);
    expect(processed).toEqual(['bus-poison']);
    expect(dl).toMatchObject({
      service: 'bus',
      consumer: 'bus-poison',
      subject: `${h.prefix}dlq.bus.poison`,
      originalSubject: `${h.prefix}.${org}.bus.Task.Bad`,
      eventType: 'Bad',
      error: 'upstream said: no second line',
      deliveryCount: 3,
    });
    expect(JSON.parse(dl.body)).toMatchObject({ id: badId, type: 'Bad' });
    expect((await effects(h.db, 'bus-poison')).map((r) => r.event_id)).toEqual([goodId]);
    // Terminated: no further deliveries.
    await new Promise((r) => setTimeout(r, 400));
    expect(calls.filter((e) => e.id === badId)).toHaveLength(3);

    broken = false;
    const replayed = await replayDeadLetter(h.bus, dl.seq);
    expect(replayed.map((x) => x.eventId)).toEqual([badId]);
    await waitFor(() => effects(h.db, 'bus-poison'), (r) => r.length >= 2);
    await new Promise((r) => setTimeout(r, 400));
    expect((await effects(h.db, 'bus-poison')).map((r) => r.event_id)).toEqual([goodId, badId]);
    expect(calls.filter((e) => e.id === badId)).toHaveLength(4);
    expect(calls.filter((e) => e.id === goodId)).toHaveLength(1);
    // Every consumer of the subject got the replayed message; the bystander's inbox kept its effect single.
    const replaySeq = (await h.bus.jsm.streams.info(h.bus.streamName)).state.last_seq;
    await waitFor(() => h.bus.jsm.consumers.info(h.bus.streamName, 'bus-bystander'), (i) => i.ack_floor.stream_seq >= replaySeq);
    expect(bystander.filter((e) => e.id === badId)).toHaveLength(1);
    expect((await effects(h.db, 'bus-bystander')).map((r) => r.event_id)).toEqual([goodId, badId]);
    expect((await listDeadLetters(h.bus)).some((x) => x.seq === dl.seq)).toBe(false);
    await expect(replayDeadLetter(h.bus, dl.seq)).rejects.toThrow(/no dead letter/);
  });

  it('two instances of one durable share the work without double processing', async () => {
    const org = randomUUID();
    const other = await h.connect();
    const callsA: StoredEvent[] = [];
    const callsB: StoredEvent[] = [];
    await consumer('shared', { org, calls: callsA });
    await consumer('shared', { org, calls: callsB, bus: other });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(...(await appendEvents(h.db, org, `Task-${randomUUID()}`, ['TaskCreated', 'TaskAssigned'])));
    const rows = await waitFor(() => effects(h.db, 'bus-shared'), (r) => r.length >= 20);
    await new Promise((r) => setTimeout(r, 300));
    expect((await effects(h.db, 'bus-shared')).map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(rows).toHaveLength(20);
    expect(callsA.length + callsB.length).toBe(20);
  });

  it('a restarted consumer resumes where it stopped', async () => {
    const org = randomUUID();
    const first: StoredEvent[] = [];
    const c = await consumer('resume', { org, calls: first });
    const before = await appendEvents(h.db, org, `Task-${randomUUID()}`, ['A', 'B', 'C']);
    await waitFor(() => effects(h.db, 'bus-resume'), (r) => r.length >= 3);
    await c.stop();
    const after = await appendEvents(h.db, org, `Task-${randomUUID()}`, ['D', 'E']);
    await relay.flush();
    const second: StoredEvent[] = [];
    await consumer('resume', { org, calls: second });
    await waitFor(() => effects(h.db, 'bus-resume'), (r) => r.length >= 5);
    await new Promise((r) => setTimeout(r, 300));
    expect(first.map((e) => e.id)).toEqual(before);
    expect(second.map((e) => e.id)).toEqual(after); // nothing redelivered: the acks were durable
    expect((await effects(h.db, 'bus-resume')).map((r) => r.event_id)).toEqual([...before, ...after]);
  });
});
