import { nanos } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Db, Tx } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import type { Logger } from '@cos/logger';
import type { Bus } from './connect';
import { safeMetric, type BusMetrics } from './metrics';
import { backoffFor, BusHeaders, dlqSubjectFor, durableName, headerValue } from './subjects';
import { busTracer, contextOf, traceparentOf } from './trace';

export interface ConsumerOptions {
  bus: Bus;
  /** The consuming service's SYSTEM role Db; the handler's transaction has the tenant set to event.orgId. */
  db: Db;
  service: string;
  /** Durable = `${service}-${name}`; also the inbox `consumer` value and the DLQ subject's last token. */
  name: string;
  /** One filter subject (NATS 2.9), e.g. `${bus.prefix}.*.identity.>`. */
  filterSubject: string;
  /**
   * Runs in ONE transaction with the inbox insert, only for events this consumer has not processed before.
   * It runs inside this message's CONSUMER span (see startConsumer), and while tracing is on
   * `event.metadata.traceparent`/`tracestate` are that span's: events the handler appends with metadata taken from
   * the incoming event (services' reactionMetadata) continue the trace under the consumer span.
   */
  handle: (tx: Tx, event: StoredEvent) => Promise<void>;
  log: Logger;
  /** Deliveries before the event is dead-lettered. Default 5. */
  maxDeliver?: number;
  /** Redelivery delay after the n-th failure (the last value repeats). Default 200 ms, 1 s, 5 s, 15 s. */
  backoffMs?: number[];
  /** Messages per pull request, processed one after another. Default 10. */
  batchSize?: number;
  /** How long one pull request waits for messages. Default 5000 ms. */
  fetchExpiresMs?: number;
  /** Redelivery when an ack is not received. Default 30 s (a handler must finish well within it). */
  ackWaitMs?: number;
  metrics?: BusMetrics;
}

export interface RunningConsumer {
  /** Stops pulling, waits for the message being handled, returns unstarted ones to the server (nak), closes. */
  stop(): Promise<void>;
  readonly durable: string;
}

const DEFAULT_BACKOFF = [200, 1_000, 5_000, 15_000];

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

class PoisonMessage extends Error {}

/** The event as the handler sees it: its trace context is the consumer span's while that span is recorded. */
function withSpanContext(event: StoredEvent, span: Span): StoredEvent {
  if (!span.isRecording()) return event;
  const tracestate = span.spanContext().traceState?.serialize() || null;
  return { ...event, metadata: { ...event.metadata, traceparent: traceparentOf(span), tracestate } };
}

function parseEvent(msg: JsMsg): StoredEvent {
  let e: Partial<StoredEvent>;
  try {
    e = msg.json<Partial<StoredEvent>>();
  } catch {
    throw new PoisonMessage('message body is not JSON');
  }
  if (!e || typeof e !== 'object' || typeof e.id !== 'string' || typeof e.orgId !== 'string' || typeof e.type !== 'string') {
    throw new PoisonMessage('message body is not a StoredEvent (id, orgId, type)');
  }
  return e as StoredEvent;
}

/**
 * A durable JetStream pull consumer whose handler is idempotent by construction: for each message it opens one
 * transaction, inserts `(consumer, event_id)` into the service's `inbox`, and runs `handle` only if that row is new;
 * commits, then acks. Failures are retried with backoff (nak with delay); after `maxDeliver` deliveries the event is
 * published to `${prefix}dlq.${service}.${name}` with the reason and terminated. Several processes with the same
 * durable share the work (pull semantics) and the inbox guarantees the effect happens once.
 *
 * Order: one process handles its messages one at a time in stream order, so a stream's events arrive in version
 * order while nothing fails; a retried event (or a second process) can overtake — handlers check versions where
 * order matters.
 */
export async function startConsumer(opts: ConsumerOptions): Promise<RunningConsumer> {
  const { bus, db, service } = opts;
  const durable = durableName(service, opts.name);
  const log = opts.log.child({ component: 'consumer', consumer: durable });
  const maxDeliver = opts.maxDeliver ?? 5;
  const backoffMs = opts.backoffMs ?? DEFAULT_BACKOFF;
  const batchSize = opts.batchSize ?? 10;
  const fetchExpiresMs = Math.max(1_000, opts.fetchExpiresMs ?? 5_000);
  const metrics = opts.metrics ?? bus.metrics;
  const dlqSubject = dlqSubjectFor(bus.prefix, service, opts.name);
  if (maxDeliver < 1) throw new Error('maxDeliver must be >= 1');

  const config: Partial<ConsumerConfig> = {
    durable_name: durable,
    description: `${service} consumer ${opts.name}`,
    filter_subject: opts.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(opts.ackWaitMs ?? 30_000),
    // We dead-letter at maxDeliver ourselves; the +1 is a guard so the server never redelivers forever if the DLQ
    // publish itself keeps failing.
    max_deliver: maxDeliver + 1,
  };

  async function ensureConsumer(): Promise<Consumer> {
    try {
      const info = await bus.jsm.consumers.info(bus.streamName, durable);
      const c = info.config;
      if (c.filter_subject !== config.filter_subject || c.max_deliver !== config.max_deliver || c.ack_wait !== config.ack_wait) {
        await bus.jsm.consumers.update(bus.streamName, durable, {
          filter_subject: config.filter_subject,
          max_deliver: config.max_deliver,
          ack_wait: config.ack_wait,
          description: config.description,
        });
        log.info('updated durable consumer config');
      }
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      await bus.jsm.consumers.add(bus.streamName, config);
      log.info({ filterSubject: opts.filterSubject }, 'created durable consumer');
    }
    return bus.js.consumers.get(bus.streamName, durable);
  }

  async function deadLetter(msg: JsMsg, reason: string, eventId: string | undefined) {
    const h = natsHeaders();
    // Keep the original event headers (ids, trace context) for replay.
    if (msg.headers) {
      for (const [k, v] of msg.headers) if (!k.startsWith('Nats-')) for (const value of v) h.append(k, value);
    }
    h.set(BusHeaders.DlqSubject, msg.subject);
    h.set(BusHeaders.DlqConsumer, durable);
    h.set(BusHeaders.DlqError, headerValue(reason) || 'unknown error');
    h.set(BusHeaders.DlqDeliveryCount, String(msg.info.deliveryCount));
    h.set(BusHeaders.DlqStreamSeq, String(msg.seq));
    if (eventId) h.set(BusHeaders.EventId, eventId);
    // msgID per (consumer, stream message): a retried DLQ publish is de-duplicated, a replayed event that fails
    // again (a new stream message) is not.
    await bus.js.publish(dlqSubject, msg.data, { headers: h, msgID: `${durable}:${msg.seq}` });
    msg.term();
    safeMetric(() => metrics.onDeadLetter?.(durable));
    log.error({ eventId, subject: msg.subject, deliveryCount: msg.info.deliveryCount, reason }, 'event dead-lettered');
  }

  /** What became of one delivery; the CONSUMER span's status and attributes say the same. */
  type Outcome = 'processed' | 'duplicate' | 'retry' | 'dead-lettered' | 'not-acked';

  async function processOne(msg: JsMsg, span: Span): Promise<Outcome> {
    let event: StoredEvent | undefined;
    try {
      event = parseEvent(msg);
      if (span.isRecording()) span.setAttribute('messaging.message.id', event.id);
      const ev = withSpanContext(event, span);
      let duplicate = false;
      await db.tx({ orgId: ev.orgId }, async (tx) => {
        const inserted = await tx.query(
          // The name goes inside the SQL string: traceQueries names the statement's span from it.
          '/* insertInbox */ INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
          [durable, ev.id],
        );
        if (inserted.length === 0) {
          duplicate = true;
          log.debug({ eventId: ev.id }, 'event already processed (inbox); skipping');
          return;
        }
        await opts.handle(tx, ev);
      });
      msg.ack();
      const occurred = Date.parse(ev.occurredAt);
      safeMetric(() => metrics.onProcessed?.(durable, Number.isFinite(occurred) ? Date.now() - occurred : 0));
      return duplicate ? 'duplicate' : 'processed';
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const count = msg.info.deliveryCount;
      span.recordException(err instanceof Error ? err : new Error(reason));
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      try {
        if (err instanceof PoisonMessage || count >= maxDeliver) {
          await deadLetter(msg, reason, event?.id ?? msg.headers?.get(BusHeaders.EventId));
          return 'dead-lettered';
        }
        const delay = backoffFor(backoffMs, count);
        log.warn({ err, eventId: event?.id, deliveryCount: count, retryInMs: delay }, 'event handler failed; will retry');
        msg.nak(delay);
        return 'retry';
      } catch (dlqErr) {
        // Not acked: the server redelivers after ack_wait (max_deliver guards against forever).
        log.error({ err: dlqErr, eventId: event?.id }, 'could not dead-letter event; it will be redelivered');
        return 'not-acked';
      }
    }
  }

  const spanName = `${opts.filterSubject} process`;

  /**
   * Every delivery runs in a CONSUMER span (OpenTelemetry API: a no-op when no SDK is registered, so nothing is
   * recorded or allocated beyond the API's no-op span) whose parent is the context in the message's `traceparent`
   * header — the outbox relay's PRODUCER span of the event — and which is the active context of the handler, so
   * its SQL spans and the events it appends are its children. Status ERROR when the handler fails (retried or
   * dead-lettered).
   */
  async function tracedProcessOne(msg: JsMsg): Promise<void> {
    const parent = contextOf(msg.headers?.get(BusHeaders.Traceparent), msg.headers?.get(BusHeaders.Tracestate));
    const span = busTracer().startSpan(spanName, { kind: SpanKind.CONSUMER }, parent);
    if (span.isRecording()) {
      span.setAttributes({
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': msg.subject,
        'messaging.destination.template': opts.filterSubject,
        'messaging.consumer.group.name': durable,
        // 1 on the first delivery; n > 1 is the (n-1)-th retry. JetStream's own count (survives restarts).
        'messaging.nats.message.delivery_count': msg.info.deliveryCount,
        'cos.event.type': msg.headers?.get(BusHeaders.EventType) ?? '',
      });
    }
    try {
      const outcome = await context.with(trace.setSpan(parent, span), () => processOne(msg, span));
      if (span.isRecording()) span.setAttribute('cos.consumer.outcome', outcome);
    } finally {
      span.end();
    }
  }

  let consumer = await ensureConsumer();
  let stopping = false;
  let current: ConsumerMessages | null = null;

  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      try {
        current = await consumer.fetch({ max_messages: batchSize, expires: fetchExpiresMs });
        if (stopping) await current.close();
        for await (const msg of current) {
          // Messages already buffered when stop() was called go back to the server for another instance.
          if (stopping) {
            msg.nak();
            continue;
          }
          await tracedProcessOne(msg);
        }
        failures = 0;
      } catch (err) {
        if (stopping) break;
        failures += 1;
        log.warn({ err, failures }, 'pull failed; retrying');
        await sleep(Math.min(5_000, 250 * 2 ** Math.min(failures, 5)) * (0.5 + Math.random() / 2));
        try {
          consumer = await ensureConsumer();
        } catch (e) {
          log.warn({ err: e }, 'could not ensure durable consumer yet');
        }
      } finally {
        current = null;
      }
    }
  })();

  return {
    durable,
    async stop() {
      if (stopping) return loop;
      stopping = true;
      await current?.close().catch(() => {});
      await loop;
      // Acks are fire-and-forget: make sure they left the client before the caller closes anything.
      await bus.nc.flush().catch(() => {});
    },
  };
}
