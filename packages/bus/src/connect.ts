import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import type { Logger } from '@cos/logger';
import type { BusMetrics } from './metrics';
import { streamNames } from './subjects';

export interface BusConfig {
  /** Comma-separated NATS URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string;
  /** First subject token, e.g. `cos` (tests use a random one so files run in parallel). */
  subjectPrefix: string;
  /** Connection name shown by the NATS server (`nats server report connections`). */
  name: string;
  log: Logger;
  /** Default metrics hooks for relays and consumers started on this bus. */
  metrics?: BusMetrics;
  /** How long the first connect and every JetStream API call may take. Default 5 s. */
  timeoutMs?: number;
}

export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** e.g. `cos` */
  prefix: string;
  /** `${PREFIX}_EVENTS`, subjects `${prefix}.>` */
  streamName: string;
  /** `${PREFIX}_DLQ`, subjects `${prefix}dlq.>` */
  dlqStreamName: string;
  log: Logger;
  metrics: BusMetrics;
  close(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The two streams of one subject prefix.
 *
 * `${P}_EVENTS` holds every domain event of every service (`${prefix}.<orgId>.<service>.<aggregate>.<Type>`):
 * - file storage: events survive a NATS restart;
 * - limits retention with max_age 7 days: consumers are durable and Postgres stays the source of truth, so the
 *   stream is a delivery buffer, not an archive (a consumer down for more than 7 days rebuilds from the owner);
 * - duplicate_window 2 minutes: the outbox relay publishes with `msgID = event.id`, so a re-publish after a crash
 *   between PubAck and "mark published" is dropped by the server if it happens within the window (the relay
 *   restarts within seconds; consumers' inboxes cover anything later).
 *
 * `${P}_DLQ` holds dead letters (`${prefix}dlq.<service>.<consumer>`) for 30 days, for inspection and replay.
 */
export function streamConfigs(prefix: string): Array<Partial<StreamConfig> & { name: string; subjects: string[] }> {
  const names = streamNames(prefix);
  return [
    {
      name: names.events,
      subjects: [`${prefix}.>`],
      description: `Company OS domain events (${prefix})`,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(7 * DAY_MS),
      duplicate_window: nanos(2 * 60 * 1000),
      num_replicas: 1,
    },
    {
      name: names.dlq,
      subjects: [`${prefix}dlq.>`],
      description: `Company OS dead letters (${prefix})`,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(30 * DAY_MS),
      duplicate_window: nanos(2 * 60 * 1000),
      num_replicas: 1,
    },
  ];
}

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

function differs(want: Partial<StreamConfig>, have: StreamConfig): boolean {
  const keys = ['subjects', 'description', 'max_age', 'duplicate_window', 'discard', 'num_replicas'] as const;
  return keys.some((k) => JSON.stringify(want[k]) !== JSON.stringify(have[k]));
}

/** Creates the stream, or updates it when its (updatable) config differs. Safe to run from many processes at once. */
export async function ensureStream(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig> & { name: string },
  log: Logger,
): Promise<StreamInfo> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(cfg.name);
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
  }
  if (!info) {
    try {
      const created = await jsm.streams.add(cfg);
      log.info({ stream: cfg.name }, 'created JetStream stream');
      return created;
    } catch (err) {
      // Another process created it between our info and add: fall through to compare/update.
      info = await jsm.streams.info(cfg.name).catch(() => {
        throw err;
      });
    }
  }
  if (differs(cfg, info.config)) {
    const { name, storage: _storage, retention: _retention, ...update } = cfg;
    const updated = await jsm.streams.update(name, update);
    log.info({ stream: name }, 'updated JetStream stream config');
    return updated;
  }
  return info;
}

/**
 * Connects to NATS (reconnecting forever with jittered waits, so a NATS restart never kills a service) and
 * provisions the events and dead-letter streams idempotently.
 */
export async function connectBus(cfg: BusConfig): Promise<Bus> {
  const timeout = cfg.timeoutMs ?? 5_000;
  const log = cfg.log.child({ component: 'bus' });
  const nc = await connect({
    servers: cfg.servers.split(',').map((s) => s.trim()).filter(Boolean),
    name: cfg.name,
    timeout,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    pingInterval: 20_000,
    maxPingOut: 3,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') log.warn({ status: s.type }, 'nats connection status');
    }
  })().catch(() => {});
  try {
    const jsm = await jetstreamManager(nc, { timeout });
    const js = jetstream(nc, { timeout });
    for (const sc of streamConfigs(cfg.subjectPrefix)) await ensureStream(jsm, sc, log);
    const names = streamNames(cfg.subjectPrefix);
    return {
      nc,
      js,
      jsm,
      prefix: cfg.subjectPrefix,
      streamName: names.events,
      dlqStreamName: names.dlq,
      log,
      metrics: cfg.metrics ?? {},
      async close() {
        if (nc.isClosed()) return;
        // drain: flushes pending acks/publishes and lets subscriptions finish.
        await nc.drain().catch(() => nc.close());
      },
    };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}
