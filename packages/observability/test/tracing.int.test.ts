import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startConsumer, startOutboxRelay, type OutboxRelay, type RunningConsumer } from '@cos/bus';
import { createHarness, log, waitFor, type Harness } from '../../bus/test/harness';
import { currentTraceparent, initTracing, instrumentFetch, traceQueries, useTracing, type Tracing } from '../src';

/**
 * One trace across a "gateway" and a "subgraph" (two HTTP servers, real sockets), the subgraph's SQL, the outbox
 * relay's NATS message and the consumer that reacts to it (real Postgres and JetStream), exported in memory.
 */
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let h: Harness;
let relay: OutboxRelay;
let consumer: RunningConsumer;
const servers: Server[] = [];
const handled: string[] = [];

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
      handled.push(e.id);
    },
  });
}, 30_000);

afterAll(async () => {
  await consumer?.stop();
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
  await waitFor(async () => handled, (x) => x.includes(eventId), 15_000);
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

  // across NATS: the consumer span continues the traceparent the event carried, and the reaction's SQL is its child
  const consume = byName('consume bus-traced');
  expect(consume).toHaveLength(1);
  expect(consume[0]!.kind).toBe(SpanKind.CONSUMER);
  expect(parentOf(consume[0]!)).toBe(subServer[0]);
  const react = byName('sql reactToEvent');
  expect(react).toHaveLength(1);
  expect(parentOf(react[0]!)).toBe(consume[0]);

  // the fetch latency hook saw the call
  expect(fetched.some(([s, , o]) => s === 'sub' && o === 'ok')).toBe(true);
  // background statements (relay polling) outside any trace created no orphan spans in this trace
  expect(spans.every((s) => s.spanContext().traceId === clientTrace)).toBe(true);
}, 30_000);
