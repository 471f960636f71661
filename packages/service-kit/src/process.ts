import type { BatchObserver } from './loaders';
import { fileURLToPath } from 'node:url';
import { connectBus, startOutboxRelay, type Bus } from '@cos/bus';
import { createPool, Db, migrate, schemaLevelOf, serviceDatabase } from '@cos/db';
import { createLogger, type Logger } from '@cos/logger';
import {
  busMetrics,
  createMetrics,
  initTracing,
  metricsResponse,
  observePool,
  traceQueries,
  useOperationMetrics,
  useTracing,
  type Metrics,
  type Tracing,
} from '@cos/observability';
import type { EventDataCodec } from '@cos/event-store';
import { configureMasterKeys } from '@cos/pii';
import type { Plugin } from 'graphql-yoga';
import type { BaseServiceEnv } from './env';
import { startServiceRetention, type RetentionRule } from './retention';
import { registerInstance } from './instances';
import { runService, setProcessInstrumentation, type ReadinessCheck, type RunOptions } from './server';

/** What a service's factories receive from the bootstrap. */
export interface ProcessDeps<E> {
  env: E;
  log: Logger;
  /** Runtime role (RLS applies): request paths. */
  db: Db;
  /** System role (BYPASSRLS): relay, consumers, runners, cross-tenant lookups. */
  systemDb: Db;
  bus: Bus;
  metrics: Metrics;
  tracing: Tracing;
  /** Postgres + NATS checks for /readyz. */
  readiness: Record<string, ReadinessCheck>;
  /** DataLoader batch-size hook for the service's loaders (`cos_dataloader_batch_size{loader}`). */
  onLoaderBatch: BatchObserver;
}

/** The subset of a subgraph server the bootstrap drives. */
export interface ProcessServer {
  yoga: Parameters<typeof runService>[0]['handler'];
  drain(): void;
}

export interface Stoppable {
  stop(): Promise<void>;
}

export interface SubgraphProcessOptions<E extends BaseServiceEnv & { PORT: number }> {
  service: string;
  /** The service's parsed env (it extends baseServiceEnv). */
  env: E;
  /** Migrations applied when MIGRATE_ON_START; default services/<service>/migrations of this checkout/image. */
  migrationsDir?: string;
  /** The event store's NOTIFY channel the outbox relay listens on. */
  notifyChannel: string;
  /** The event store's personal-data codec (crypto-shredding): the outbox relay publishes opened events. */
  eventCodec?: EventDataCodec;
  /**
   * The service's retention rules besides its inbox (the inbox's when it has `consumers`: only a service that consumes
   * events declares @cos/bus in its migrations/packages.json; docs/privacy.md); the job runs every RETENTION_INTERVAL_MS
   * with a lease, so one instance at a time deletes.
   */
  retention?: (env: E) => RetentionRule[];
  /** Extra system-pool connections (e.g. the agents runner's concurrency). */
  systemPoolExtra?: number;
  createServer: (deps: ProcessDeps<E>) => ProcessServer | Promise<ProcessServer>;
  /** Starts the service's durable consumers (stopped before the relay at shutdown). */
  consumers?: (deps: ProcessDeps<E>) => Promise<Stoppable[]>;
  /** A background worker (stopped first at shutdown). */
  runner?: (deps: ProcessDeps<E>) => Stoppable | Promise<Stoppable>;
  /**
   * The schema level this code is written for (registered in service_instances; contract migrations above it wait
   * until no such instance is live). Default: the highest migration version in the migrations folder it ships with.
   */
  schemaLevel?: number;
}

/**
 * The one main of every subgraph process: env → logger/tracing → migrations (MIGRATE_ON_START) → runtime + system
 * pools (with pool gauges and SQL spans) → metrics → bus (bus metrics) → outbox relay → consumers → runner → server
 * (operation metrics, tracing, GET /metrics) → runService. SIGTERM/SIGINT: readiness 503, stop accepting, finish
 * in-flight requests, then runner → consumers → relay → bus → pools → tracing, in that order.
 * Anything that fails during startup closes what was opened and rethrows (the caller exits 1).
 */
export async function startSubgraphProcess<E extends BaseServiceEnv & { PORT: number }>(opts: SubgraphProcessOptions<E>) {
  const { service, env } = opts;
  const log = createLogger(service, env.LOG_LEVEL);
  if (env.NODE_ENV === 'production' && !env.PII_MASTER_KEY) {
    throw new Error('PII_MASTER_KEY (or PII_MASTER_KEY_FILE) is required in production');
  }
  configureMasterKeys(env.PII_MASTER_KEY, env.PII_PREVIOUS_MASTER_KEYS);
  if (!env.PII_MASTER_KEY) log.warn('PII_MASTER_KEY is not set: personal data is encrypted with the development master key');
  const tracing = initTracing({ service, otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  if (tracing.enabled) log.info({ endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT }, 'OpenTelemetry tracing on');
  const cfg = serviceDatabase(service, env.COS_PG_ADMIN_URL, { runtimeUrl: env.DATABASE_URL, systemUrl: env.SYSTEM_DATABASE_URL });
  const migrationsDir = opts.migrationsDir ?? fileURLToPath(new URL(`../../../services/${service}/migrations`, import.meta.url));
  if (env.MIGRATE_ON_START) {
    // Expand phase only: a contract migration never runs at startup (`pnpm migrate --contract`, docs/migrations.md).
    await migrate({
      adminUrl: cfg.adminUrl,
      schema: cfg.schema,
      runtimeRole: cfg.runtimeRole,
      systemRole: cfg.systemRole,
      dir: migrationsDir,
      maxVersion: opts.schemaLevel,
      log: (m) => log.info(m),
    });
  }
  const schemaLevel = opts.schemaLevel ?? (await schemaLevelOf(migrationsDir));

  const opened = await runProcess({
    name: service,
    port: env.PORT,
    host: env.HOST,
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    log,
    open: async (onClose) => {
      onClose(() => tracing.shutdown());
      const poolOpts = { schema: cfg.schema, statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS, log };
      const dbOpts = { preparedStatements: env.PG_PREPARED_STATEMENTS };
      const db = new Db(createPool({ ...poolOpts, connectionString: cfg.runtimeUrl, applicationName: service, max: env.PG_POOL_MAX }), dbOpts);
      const systemDb = new Db(
        createPool({
          ...poolOpts,
          connectionString: cfg.systemUrl,
          applicationName: `${service}-system`,
          max: env.PG_SYSTEM_POOL_MAX + (opts.systemPoolExtra ?? 0),
        }),
        dbOpts,
      );
      onClose(() => Promise.allSettled([db.close(), systemDb.close()]));
      const registration = await registerInstance({ db: systemDb, service, schemaLevel, codeVersion: env.COS_CODE_VERSION, log });
      // Closed in reverse: deregistered after the server drained and the consumers stopped, before the pools close.
      onClose(() => registration.deregister());

      const metrics = createMetrics(service);
      observePool(metrics, 'runtime', db.pool);
      observePool(metrics, 'system', systemDb.pool);
      if (tracing.enabled) {
        traceQueries(db, service);
        traceQueries(systemDb, service);
      }

      const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: service, log, metrics: busMetrics(metrics) });
      onClose(() => bus.close());
      const relay = startOutboxRelay({ bus, db: systemDb, service, notifyChannel: opts.notifyChannel, log, codec: opts.eventCodec });
      onClose(() => relay.stop());

      const deps: ProcessDeps<E> = {
        env,
        log,
        db,
        systemDb,
        bus,
        metrics,
        tracing,
        readiness: readinessChecks(db, bus),
        onLoaderBatch: (loader, size) => metrics.dataloaderBatchSize.observe({ loader }, size),
      };

      const consumers = opts.consumers ? await opts.consumers(deps) : [];
      onClose(() => Promise.allSettled(consumers.map((c) => c.stop())));
      const retention = startServiceRetention({
        service,
        db: systemDb,
        rules: [...(opts.consumers ? [{ table: 'inbox', column: 'processed_at', days: env.RETENTION_INBOX_DAYS }] : []), ...(opts.retention?.(env) ?? [])],
        env,
        log,
        metrics,
      });
      onClose(() => retention.stop());
      const runner = opts.runner ? await opts.runner(deps) : null;
      if (runner) onClose(() => runner.stop());

      const plugins: Plugin[] = [useOperationMetrics(metrics)];
      if (tracing.enabled) plugins.unshift(useTracing({ service }));
      // Every subgraph server created in this process gets the metrics/tracing plugins and GET /metrics.
      setProcessInstrumentation({ plugins, routes: { '/metrics': () => metricsResponse(metrics) } });
      const server = await opts.createServer(deps);
      return { handler: server.yoga, onDrain: () => server.drain(), deps };
    },
  });
  return opened.deps;
}

/** Registers how to close something a process opened (closed at shutdown, in reverse order of registration). */
export type OnClose = (close: () => Promise<unknown>) => void;

export interface RunProcessOptions<T> {
  name: string;
  port: number;
  host?: string;
  /** SHUTDOWN_DELAY_MS (runService's shutdownDelayMs). */
  shutdownDelayMs?: number;
  log: Logger;
  /**
   * Opens the process's resources, registering each one's close with `onClose` as soon as it is open, and answers
   * its HTTP handler (health, readiness, metrics ...) and what to do when draining starts (readiness 503).
   */
  open: (onClose: OnClose) => Promise<T & { handler: RunOptions['handler']; onDrain?: () => void }>;
}

/**
 * The lifecycle of every long-running process (each subgraph through startSubgraphProcess, the mailer): open its
 * resources, then listen (runService). SIGTERM/SIGINT: onDrain, stop accepting, finish in-flight requests, close
 * what was opened in reverse order (a close that fails is logged and the others still run), exit 0. When opening or
 * listening fails, what was opened so far is closed and the error rethrown (the caller exits 1). Answers what
 * `open` answered.
 */
export async function runProcess<T>(opts: RunProcessOptions<T>): Promise<T & { handler: RunOptions['handler']; onDrain?: () => void }> {
  const { log } = opts;
  const closers: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        log.error({ err }, 'error during shutdown');
      }
    }
    closers.length = 0;
  };
  try {
    const opened = await opts.open((close) => closers.push(close));
    await runService({
      name: opts.name,
      port: opts.port,
      host: opts.host,
      shutdownDelayMs: opts.shutdownDelayMs,
      log,
      handler: opened.handler,
      onDrain: opened.onDrain,
      onShutdown: closeAll,
    });
    return opened;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** /readyz checks of a process on Postgres and NATS: the pool answers, the bus connection is open. */
export function readinessChecks(db: Db, bus: Bus): Record<string, ReadinessCheck> {
  return {
    postgres: async () => {
      await db.pool.query('SELECT 1');
    },
    nats: async () => {
      if (bus.nc.isClosed()) throw new Error('NATS connection closed');
    },
  };
}

/** `main().catch(exitOnStartupError(log))`-style helper: print the failure and exit 1. */
export function exitOnStartupError(service: string) {
  return (err: unknown) => {
    // eslint-disable-next-line no-console
    console.error(`${service} failed to start`, err);
    process.exit(1);
  };
}
