import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import type { KeyRing } from './auth/keyring';
import type { LoginThrottleLimits } from './store/login-attempts-store';

export const DEFAULT_REFRESH_REUSE_GRACE_S = 10;

export interface IdentityConfig {
  internalSecret: string;
  /** Refresh token lifetime (30 days by default). */
  refreshTokenTtlS: number;
  /**
   * Seconds during which a just-rotated refresh token may be presented again without revoking its family, as long as
   * its successor has not been used (two tabs refreshing at once, a retried request). 0 = every reuse revokes.
   * Default DEFAULT_REFRESH_REUSE_GRACE_S.
   */
  refreshReuseGraceS?: number;
  /** Invitation lifetime (7 days by default). */
  invitationTtlS: number;
  /** Link put in invitation emails; the token is appended as `?token=`. */
  inviteUrlBase: string;
  /** Sign-in throttling (DEFAULT_LOGIN_THROTTLE when absent). */
  loginThrottle?: LoginThrottleLimits;
  /** Supergraph (file path or URL) that trusted documents are validated against at registration; default: the committed one. */
  supergraph?: string;
  /** Verifies unsubscribe links (`/unsubscribe`, README "Email"); the mailer signs them with the same key. */
  unsubscribeSecret?: string;
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
  /** DataLoader batch sizes (cos_dataloader_batch_size{loader}); from startSubgraphProcess. */
  onLoaderBatch?: (loader: string, size: number) => void;
}

/** 5 failures per account and 50 per client IP in any 15 minutes. */
export const DEFAULT_LOGIN_THROTTLE: LoginThrottleLimits = { windowS: 900, maxPerAccount: 5, maxPerIp: 50 };
