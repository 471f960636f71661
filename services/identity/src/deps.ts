import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import type { KeyRing } from './auth/keyring';

export interface IdentityConfig {
  internalSecret: string;
  /** Refresh token lifetime (30 days by default). */
  refreshTokenTtlS: number;
  /** Invitation lifetime (7 days by default). */
  invitationTtlS: number;
  /** Link put in invitation emails; the token is appended as `?token=`. */
  inviteUrlBase: string;
}

/** What createServer needs; index.ts builds it from env, tests from a test database. */
export interface ServerDeps {
  /** Runtime role: row-level security applies. */
  db: Db;
  /** System role (BYPASSRLS): cross-tenant lookups (login by email, refresh tokens, invitations, API keys, keys). */
  systemDb: Db;
  keys: KeyRing;
  config: IdentityConfig;
  log: Logger;
}
