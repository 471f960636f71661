/**
 * The mailer process: env → migrations (MIGRATE_ON_START) → system pool → bus → consumers (events → mail outbox)
 * → sender (outbox → SMTP, or .eml files in development) → retention → HTTP (/healthz, /readyz, /metrics), run by
 * service-kit's runProcess like every subgraph. SIGTERM: readiness 503, stop accepting, then retention → sender →
 * consumers → bus → pool, exit 0.
 */
import { fileURLToPath } from 'node:url';
import { connectBus } from '@cos/bus';
import { parseEnv } from '@cos/config';
import { createPool, Db, migrate, serviceDatabase } from '@cos/db';
import { createLogger } from '@cos/logger';
import { busMetrics, createMetrics, observePool } from '@cos/observability';
import { readinessChecks, runProcess, startServiceRetention } from '@cos/service-kit';
import { startMailerConsumers, MAILER_SERVICE } from './consumers';
import { mailerEnv, mailUnsubscribeSecret } from './env';
import { createHttpHandler } from './http';
import { createMailerMetrics } from './metrics';
import { startSender } from './sender';
import { fileTransport, smtpTransport } from './transport';

const env = parseEnv(mailerEnv);
const log = createLogger(MAILER_SERVICE, env.LOG_LEVEL);

async function main(): Promise<void> {
  if (env.NODE_ENV === 'production' && !env.SMTP_URL) throw new Error('SMTP_URL (or SMTP_URL_FILE) is required in production');
  const secret = mailUnsubscribeSecret(env);
  const cfg = serviceDatabase(MAILER_SERVICE, env.COS_PG_ADMIN_URL, { systemUrl: env.SYSTEM_DATABASE_URL });
  if (env.MIGRATE_ON_START) {
    await migrate({
      adminUrl: cfg.adminUrl,
      schema: cfg.schema,
      runtimeRole: cfg.runtimeRole,
      systemRole: cfg.systemRole,
      dir: fileURLToPath(new URL('../migrations', import.meta.url)),
      log: (m) => log.info(m),
    });
  }
  let draining = false;
  await runProcess({
    name: MAILER_SERVICE,
    port: env.PORT,
    host: env.HOST,
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    log,
    open: async (onClose) => {
      const db = new Db(
        createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS, applicationName: 'mailer', max: env.PG_SYSTEM_POOL_MAX, log }),
      );
      onClose(() => db.close());
      const metrics = createMetrics(MAILER_SERVICE);
      observePool(metrics, 'system', db.pool);
      const mailerMetrics = createMailerMetrics(metrics.registry, db);
      const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: MAILER_SERVICE, log, metrics: busMetrics(metrics) });
      onClose(() => bus.close());
      const links = { publicBaseUrl: env.PUBLIC_BASE_URL, unsubscribeSecret: secret };
      const consumers = await startMailerConsumers({ bus, db, log, links, metrics: busMetrics(metrics) });
      onClose(() => Promise.allSettled(consumers.map((c) => c.stop())));
      const transport = env.SMTP_URL ? smtpTransport(env.SMTP_URL, env.SMTP_TIMEOUT_MS) : fileTransport(env.MAIL_DIR);
      log.info({ transport: transport.describe }, 'mail transport');
      const sender = startSender({
        db,
        transport,
        from: env.MAIL_FROM,
        links,
        log,
        maxAttempts: env.MAIL_MAX_ATTEMPTS,
        retryBaseMs: env.MAIL_RETRY_BASE_MS,
        retryMaxMs: env.MAIL_RETRY_MAX_MS,
        pollMs: env.MAIL_POLL_MS,
        leaseMs: env.MAIL_LEASE_MS,
        listenUrl: cfg.systemUrl,
        metrics: mailerMetrics,
      });
      onClose(() => sender.stop());
      const retention = startServiceRetention({
        service: MAILER_SERVICE,
        db,
        rules: [
          { table: 'inbox', column: 'processed_at', days: env.RETENTION_INBOX_DAYS },
          { table: 'mails', column: 'created_at', days: env.RETENTION_SENT_MAILS_DAYS, where: `status IN ('SENT', 'SKIPPED', 'DEAD')` },
        ],
        env,
        log,
        metrics,
      });
      onClose(() => retention.stop());
      return {
        handler: createHttpHandler({
          log,
          isDraining: () => draining,
          readiness: readinessChecks(db, bus),
          metricsText: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        }),
        onDrain: () => {
          draining = true;
        },
      };
    },
  });
}

main().catch((err) => {
  log.fatal({ err }, 'mailer failed to start');
  process.exit(1);
});
