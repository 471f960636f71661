import { parseEnv } from '@cos/config';
import { baseServiceEnv } from '@cos/service-kit';
import { z } from 'zod';

export const identityEnv = baseServiceEnv.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(4001),
  /** Access JWT lifetime: short, because it cannot be revoked before it expires. */
  ACCESS_TOKEN_TTL_S: z.coerce.number().int().min(30).max(86_400).default(900),
  REFRESH_TOKEN_TTL_S: z.coerce.number().int().min(60).default(30 * 24 * 3600),
  /** Concurrent-refresh grace: a rotated token presented again within this many seconds (its successor unused) is
   *  answered with a sibling token instead of revoking the family. 0 turns it off. */
  REFRESH_REUSE_GRACE_S: z.coerce.number().int().min(0).max(60).default(10),
  INVITATION_TTL_S: z.coerce.number().int().min(60).default(7 * 24 * 3600),
  INVITE_URL_BASE: z.string().url().default('http://localhost:4000/accept-invitation'),
  /** Sign-in throttle: sliding window, failures allowed per account (email) and per client IP within it. */
  LOGIN_WINDOW_S: z.coerce.number().int().min(1).default(900),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(50),
  /** Retention (docs/privacy.md), in days: sign-in attempts (throttle rows), audit entries, sessions past their expiry, sent mails. */
  RETENTION_LOGIN_ATTEMPTS_DAYS: z.coerce.number().int().min(1).default(30),
  RETENTION_AUDIT_DAYS: z.coerce.number().int().min(1).default(365),
  RETENTION_EXPIRED_SESSIONS_DAYS: z.coerce.number().int().min(1).default(7),
  RETENTION_OUTBOUND_EMAILS_DAYS: z.coerce.number().int().min(1).default(30),
  /** Supergraph (file or URL) that trusted documents are validated against; default schema/supergraph.graphql. */
  SUPERGRAPH: z.string().min(1).optional(),
  MIGRATE_ON_START: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** HMAC key of unsubscribe links, shared with the mailer (README "Email"); required in production. */
  MAIL_UNSUBSCRIBE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
});
export type IdentityEnv = z.infer<typeof identityEnv>;

export const loadEnv = (source: NodeJS.ProcessEnv = process.env): IdentityEnv => parseEnv(identityEnv, source);
