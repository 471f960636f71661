import type { RetentionRule } from '@cos/service-kit';
import type { IdentityEnv } from '../env';

/**
 * identity's retention rules (besides the inbox, which every service with consumers has): docs/privacy.md. Audit entries are a
 * projection of events, so `pnpm rebuild identity` re-creates old ones; the next pass deletes them again.
 */
export const identityRetention = (env: Pick<IdentityEnv, 'RETENTION_LOGIN_ATTEMPTS_DAYS' | 'RETENTION_AUDIT_DAYS' | 'RETENTION_EXPIRED_SESSIONS_DAYS' | 'RETENTION_OUTBOUND_EMAILS_DAYS'>): RetentionRule[] => [
  { table: 'login_attempts', column: 'at', days: env.RETENTION_LOGIN_ATTEMPTS_DAYS },
  { table: 'audit_entries', column: 'at', days: env.RETENTION_AUDIT_DAYS },
  // A spent or revoked refresh token still detects reuse until it expires; after that it only identifies a session.
  { table: 'refresh_tokens', column: 'expires_at', days: env.RETENTION_EXPIRED_SESSIONS_DAYS },
  { table: 'outbound_emails', column: 'created_at', days: env.RETENTION_OUTBOUND_EMAILS_DAYS },
];
