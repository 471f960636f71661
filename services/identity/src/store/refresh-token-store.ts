import { randomUUID } from 'node:crypto';
import type { Tx } from '@cos/db';
import type { Role } from '@cos/events';

export interface RefreshTokenRow {
  id: string;
  familyId: string;
  userId: string;
  orgId: string;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
}

export const insertRefreshToken = (
  tx: Tx,
  t: { familyId: string; tokenHash: string; userId: string; orgId: string; expiresAt: Date },
) =>
  tx.query(
    `/* insertRefreshToken */ INSERT INTO refresh_tokens (id, family_id, token_hash, user_id, org_id, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [randomUUID(), t.familyId, t.tokenHash, t.userId, t.orgId, t.expiresAt],
  );

/** System role, row locked: two refreshes racing with the same token serialize here (the second sees used_at). */
export const refreshTokenForUpdate = (tx: Tx, tokenHash: string) =>
  tx.one<RefreshTokenRow>(
    `/* refreshTokenForUpdate */ SELECT id, family_id AS "familyId", user_id AS "userId", org_id AS "orgId",
       expires_at AS "expiresAt", used_at AS "usedAt", revoked_at AS "revokedAt"
     FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
    [tokenHash],
  );

/**
 * Whether a USED token may still be presented as a concurrent refresh: used less than `graceS` seconds ago (database
 * clock) and no token of its family used since — once its successor has been used, the old token is stale for sure.
 */
export const withinReuseGrace = async (tx: Tx, t: { id: string; familyId: string }, graceS: number): Promise<boolean> =>
  graceS > 0 &&
  ((
    await tx.one<{ ok: boolean }>(
      `/* withinReuseGrace */ SELECT t.used_at > now() - make_interval(secs => $3)
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens o WHERE o.family_id = $2 AND o.used_at > t.used_at) AS ok
       FROM refresh_tokens t WHERE t.id = $1`,
      [t.id, t.familyId, graceS],
    )
  )?.ok ??
    false);

export const markRefreshTokenUsed = (tx: Tx, id: string) =>
  tx.query(`/* markRefreshTokenUsed */ UPDATE refresh_tokens SET used_at = now() WHERE id = $1`, [id]);

export const revokeRefreshFamily = (tx: Tx, familyId: string) =>
  tx.query(
    `/* revokeRefreshFamily */ UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`,
    [familyId],
  );

/** The caller's current role in the organization (system role): a refresh picks up role changes and removals. */
export const currentRole = async (tx: Tx, userId: string, orgId: string): Promise<Role | null> =>
  (await tx.one<{ role: Role }>(`/* currentRole */ SELECT role FROM memberships WHERE user_id = $1 AND org_id = $2`, [userId, orgId]))
    ?.role ?? null;
