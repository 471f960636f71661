/**
 * Event backbone throughput and lag (issue 3), against the real Postgres and NATS JetStream on this machine, in a
 * scratch database and a random subject prefix (cleaned up at the end). Standalone: `pnpm bench events`.
 *
 * 1. Relay drain: N events committed while no relay runs, then one relay starts; time until every event is
 *    PubAck'ed by JetStream and marked published → relay publish throughput.
 * 2. End to end: the relay and a durable consumer run; W writers append N events (one event per transaction, the
 *    event store's append with its optimistic check, across S streams). The consumer's effect is one INSERT in the
 *    same transaction as its inbox row. Lag = effect committed (consumer) − append committed (writer), both on
 *    this process's monotonic clock; throughput = N / (first append start → last effect committed). Flooded like
 *    this, the lag is mostly queueing behind the consumer.
 * 3. Steady state: appends paced at a rate the consumer keeps up with (PACED_RATE/s); lag percentiles again.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectBus, inboxMigrations, startConsumer, startOutboxRelay, type Bus } from '@cos/bus';
import { createPool, Db, migrate } from '@cos/db';
import { createLogger } from '@cos/logger';
import { createTestDatabase } from '@cos/testing';
// Not a root dependency; the bench uses the package's source like the services do.
import { createEventStore, eventStoreMigrations, type DomainEvent } from '../packages/event-store/src/index';

const N = Number(process.env.BENCH_EVENTS ?? 5_000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 500);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 8);
const PACED_RATE = Number(process.env.BENCH_PACED_RATE ?? 100);
const PACED_N = Number(process.env.BENCH_PACED_EVENTS ?? 600);
const DEADLINE_MS = 120_000;

const log = createLogger('events-bench', process.env.BENCH_LOG_LEVEL ?? 'silent');
type BenchEvent = DomainEvent<'Ticked', { n: number }>;

const guard = setTimeout(() => {
  console.error(`events bench exceeded ${DEADLINE_MS / 1000} s; aborting`);
  process.exit(1);
}, DEADLINE_MS);
guard.unref();

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main() {
  const tdb = await createTestDatabase('cos_bench_events');
  const dir = await mkdtemp(path.join(tmpdir(), 'cos-bench-events-'));
  let bus: Bus | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  try {
    await writeFile(path.join(dir, '0001_init.sql'), 'CREATE TABLE effects (event_id uuid PRIMARY KEY, stream_id text NOT NULL, version int NOT NULL);\n');
    await migrate({
      adminUrl: tdb.adminUrl,
      schema: 'bench',
      dir,
      packages: [eventStoreMigrations, inboxMigrations],
      runtimeRole: 'cos_benchev',
      systemRole: 'cos_benchev_system',
      log: () => {},
    });
    const url = new URL(tdb.adminUrl);
    url.username = 'cos_benchev_system';
    const db = new Db(createPool({ connectionString: url.toString(), schema: 'bench', applicationName: 'events-bench', max: WRITERS + 6, statementTimeoutMs: 30_000 }));
    closers.push(() => db.close());
    const prefix = `b${randomBytes(5).toString('hex')}`;
    bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'events-bench', log });
    const store = createEventStore<BenchEvent>({ notifyChannel: 'bench_events', project: async () => {} });
    const orgs = Array.from({ length: 4 }, () => randomUUID());

    /** W writers, each owning STREAMS/W streams, append one event per transaction, round-robin over their streams. */
    async function appendAll(streamType: string, onCommitted?: (id: string, at: number) => void) {
      const per = Math.ceil(N / WRITERS);
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          const streams = Array.from({ length: Math.ceil(STREAMS / WRITERS) }, () => ({ id: `${streamType}-${randomUUID()}`, version: 0, org: orgs[w % orgs.length]! }));
          for (let i = 0; i < per && w * per + i < N; i++) {
            const s = streams[i % streams.length]!;
            const [e] = await db.tx({ orgId: s.org }, (tx) =>
              store.append(tx, {
                orgId: s.org,
                streamId: s.id,
                streamType,
                expectedVersion: s.version,
                events: [{ type: 'Ticked', data: { n: i } }],
                metadata: { actor: 'bench', correlationId: randomUUID(), causationId: null },
              }),
            );
            s.version += 1;
            onCommitted?.(e!.id, performance.now());
          }
        }),
      );
    }
    const unpublished = async (streamType: string) =>
      (await db.withClient((tx) => tx.one<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE stream_type = $1 AND published_at IS NULL`, [streamType])))!.n;

    // ---- 1. relay drain of a backlog ------------------------------------------------------------------------------
    const a0 = performance.now();
    await appendAll('BenchA');
    const appendMs = performance.now() - a0;
    const r0 = performance.now();
    const relayA = startOutboxRelay({ bus, db, service: 'bench', notifyChannel: 'bench_events', log, batchSize: 500 });
    await waitFor(async () => (await unpublished('BenchA')) === 0, 60_000, 'the relay to drain the backlog');
    const drainMs = performance.now() - r0;
    await relayA.stop();

    // ---- 2. end to end: append → relay → JetStream → consumer effect ----------------------------------------------
    const committedAt = new Map<string, number>();
    const effectAt = new Map<string, number>();
    let current: string | null = null;
    let publishedB = 0;
    let firstPublish = 0;
    let lastPublish = 0;
    const relay = startOutboxRelay({
      bus,
      db,
      service: 'bench',
      notifyChannel: 'bench_events',
      log,
      batchSize: 500,
      metrics: {
        onPublished(n) {
          const now = performance.now();
          if (!firstPublish) firstPublish = now;
          lastPublish = now;
          publishedB += n;
        },
      },
    });
    closers.push(() => relay.stop());
    const consumer = await startConsumer({
      bus,
      db,
      service: 'bench',
      name: 'effects',
      filterSubject: `${prefix}.*.bench.BenchB.>`,
      log,
      batchSize: 100,
      handle: async (tx, e) => {
        await tx.query(`/* benchEffect */ INSERT INTO effects (event_id, stream_id, version) VALUES ($1, $2, $3)`, [e.id, e.streamId, e.version]);
        current = e.id;
      },
      metrics: {
        // Called right after the effect's transaction committed and the message was acked (one at a time, in order).
        onProcessed() {
          if (current) effectAt.set(current, performance.now());
          current = null;
        },
      },
    });
    closers.push(() => consumer.stop());

    const t0 = performance.now();
    await appendAll('BenchB', (id, at) => committedAt.set(id, at));
    const appendDoneMs = performance.now() - t0;
    await waitFor(async () => effectAt.size >= N, 90_000, 'the consumer to apply every effect');
    const e2eMs = Math.max(...effectAt.values()) - t0;
    const lags = [...committedAt].map(([id, at]) => effectAt.get(id)! - at).sort((x, y) => x - y);
    const effectTimes = [...committedAt.keys()].map((id) => effectAt.get(id)!);
    const consumerRate = N / Math.max(0.001, (Math.max(...effectTimes) - Math.min(...effectTimes)) / 1000);

    // ---- 3. steady state: paced appends ---------------------------------------------------------------------------
    const committedC = new Map<string, number>();
    const c0 = performance.now();
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < PACED_N; i++) {
      const due = c0 + (i * 1000) / PACED_RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const streamId = `BenchB-${randomUUID()}`; // a stream per event: appends never wait on each other
      inflight.push(
        db
          .tx({ orgId: orgs[0]! }, (tx) =>
            store.append(tx, {
              orgId: orgs[0]!,
              streamId,
              streamType: 'BenchB',
              expectedVersion: 0,
              events: [{ type: 'Ticked', data: { n: i } }],
              metadata: { actor: 'bench', correlationId: randomUUID(), causationId: null },
            }),
          )
          .then(([e]) => committedC.set(e!.id, performance.now())),
      );
    }
    await Promise.all(inflight);
    await waitFor(async () => [...committedC.keys()].every((id) => effectAt.has(id)), 60_000, 'the paced effects');
    const pacedLags = [...committedC].map(([id, at]) => effectAt.get(id)! - at).sort((x, y) => x - y);
    const effects = (await db.withClient((tx) => tx.one<{ n: number }>(`SELECT count(*)::int AS n FROM effects`)))!.n;

    const rows: Array<[string, string]> = [
      ['events appended (one per transaction)', `${N.toLocaleString('en-US')} over ${STREAMS} streams, ${WRITERS} writers`],
      ['append throughput (no relay running)', `${fmt(N / (appendMs / 1000), 0)} events/s`],
      ['**relay publish throughput** (backlog drain, batch 500)', `**${fmt(N / (drainMs / 1000), 0)} events/s** (${fmt(drainMs, 0)} ms)`],
      ['relay publish throughput (live, first → last PubAck)', `${fmt(publishedB / Math.max(0.001, (lastPublish - firstPublish) / 1000), 0)} events/s`],
      ['consumer apply rate (first → last effect)', `${fmt(consumerRate, 0)} events/s`],
      ['**end to end** (append → consumer effect committed)', `**${fmt(N / (e2eMs / 1000), 0)} events/s** (${fmt(e2eMs, 0)} ms; appends took ${fmt(appendDoneMs, 0)} ms)`],
      ['flooded: lag commit → effect p50 / p95 / p99', `${fmt(pct(lags, 50), 0)} / ${fmt(pct(lags, 95), 0)} / ${fmt(pct(lags, 99), 0)} ms (queueing behind one consumer)`],
      [`steady ${PACED_RATE} events/s (${PACED_N} events): lag p50`, `${fmt(pct(pacedLags, 50))} ms`],
      [`steady ${PACED_RATE} events/s: lag p95`, `${fmt(pct(pacedLags, 95))} ms`],
      [`**steady ${PACED_RATE} events/s: lag p99**`, `**${fmt(pct(pacedLags, 99))} ms**`],
      ['effects applied / events (exactly once)', `${effects} / ${N + PACED_N}`],
      ['end-to-end rate ÷ append rate', `${fmt(N / (e2eMs / 1000) / (N / (appendMs / 1000)), 2)}×`],
    ];
    console.log(`### Event backbone: outbox relay → JetStream → durable consumer (Postgres + NATS on loopback)\n`);
    console.log(`| measure | value |\n|---|---|`);
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
    console.log(
      `\nOne consumer instance (handles messages one at a time, in stream order; pull batch 100). Relay: one leader, ` +
        `LISTEN/NOTIFY wake-up, batch 500, pipelined (the batch's publishes go out on one connection in global order, then ` +
        `its PubAcks are awaited together), so under a flood the one consumer bounds the end-to-end rate and the lag is queueing. Node ${process.version}.`,
    );
    if (effects !== N + PACED_N) throw new Error(`effects ${effects} != events ${N + PACED_N}`);
  } finally {
    for (const c of closers.reverse()) await c().catch(() => {});
    if (bus) {
      await bus.jsm.streams.delete(bus.streamName).catch(() => {});
      await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
      await bus.close().catch(() => {});
    }
    await rm(dir, { recursive: true, force: true });
    await tdb.drop().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`events bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
