/**
 * identity service main: env -> migrations -> pools -> signing key -> bus + outbox relay -> server -> graceful
 * shutdown. Publishes its IdentityEvent union (cos.<org>.identity.<Aggregate>.<Type>) through the outbox relay;
 * consumes nothing yet.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, startOutboxRelay } from '@cos/bus';
import { createPool, Db, migrate, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { runService } from '@cos/service-kit';
import { ensureActiveSigningKey, KeyRing } from './auth/keyring';
import { loadEnv } from './env';
import { NOTIFY_CHANNEL } from './projections';
import { createServer } from './server';

const SERVICE = 'identity';

async function main() {
  const env = loadEnv();
  const log = createLogger(SERVICE, env.LOG_LEVEL);
  const cfg = serviceDatabase(SERVICE, env.COS_PG_ADMIN_URL, { runtimeUrl: env.DATABASE_URL, systemUrl: env.SYSTEM_DATABASE_URL });
  if (env.MIGRATE_ON_START) {
    await migrate({
      adminUrl: cfg.adminUrl,
      schema: cfg.schema,
      runtimeRole: cfg.runtimeRole,
      systemRole: cfg.systemRole,
      dir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../migrations'),
      log: (m) => log.info(m),
    });
  }
  const poolOpts = { schema: cfg.schema, statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS, log };
  const db = new Db(createPool({ ...poolOpts, connectionString: cfg.runtimeUrl, applicationName: SERVICE, max: env.PG_POOL_MAX }));
  const systemDb = new Db(
    createPool({ ...poolOpts, connectionString: cfg.systemUrl, applicationName: `${SERVICE}-system`, max: env.PG_SYSTEM_POOL_MAX }),
  );

  const kid = await ensureActiveSigningKey(systemDb);
  log.info({ kid }, 'signing key ready');
  const keys = new KeyRing(systemDb, { accessTokenTtlS: env.ACCESS_TOKEN_TTL_S });

  const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: SERVICE, log });
  const relay = startOutboxRelay({ bus, db: systemDb, service: SERVICE, notifyChannel: NOTIFY_CHANNEL, log });

  const server = createServer(
    {
      db,
      systemDb,
      keys,
      log,
      config: {
        internalSecret: env.INTERNAL_SECRET,
        refreshTokenTtlS: env.REFRESH_TOKEN_TTL_S,
        invitationTtlS: env.INVITATION_TTL_S,
        inviteUrlBase: env.INVITE_URL_BASE,
      },
    },
    {
      nats: async () => {
        if (bus.nc.isClosed()) throw new Error('NATS connection closed');
      },
    },
  );

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

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error(err);
  process.exit(1);
});
