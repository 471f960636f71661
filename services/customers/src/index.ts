/**
 * customers subgraph process: env → Postgres pools (runtime + system) → NATS bus → outbox relay → HTTP server,
 * and a graceful shutdown that drains requests, stops the relay and closes NATS and the pools.
 * Migrations are applied by `pnpm migrate` / `pnpm start` before services start.
 */
import { connectBus, startOutboxRelay } from '@cos/bus';
import { createPool, Db, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { busMetrics, createMetrics, metricsResponse, observePool, useOperationMetrics } from '@cos/observability';
import { runService } from '@cos/service-kit';
import { loadEnv } from './env';
import { NOTIFY_CHANNEL } from './projections';
import { createServer } from './server';

const SERVICE = 'customers';

async function main() {
  const env = loadEnv();
  const log = createLogger(SERVICE, env.LOG_LEVEL);
  const cfg = serviceDatabase(SERVICE, env.COS_PG_ADMIN_URL, { runtimeUrl: env.DATABASE_URL, systemUrl: env.SYSTEM_DATABASE_URL });
  const db = new Db(
    createPool({
      connectionString: cfg.runtimeUrl,
      schema: cfg.schema,
      applicationName: SERVICE,
      max: env.PG_POOL_MAX,
      statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS,
      log,
    }),
  );
  const systemDb = new Db(
    createPool({
      connectionString: cfg.systemUrl,
      schema: cfg.schema,
      applicationName: `${SERVICE}:system`,
      max: env.PG_SYSTEM_POOL_MAX,
      statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS,
      log,
    }),
  );
  const metrics = createMetrics(SERVICE);
  observePool(metrics, 'runtime', db.pool);
  observePool(metrics, 'system', systemDb.pool);
  const bus = await connectBus({
    servers: env.NATS_URL,
    subjectPrefix: env.COS_SUBJECT_PREFIX,
    name: SERVICE,
    log,
    metrics: busMetrics(metrics),
  });
  const relay = startOutboxRelay({ bus, db: systemDb, service: SERVICE, notifyChannel: NOTIFY_CHANNEL, log });

  const server = createServer({
    db,
    log,
    internalSecret: env.INTERNAL_SECRET,
    plugins: [useOperationMetrics(metrics)],
    routes: { '/metrics': () => metricsResponse(metrics) },
    onLoaderBatch: (loader, size) => metrics.dataloaderBatchSize.observe({ loader }, size),
    readiness: {
      postgres: async () => {
        await db.pool.query('SELECT 1');
      },
      nats: async () => {
        if (bus.nc.isClosed()) throw new Error('NATS connection closed');
      },
    },
  });

  await runService({
    name: SERVICE,
    port: env.PORT,
    host: env.HOST,
    log,
    handler: server.yoga,
    onDrain: () => server.drain(),
    onShutdown: async () => {
      await relay.stop();
      await bus.close();
      await Promise.allSettled([db.close(), systemDb.close()]);
    },
  });
}

main().catch((err: unknown) => {
  // eslint-disable-next-line no-console
  console.error('customers failed to start', err);
  process.exit(1);
});
