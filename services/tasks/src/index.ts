/**
 * tasks service main: env -> migrations -> pools -> bus -> outbox relay + consumers -> server -> graceful shutdown.
 * Consumes identity (members), agents (directory, approval requests) and customers (churn risk) events; publishes
 * its own TaskEvent union through the outbox relay.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, startOutboxRelay } from '@cos/bus';
import { createPool, Db, migrate, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { runService } from '@cos/service-kit';
import { loadEnv } from './env';
import { startTasksConsumers } from './events/consumers';
import { NOTIFY_CHANNEL } from './projections';
import { createServer } from './server';

const SERVICE = 'tasks';

async function main() {
  const env = loadEnv();
  const log = createLogger(SERVICE, env.LOG_LEVEL);
  const cfg = serviceDatabase(SERVICE, env.COS_PG_ADMIN_URL, { runtimeUrl: env.DATABASE_URL, systemUrl: env.SYSTEM_DATABASE_URL });
  await migrate({
    adminUrl: cfg.adminUrl,
    schema: cfg.schema,
    runtimeRole: cfg.runtimeRole,
    systemRole: cfg.systemRole,
    dir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations'),
    log: (m) => log.info(m),
  });
  const poolOpts = { schema: cfg.schema, statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS, log };
  const db = new Db(createPool({ ...poolOpts, connectionString: cfg.runtimeUrl, applicationName: 'tasks', max: env.PG_POOL_MAX }));
  const systemDb = new Db(
    createPool({ ...poolOpts, connectionString: cfg.systemUrl, applicationName: 'tasks-system', max: env.PG_SYSTEM_POOL_MAX }),
  );

  const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: SERVICE, log });
  const relay = startOutboxRelay({ bus, db: systemDb, service: SERVICE, notifyChannel: NOTIFY_CHANNEL, log });
  const consumers = await startTasksConsumers({ bus, systemDb, log });

  const server = createServer({
    db,
    internalSecret: env.INTERNAL_SECRET,
    log,
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
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await relay.stop();
      await bus.close();
      await Promise.allSettled([db.close(), systemDb.close()]);
    },
  });
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error(err);
  process.exit(1);
});
