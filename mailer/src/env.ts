import { unsubscribeSecret } from '@cos/auth';
import { envFields, z } from '@cos/config';

/** The mailer's settings (README "Email"); every secret also as `<NAME>_FILE`. */
export const mailerEnv = z.object({
  NODE_ENV: envFields.nodeEnv(),
  LOG_LEVEL: envFields.logLevel(),
  HOST: z.string().default('127.0.0.1'),
  /** See @cos/config envFields.shutdownDelayMs. */
  SHUTDOWN_DELAY_MS: envFields.shutdownDelayMs(),
  /** /healthz, /readyz and /metrics. */
  PORT: envFields.port(4006),
  COS_PG_ADMIN_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/cos'),
  /** The mailer's system-role URL (production, with a password); derived from COS_PG_ADMIN_URL otherwise. */
  SYSTEM_DATABASE_URL: z.string().url().optional(),
  PG_SYSTEM_POOL_MAX: z.coerce.number().int().min(1).max(50).default(4),
  PG_STATEMENT_TIMEOUT_MS: envFields.ms(5_000),
  MIGRATE_ON_START: envFields.bool(true),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  COS_SUBJECT_PREFIX: z.string().regex(/^[a-z][a-z0-9]*$/).default('cos'),
  /** smtp://user:pass@host:port or smtps://…; unset outside production: mails are written as .eml files to MAIL_DIR. */
  SMTP_URL: z.string().url().optional(),
  MAIL_DIR: z.string().default('.data/mail'),
  MAIL_FROM: z.string().min(3).default('Company OS <no-reply@company-os.local>'),
  /** Where links in mails point: the gateway's public base URL (`/unsubscribe` there reaches identity). */
  PUBLIC_BASE_URL: z.string().url().default('http://localhost:4000'),
  /** HMAC key of unsubscribe tokens, the same as identity's (32+ characters); MAIL_UNSUBSCRIBE_SECRET_FILE works too. */
  MAIL_UNSUBSCRIBE_SECRET: envFields.secret().optional(),
  /** Sending attempts before a mail is DEAD (`pnpm dlq mail list|retry`). */
  MAIL_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  /** First retry delay; doubles each attempt (with jitter), capped at MAIL_RETRY_MAX_MS. */
  MAIL_RETRY_BASE_MS: envFields.ms(5_000),
  MAIL_RETRY_MAX_MS: envFields.ms(3_600_000),
  /** How often the sender looks for due mails when nothing wakes it. */
  MAIL_POLL_MS: envFields.ms(1_000),
  /** A leased mail is retried after this if its sender died mid-send. */
  MAIL_LEASE_MS: envFields.ms(60_000),
  /** SMTP connection/greeting/socket timeout. */
  SMTP_TIMEOUT_MS: envFields.ms(10_000),
  /** Retention of SENT mails (their rows hold addresses and bodies), days; DEAD mails are kept as long. */
  RETENTION_SENT_MAILS_DAYS: z.coerce.number().int().min(1).default(30),
  RETENTION_INBOX_DAYS: z.coerce.number().int().min(1).default(35),
  RETENTION_INTERVAL_MS: z.coerce.number().int().min(0).default(3_600_000),
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1_000),
});
export type MailerEnv = z.infer<typeof mailerEnv>;

/** The unsubscribe secret, with the development default identity shares (refused in production). */
export const mailUnsubscribeSecret = (env: MailerEnv): string => unsubscribeSecret(env.NODE_ENV, env.MAIL_UNSUBSCRIBE_SECRET);
