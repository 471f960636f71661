/**
 * agents service main: env -> migrations -> pools -> bus -> outbox relay + consumers -> runner -> server ->
 * graceful shutdown. Consumes identity (OrganizationCreated -> the seven agents) and tasks (known tasks, assignment
 * -> queued run, approval decisions -> resume/cancel); publishes its AgentEvent union through the outbox relay.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, startOutboxRelay } from '@cos/bus';
import { createPool, Db, migrate, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { runService } from '@cos/service-kit';
import { loadEnv } from './env';
import { startAgentsConsumers } from './events/consumers';
import { SERVICE } from './events/subjects';
import { NOTIFY_CHANNEL } from './projections';
import { createRunner } from './runner/runner';
import { createServer } from './server';

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
  const db = new Db(createPool({ ...poolOpts, connectionString: cfg.runtimeUrl, applicationName: SERVICE, max: env.PG_POOL_MAX }));
  // System pool: relay, consumers and the runner (heartbeats included) share it, so it needs room for all of them.
  const systemDb = new Db(
    createPool({
      ...poolOpts,
      connectionString: cfg.systemUrl,
      applicationName: `${SERVICE}-system`,
      max: env.PG_SYSTEM_POOL_MAX + (env.AGENTS_RUNNER_ENABLED ? env.AGENTS_RUNNER_CONCURRENCY : 0),
    }),
  );

  const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: SERVICE, log });
  const relay = startOutboxRelay({ bus, db: systemDb, service: SERVICE, notifyChannel: NOTIFY_CHANNEL, log });
  const consumers = await startAgentsConsumers({ bus, systemDb, log, maxAttempts: env.AGENTS_MAX_ATTEMPTS });

  const runner = createRunner({
    db: systemDb,
    log,
    leaseMs: env.AGENTS_LEASE_MS,
    heartbeatMs: env.AGENTS_HEARTBEAT_MS,
    pollMs: env.AGENTS_POLL_MS,
    supervisorMs: env.AGENTS_SUPERVISOR_MS,
    concurrency: env.AGENTS_RUNNER_CONCURRENCY,
  });
  if (env.AGENTS_RUNNER_ENABLED) runner.start();

  const server = createServer({
    db,
    log,
    internalSecret: env.INTERNAL_SECRET,
    maxAttempts: env.AGENTS_MAX_ATTEMPTS,
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
      // Stop claiming first and let in-flight steps checkpoint, then stop consuming and publishing.
      await runner.stop();
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
