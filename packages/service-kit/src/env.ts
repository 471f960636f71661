import { z } from 'zod';

/**
 * Environment every subgraph service reads (each service extends it in src/env.ts and parses it with
 * @cos/config's parseEnv). Pool sizing: see README "Capacity" — 4 services x (PG_POOL_MAX + PG_SYSTEM_POOL_MAX)
 * per instance must stay well below Postgres max_connections.
 */
export const baseServiceEnv = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('127.0.0.1'),
  /** As @cos/config's envFields.shutdownDelayMs (this package does not depend on it): serve with readiness 503 this long after SIGTERM. */
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /** Admin connection to the project database; the service derives its own role URLs from it. */
  COS_PG_ADMIN_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/cos'),
  /** Explicit role URLs (production, with passwords) override the derived ones. */
  DATABASE_URL: z.string().url().optional(),
  SYSTEM_DATABASE_URL: z.string().url().optional(),
  PG_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  PG_SYSTEM_POOL_MAX: z.coerce.number().int().min(1).max(50).default(3),
  /** Server-side statement timeout: no query may hold a connection longer. */
  PG_STATEMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  // Named prepared statements kept per connection (@cos/db DbOptions.preparedStatements); 0 = off, e.g. behind a
  // pooler in transaction mode that does not track them.
  PG_PREPARED_STATEMENTS: z.coerce.number().int().min(0).max(10_000).default(100),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  /** First token of every event subject and of the JetStream stream names; tests use their own. */
  COS_SUBJECT_PREFIX: z.string().regex(/^[a-z][a-z0-9]*$/).default('cos'),
  /** HMAC secret shared with the gateway for the signed principal header. */
  INTERNAL_SECRET: z.string().min(32, 'must be at least 32 characters'),
  /** Apply migrations at startup (under the runner's advisory lock, so many instances may do it at once). */
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /**
   * Master key that wraps the per-subject data keys of personal data (crypto-shredding, docs/privacy.md): 32 bytes
   * as 64 hex characters or base64; or PII_MASTER_KEY_FILE. Required in production; a development key otherwise.
   */
  PII_MASTER_KEY: z.string().min(1).optional(),
  /** After a rotation: the former master keys (comma-separated), until `pnpm pii:rotate <service>` re-wrapped every data key. */
  PII_PREVIOUS_MASTER_KEYS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean)),
  /** How often the retention job runs (it deletes rows past their RETENTION_* age in batches); 0 = never. */
  RETENTION_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  /** Rows deleted per statement by the retention job. */
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Days a consumer's inbox rows (processed event ids) are kept: longer than the dead-letter stream keeps a message (30 days), so a replayed dead letter is still recognised. */
  RETENTION_INBOX_DAYS: z.coerce.number().int().min(1).default(35),
  /** The release this process runs (image tag, git sha), shown in `pnpm migrate --status` and contract refusals. */
  COS_CODE_VERSION: z.string().max(100).default('dev'),
  /** OTLP/HTTP collector base URL; unset = tracing off (no OpenTelemetry SDK registered). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
});
export type BaseServiceEnv = z.infer<typeof baseServiceEnv>;
