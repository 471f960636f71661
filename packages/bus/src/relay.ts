import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import pg from 'pg';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Db } from '@cos/db';
import { toStored as toStoredEvent, type EventDataCodec, type EventRow, type StoredEvent } from '@cos/event-store';
import type { Logger } from '@cos/logger';
import type { Bus } from './connect';
import { safeMetric, type BusMetrics } from './metrics';
import { BusHeaders, subjectFor } from './subjects';
import { busTracer, contextOf, traceparentOf } from './trace';

export interface OutboxRelayOptions {
  bus: Bus;
  /** The service's SYSTEM role Db (BYPASSRLS): the relay reads every tenant's events. */
  db: Db;
  service: string;
  /** The event store's NOTIFY channel: an append wakes the relay at once. */
  notifyChannel: string;
  log: Logger;
  /** Events per SELECT, all published at once (pipelined) before their PubAcks are awaited. Default 256. */
  batchSize?: number;
  /** Polling fallback (a missed NOTIFY, a standby waiting for the lock). Default 1000 ms. */
  pollIntervalMs?: number;
  /** PubAck timeout per event. Default 5000 ms. */
  publishTimeoutMs?: number;
  metrics?: BusMetrics;
  /**
   * The event store's personal-data codec: events are published with their personal fields opened (consumers in
   * other services have no keys); an erased subject's fields are published as placeholders.
   */
  codec?: EventDataCodec;
}

export interface OutboxRelay {
  stop(): Promise<void>;
  /** Publishes everything pending now (if this instance holds the relay lock) and returns how many it published. */
  flush(): Promise<number>;
  /** True while this instance holds the advisory lock and publishes. */
  isLeader(): boolean;
}

export class PublishError extends Error {
  constructor(
    /** The first event of the batch whose PubAck failed (it and everything after it stay unpublished). */
    readonly eventId: string,
    override readonly cause: unknown,
    /** How many events before it were acked and marked published in the same pass. */
    readonly publishedBefore = 0,
  ) {
    super(`publishing event ${eventId} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

type OutboxRow = EventRow;
const toStored = (r: OutboxRow): StoredEvent => toStoredEvent(r);

/** Message headers of an event (also used when replaying dead letters). */
export function eventHeaders(e: StoredEvent) {
  const h = natsHeaders();
  h.set(BusHeaders.EventId, e.id);
  h.set(BusHeaders.EventType, e.type);
  h.set(BusHeaders.OrgId, e.orgId);
  if (e.metadata?.correlationId) h.set(BusHeaders.CorrelationId, e.metadata.correlationId);
  if (e.metadata?.traceparent) h.set(BusHeaders.Traceparent, e.metadata.traceparent);
  if (e.metadata?.tracestate) h.set(BusHeaders.Tracestate, e.metadata.tracestate);
  return h;
}

/**
 * A PRODUCER span for publishing `event`, child of the trace context the event was appended in (its
 * metadata.traceparent; a new trace when it has none), or undefined when tracing is off (no SDK: the API's span is
 * not recording), so the relay's pipelined hot path stays as it was.
 */
function startPublishSpan(event: StoredEvent, subject: string, template: string): Span | undefined {
  const parent = contextOf(event.metadata?.traceparent, event.metadata?.tracestate);
  const span = busTracer().startSpan(`${template} publish`, { kind: SpanKind.PRODUCER }, parent);
  if (!span.isRecording()) return undefined;
  span.setAttributes({
    'messaging.system': 'nats',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'publish',
    'messaging.destination.name': subject,
    'messaging.destination.template': template,
    'messaging.message.id': event.id,
    'cos.event.type': event.type,
  });
  return span;
}

/**
 * The transactional outbox relay of one service: publishes committed, unpublished events to JetStream in global
 * order, each with `msgID = event.id`, a batch (default 256) at a time without waiting between publishes; then
 * awaits all the batch's PubAcks and marks the acked prefix published.
 *
 * - One relay per service at a time: the leader holds `pg_try_advisory_lock` on a dedicated connection (not taken
 *   from the pool, so it cannot starve consumers) and does all its reads and writes on that connection; other
 *   instances stand by and retry every poll interval. If the connection dies, the lock goes with it.
 * - Order: the batch's publishes are written in global order on one connection, and NATS keeps the order of one
 *   connection's messages, so each stream's events reach the broker in version order. If a PubAck fails (timeout,
 *   rejection), only the events before it are marked; the failed one and everything after it are re-published on
 *   the next pass (those that did reach the stream are dropped as duplicates of their msgID). Caveat: an event
 *   the broker REJECTED while later ones were stored is stored after them when the retry succeeds.
 * - Crash between publish and mark: the next leader re-publishes; JetStream drops it as a duplicate of `event.id`
 *   within the stream's duplicate window, and consumers' inboxes drop anything later.
 */
export function startOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { bus, service } = opts;
  const log = opts.log.child({ component: 'outbox-relay', service });
  const batchSize = opts.batchSize ?? 256;
  const pollIntervalMs = opts.pollIntervalMs ?? 1_000;
  const publishTimeoutMs = opts.publishTimeoutMs ?? 5_000;
  const metrics = opts.metrics ?? bus.metrics;
  const lockKey = `cos-outbox-relay:${service}`;

  let client: pg.Client | null = null;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wakeRequested = false;
  // Serializes acquire/drain/stop so the loop and flush() never publish concurrently.
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  async function dropClient(c: pg.Client | null) {
    leader = false;
    if (c === client) client = null;
    if (c) await c.end().catch(() => {});
  }

  async function acquire(): Promise<boolean> {
    if (leader && client) return true;
    if (!client) {
      // Same settings (URL, search_path, statement_timeout) as the system pool, but our own session.
      const c = new pg.Client({ ...pgOptionsOf(opts.db), application_name: `${service}:outbox-relay` });
      c.on('error', (err) => {
        log.warn({ err }, 'relay lock connection lost; standing by');
        void dropClient(c);
      });
      c.on('notification', () => wake());
      await c.connect();
      client = c;
    }
    const c = client;
    const row = await c.query<{ locked: boolean }>(/* tryRelayLock */ 'SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [lockKey]);
    if (!row.rows[0]?.locked) return false;
    await c.query(`LISTEN ${c.escapeIdentifier(opts.notifyChannel)}`);
    leader = true;
    log.info('outbox relay is the leader for this service');
    return true;
  }

  // async: a synchronous throw (e.g. subjectFor on a bad token) becomes this event's rejection like a failed ack.
  const publishOne = async (event: StoredEvent) => {
    const subject = subjectFor(bus.prefix, service, event);
    const headers = eventHeaders(event);
    const span = startPublishSpan(event, subject, `${bus.prefix}.*.${service}.${event.streamType}.${event.type}`);
    if (!span) return bus.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers, timeout: publishTimeoutMs });
    // The consumer's CONSUMER span becomes a child of this PRODUCER span, not of the request that appended.
    headers.set(BusHeaders.Traceparent, traceparentOf(span));
    try {
      const ack = await bus.js.publish(subject, JSON.stringify(event), { msgID: event.id, headers, timeout: publishTimeoutMs });
      if (ack.duplicate) span.setAttribute('cos.publish.duplicate', true);
      return ack;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  };

  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      if (stopped) return total;
      const c = client;
      if (!c || !leader) return total;
      const { rows } = await c.query<OutboxRow>(
        /* selectUnpublishedEvents */ `SELECT id, global_position, org_id, stream_id, stream_type, version, type, schema_version,
           data, metadata, occurred_at
         FROM events WHERE published_at IS NULL ORDER BY global_position LIMIT $1`,
        [batchSize],
      );
      if (rows.length === 0) return total;
      const stored = rows.map(toStored);
      const events = opts.codec
        ? await opts.codec.decode({ query: async (sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as never }, stored)
        : stored;
      // Pipelined: every publish of the batch goes out at once (nc.request writes synchronously, in loop order, on
      // one connection, so JetStream stores them in global order), then the PubAcks are awaited together.
      const acks = await Promise.allSettled(events.map((event) => publishOne(event)));
      const failed = acks.findIndex((a) => a.status === 'rejected');
      // Only the acked PREFIX is marked, so "unpublished" stays a suffix of global order: events after a failed one
      // are re-published with it on the next pass; those already stored are dropped as duplicates of their msgID.
      const ackedCount = failed === -1 ? events.length : failed;
      for (let i = 0; i < ackedCount; i++) {
        const ack = acks[i];
        if (ack?.status === 'fulfilled' && ack.value.duplicate) log.debug({ eventId: events[i]!.id }, 'event was already published (duplicate window)');
      }
      if (ackedCount > 0) {
        const published = events.slice(0, ackedCount).map((e) => e.id);
        await c.query(/* markEventsPublished */ 'UPDATE events SET published_at = now() WHERE id = ANY($1::uuid[])', [published]);
        total += published.length;
        safeMetric(() => metrics.onPublished?.(published.length));
      }
      if (failed !== -1) {
        const reason = acks[failed] as PromiseRejectedResult;
        throw new PublishError(events[failed]!.id, reason.reason, ackedCount);
      }
      if (rows.length < batchSize) return total;
    }
  }

  async function tick(rethrow = false): Promise<number> {
    if (stopped) return 0;
    try {
      if (!(await acquire())) return 0;
      return await drain();
    } catch (err) {
      if (rethrow) {
        if (!(err instanceof PublishError)) await dropClient(client);
        throw err;
      }
      if (err instanceof PublishError) {
        // NATS trouble: keep the lock (and our place); the next pass retries from the first unpublished event.
        log.error({ err: err.cause, eventId: err.eventId }, 'outbox relay could not publish; retrying');
      } else {
        // Postgres trouble: give the lock up with the connection; the next pass reconnects and competes again.
        log.error({ err }, 'outbox relay pass failed; reconnecting');
        await dropClient(client);
      }
      return 0;
    }
  }

  function wake() {
    if (wakeRequested || stopped) return;
    wakeRequested = true;
    void exclusive(async () => {
      wakeRequested = false;
      await tick();
    });
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      void exclusive(() => tick()).finally(schedule);
    }, pollIntervalMs);
    timer.unref?.();
  }

  wake();
  schedule();

  return {
    isLeader: () => leader,
    flush: () => exclusive(() => tick(true)),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await exclusive(async () => {
        const c = client;
        if (c && leader) await c.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
        await dropClient(c);
      });
    },
  };
}

function pgOptionsOf(db: Db): pg.ClientConfig {
  const o = db.pool.options;
  return {
    connectionString: o.connectionString,
    host: o.host,
    port: o.port,
    user: o.user,
    password: o.password,
    database: o.database,
    ssl: o.ssl,
    options: o.options,
    statement_timeout: o.statement_timeout,
    connectionTimeoutMillis: o.connectionTimeoutMillis,
    keepAlive: true,
  };
}
