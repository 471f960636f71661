import type { Tx } from '@cos/db';

export interface LoginThrottleLimits {
  /** Sliding window length. */
  windowS: number;
  /** Failed (or still pending) attempts per account within the window, counted since its last successful sign-in. */
  maxPerAccount: number;
  /** Failed (or still pending) attempts per client IP within the window, across all accounts. */
  maxPerIp: number;
}

export type Reservation = { ok: true; attemptId: string } | { ok: false; retryAfterS: number; scope: 'account' | 'ip' };

/**
 * Counts the recent failures of the account (sha256 of the normalized email) and of the IP, and either refuses
 * (with the seconds until the oldest counted failure leaves the window) or records a 'pending' attempt. Runs under
 * a transaction-scoped advisory lock on the account, so concurrent guesses at one account are counted one by one.
 * Refused attempts are not recorded: hammering does not extend the lock-out. System role (no tenant).
 */
export async function reserveLoginAttempt(
  tx: Tx,
  attempt: { attemptId: string; account: string; ip: string | null },
  limits: LoginThrottleLimits,
): Promise<Reservation> {
  await tx.query(`/* lockLoginAccount */ SELECT pg_advisory_xact_lock(hashtextextended('login:' || $1, 0))`, [attempt.account]);
  const row = await tx.one<{ accountN: number; accountRetry: number | null; ipN: number; ipRetry: number | null }>(
    `/* countLoginFailures */
     WITH w AS (SELECT now() - make_interval(secs => $3) AS since),
     acc AS (
       SELECT a.at FROM login_attempts a, w
       WHERE a.account = $1 AND a.outcome <> 'success'
         AND a.at > greatest(w.since, coalesce((SELECT max(s.at) FROM login_attempts s
                                                WHERE s.account = $1 AND s.outcome = 'success' AND s.at > w.since), w.since))),
     ip AS (
       SELECT a.at FROM login_attempts a, w WHERE $2::text IS NOT NULL AND a.ip = $2 AND a.outcome <> 'success' AND a.at > w.since)
     SELECT (SELECT count(*) FROM acc)::int AS "accountN",
            (SELECT ceil(extract(epoch FROM min(at) + make_interval(secs => $3) - now())) FROM acc)::int AS "accountRetry",
            (SELECT count(*) FROM ip)::int AS "ipN",
            (SELECT ceil(extract(epoch FROM min(at) + make_interval(secs => $3) - now())) FROM ip)::int AS "ipRetry"`,
    [attempt.account, attempt.ip, limits.windowS],
  );
  if (row && row.accountN >= limits.maxPerAccount) {
    return { ok: false, scope: 'account', retryAfterS: Math.max(1, row.accountRetry ?? limits.windowS) };
  }
  if (row && attempt.ip && row.ipN >= limits.maxPerIp) {
    return { ok: false, scope: 'ip', retryAfterS: Math.max(1, row.ipRetry ?? limits.windowS) };
  }
  await tx.query(`/* insertLoginAttempt */ INSERT INTO login_attempts (id, account, ip) VALUES ($1, $2, $3)`, [
    attempt.attemptId,
    attempt.account,
    attempt.ip,
  ]);
  // Housekeeping, bounded: this account's rows that left the window long ago.
  await tx.query(
    `/* purgeOldLoginAttempts */ DELETE FROM login_attempts WHERE account = $1 AND at < now() - make_interval(secs => $2 * 2)`,
    [attempt.account, limits.windowS],
  );
  return { ok: true, attemptId: attempt.attemptId };
}

export const finishLoginAttempt = (tx: Tx, attemptId: string, outcome: 'success' | 'failure') =>
  tx.query(`/* finishLoginAttempt */ UPDATE login_attempts SET outcome = $2 WHERE id = $1`, [attemptId, outcome]);

/** Rows of every account older than `olderThanS` (a periodic sweep; the per-account purge misses idle accounts). */
export const purgeLoginAttempts = (tx: Tx, olderThanS: number) =>
  tx.query(`/* purgeLoginAttempts */ DELETE FROM login_attempts WHERE at < now() - make_interval(secs => $1)`, [olderThanS]);
