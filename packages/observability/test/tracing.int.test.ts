import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startConsumer, startOutboxRelay, type OutboxRelay, type RunningConsumer } from '@cos/bus';
import { createHarness, log, waitFor, type Harness } from '../../bus/test/harness';
import { currentTraceparent, initTracing, instrumentFetch, traceQueries, useTracing, type Tracing } from '../src';

/**
 * One trace across a "gateway" and a "subgraph" (two HTTP servers, real sockets), the subgraph's SQL, the outbox
 * relay's NATS message, the consumer that reacts to it and the event that reaction appends — relayed and consumed
 * in turn (real Postgres and JetStream), exported in memory.
 */
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let h: Harness;
let relay: OutboxRelay;
let consumer: RunningConsumer;
let failing: RunningConsumer;
const servers: Server[] = [];
const handled: string[] = [];
const reactions = new Map<string, string>(); // triggering event id -> the reaction event's id

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/graphql`;
}

beforeAll(async () => {
  tracing = initTracing({ service: 'tracing-test', exporter });
  h = await createHarness();
  traceQueries(h.db, 'bus');
  relay = startOutboxRelay({ bus: h.bus, db: h.db, service: 'bus', notifyChannel: 'bus_events', log, pollIntervalMs: 100 });
  consumer = await startConsumer({
    bus: h.bus,
    db: h.db,
    service: 'bus',
    name: 'traced',
    filterSubject: `${h.prefix}.*.bus.>`,
    log,
    fetchExpiresMs: 1_000,
    handle: async (tx, e) => {
      await tx.query('/* reactToEvent */ INSERT INTO effects (consumer, event_id, stream_id, version) VALUES ($1, $2, $3, $4)', [
        'traced',
        e.id,
        e.streamId,
        e.version,
      ]);
      if (e.type === 'TaskCreated') {
        // What services' reactors do: append an event whose metadata is derived from the incoming one
        // (reactionMetadata copies metadata.traceparent).
        const id = randomUUID();
        await tx.query(
          `/* appendReaction */ INSERT INTO events (id, org_id, stream_id, stream_type, version, type, data, metadata)
           VALUES ($1, $2, $3, 'FollowUp', 1, 'FollowUpOpened', '{}', $4)`,
          [id, e.orgId, `FollowUp-${randomUUID()}`, JSON.stringify({ actor: 'service:test', correlationId: e.metadata.correlationId, causationId: e.id, traceparent: e.metadata.traceparent })],
        );
        await tx.query(`/* notify */ SELECT pg_notify('bus_events', 'x')`);
        reactions.set(e.id, id);
      }
      handled.push(e.id);
    },
  });
  // Fails every delivery of Poison events: retried once, then dead-lettered.
  failing = await startConsumer({
    bus: h.bus,
    db: h.db,
    service: 'bus',
    name: 'failing',
    filterSubject: `${h.prefix}.*.bus.Poison.>`,
    log,
    maxDeliver: 2,
    backoffMs: [50],
    fetchExpiresMs: 1_000,
    handle: async () => {
      throw new Error('handler says no');
    },
  });
}, 30_000);

afterAll(async () => {
  await consumer?.stop();
  await failing?.stop();
  await relay?.stop();
  for (const s of servers) s.close();
  await h?.teardown();
  await tracing?.shutdown();
});

it('links gateway → subgraph → SQL → NATS → consumer → SQL in one trace', async () => {
  const orgId = randomUUID();
  // The "subgraph": appends an event carrying the active traceparent in its metadata (what services do via
  // ctx.traceparent), inside a transaction whose statements become spans.
  const subgraph = createYoga({
    plugins: [useTracing({ service: 'subgraph' })],
    schema: createSchema({
      typeDefs: 'type Query { ping: String } type Mutation { act: ID! }',
      resolvers: {
        Mutation: {
          act: async () => {
            const id = randomUUID();
            await h.db.tx({ orgId }, async (tx) => {
              await tx.query(
                `/* appendEvent */ INSERT INTO events (id, org_id, stream_id, stream_type, version, type, data, metadata)
                 VALUES ($1, $2, $3, 'Task', 1, 'TaskCreated', '{}', $4)`,
                [id, orgId, `Task-${randomUUID()}`, JSON.stringify({ actor: 'test', correlationId: id, traceparent: currentTraceparent() })],
              );
              await tx.query(`/* notify */ SELECT pg_notify('bus_events', 'x')`);
            });
            return id;
          },
        },
      },
    }),
  });
  const subgraphUrl = await listen(subgraph);
  const fetchSubgraph = instrumentFetch('sub', (url: string, init?: { headers?: Record<string, string>; body?: string; method?: string }) =>
    fetch(url, init),
  );
  const fetched: Array<[string, number, string]> = [];
  const observedFetch = instrumentFetch('sub', fetchSubgraph, (s, secs, outcome) => fetched.push([s, secs, outcome]));
  const gateway = createYoga({
    plugins: [useTracing({ service: 'gateway' })],
    schema: createSchema({
      typeDefs: 'type Query { ping: String } type Mutation { act: ID! }',
      resolvers: {
        Mutation: {
          act: async () => {
            const res = await observedFetch(subgraphUrl, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ query: 'mutation Act { act }' }),
            });
            return ((await (res as Response).json()) as { data: { act: string } }).data.act;
          },
        },
      },
    }),
  });
  const gatewayUrl = await listen(gateway);

  const clientTrace = 'a'.repeat(32);
  const res = await fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${clientTrace}-${'b'.repeat(16)}-01` },
    body: JSON.stringify({ query: 'mutation DoIt { act }' }),
  });
  const body = (await res.json()) as { data: { act: string } };
  const eventId = body.data.act;
  await waitFor(async () => handled, (x) => x.includes(eventId) && !!reactions.get(eventId) && x.includes(reactions.get(eventId)!), 15_000);
  await tracing.forceFlush();
  await new Promise((r) => setTimeout(r, 100)); // the consumer span ends right after the handler's commit

  const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === clientTrace);
  const byName = (n: string | RegExp) => spans.filter((s) => (typeof n === 'string' ? s.name === n : n.test(s.name)));
  const parentOf = (s: ReadableSpan) => spans.find((p) => p.spanContext().spanId === s.parentSpanId);

  const gwServer = byName('mutation DoIt');
  expect(gwServer).toHaveLength(1);
  expect(gwServer[0]!.kind).toBe(SpanKind.SERVER);
  expect(gwServer[0]!.parentSpanId).toBe('b'.repeat(16)); // continues the client's trace

  const fetchSpans = byName('fetch sub');
  expect(fetchSpans.length).toBeGreaterThanOrEqual(1);
  const subServer = byName('mutation Act');
  expect(subServer).toHaveLength(1);
  // across the HTTP boundary: the subgraph's server span is a child of a gateway fetch span
  expect(parentOf(subServer[0]!)?.name).toBe('fetch sub');
  expect(parentOf(parentOf(subServer[0]!)!)?.name).toMatch(/fetch sub|mutation DoIt/);

  // SQL inside the subgraph request
  const append = byName('sql appendEvent');
  expect(append).toHaveLength(1);
  expect(parentOf(append[0]!)).toBe(subServer[0]);

  // across NATS: the relay's PRODUCER span continues the traceparent the event carried; the CONSUMER span of the
  // reacting service is its child, with messaging attributes, and the reaction's SQL is the consumer span's child
  const publish = byName(new RegExp(`^${h.prefix}\\.\\*\\.bus\\.Task\\.TaskCreated publish$`));
  expect(publish).toHaveLength(1);
  expect(publish[0]!.kind).toBe(SpanKind.PRODUCER);
  expect(parentOf(publish[0]!)).toBe(subServer[0]);
  expect(publish[0]!.attributes['messaging.message.id']).toBe(eventId);

  const consumeName = `${h.prefix}.*.bus.> process`;
  const consumeOf = (id: string) => byName(consumeName).filter((s) => s.attributes['messaging.message.id'] === id);
  const consume = consumeOf(eventId);
  expect(consume).toHaveLength(1);
  expect(consume[0]!.kind).toBe(SpanKind.CONSUMER);
  expect(parentOf(consume[0]!)).toBe(publish[0]);
  expect(consume[0]!.attributes).toMatchObject({
    'messaging.system': 'nats',
    'messaging.destination.name': `${h.prefix}.${orgId}.bus.Task.TaskCreated`,
    'messaging.consumer.group.name': 'bus-traced',
    'messaging.nats.message.delivery_count': 1,
    'cos.consumer.outcome': 'processed',
  });
  expect(consume[0]!.status.code).not.toBe(SpanStatusCode.ERROR);
  const react = byName('sql reactToEvent').filter((s) => parentOf(s) === consume[0]);
  expect(react).toHaveLength(1);
  const appendReaction = byName('sql appendReaction');
  expect(appendReaction).toHaveLength(1);
  expect(parentOf(appendReaction[0]!)).toBe(consume[0]);

  // the event the reaction appended links into the same trace UNDER the consumer span: its PRODUCER span is the
  // consumer span's child, and its own consumer span is the child of that
  const reactionId = reactions.get(eventId)!;
  const publishReaction = byName(/FollowUpOpened publish$/);
  expect(publishReaction).toHaveLength(1);
  expect(publishReaction[0]!.attributes['messaging.message.id']).toBe(reactionId);
  expect(parentOf(publishReaction[0]!)).toBe(consume[0]);
  const consumeReaction = consumeOf(reactionId);
  expect(consumeReaction).toHaveLength(1);
  expect(parentOf(consumeReaction[0]!)).toBe(publishReaction[0]);
  expect(byName('sql reactToEvent').filter((s) => parentOf(s) === consumeReaction[0])).toHaveLength(1);

  // the fetch latency hook saw the call
  expect(fetched.some(([s, , o]) => s === 'sub' && o === 'ok')).toBe(true);
  // background statements (relay polling) outside any trace created no orphan spans in this trace
  expect(spans.every((s) => s.spanContext().traceId === clientTrace)).toBe(true);
}, 30_000);

it('marks the consumer span ERROR when the handler fails, for the retry and the dead-lettered delivery', async () => {
  const orgId = randomUUID();
  const id = randomUUID();
  await h.db.tx({ orgId }, async (tx) => {
    await tx.query(
      `/* appendPoison */ INSERT INTO events (id, org_id, stream_id, stream_type, version, type, data, metadata)
       VALUES ($1, $2, $3, 'Poison', 1, 'PoisonPilled', '{}', $4)`,
      [id, orgId, `Poison-${randomUUID()}`, JSON.stringify({ actor: 'test', correlationId: id })],
    );
    await tx.query(`SELECT pg_notify('bus_events', 'x')`);
  });
  const failed = () =>
    exporter
      .getFinishedSpans()
      .filter((s) => s.name === `${h.prefix}.*.bus.Poison.> process` && s.attributes['messaging.message.id'] === id)
      .sort((a, b) => Number(a.attributes['messaging.nats.message.delivery_count']) - Number(b.attributes['messaging.nats.message.delivery_count']));
  await waitFor(async () => failed().length, (n) => n >= 2, 15_000);
  const spans = failed();
  expect(spans.map((s) => s.attributes['cos.consumer.outcome'])).toEqual(['retry', 'dead-lettered']);
  expect(spans.map((s) => s.attributes['messaging.nats.message.delivery_count'])).toEqual([1, 2]);
  for (const s of spans) {
    expect(s.kind).toBe(SpanKind.CONSUMER);
    expect(s.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'handler says no' });
    expect(s.events.some((e) => e.name === 'exception')).toBe(true);
  }
  // an event appended outside any trace: the relay's PRODUCER span starts one, and the deliveries are its children
  const producer = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === id);
  expect(producer).toBeDefined();
  expect(spans.every((s) => s.parentSpanId === producer!.spanContext().spanId)).toBe(true);
}, 30_000);
