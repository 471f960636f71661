/**
 * identity's part of `exportMyData`: what identity keeps about one person, secrets left out (no password hash,
 * refresh-token hash or API-key secret). System role with every query filtered on the person: a person spans
 * tenants (their memberships in every organization are theirs to see).
 */
import type { Tx } from '@cos/db';

/** At most this many audit entries are exported (newest first); `auditEntriesTruncated` says when more exist. */
export const EXPORT_AUDIT_LIMIT = 5_000;

export async function identityExport(tx: Tx, userId: string) {
  const profile = await tx.one(
    `/* exportProfile */ SELECT id, name, email, created_at AS "createdAt", erased_at AS "erasedAt" FROM users WHERE id = $1`,
    [userId],
  );
  const memberships = await tx.query(
    `/* exportMemberships */ SELECT m.org_id AS "organizationId", o.name AS "organizationName", o.slug AS "organizationSlug",
       m.role, m.created_at AS "joinedAt"
     FROM memberships m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.created_at`,
    [userId],
  );
  const invitations = await tx.query(
    `/* exportInvitations */ SELECT id, org_id AS "organizationId", email, name, role, created_at AS "createdAt",
       expires_at AS "expiresAt", accepted_at AS "acceptedAt"
     FROM invitations WHERE user_id = $1 ORDER BY created_at`,
    [userId],
  );
  const sessions = await tx.query(
    `/* exportSessions */ SELECT family_id AS "sessionId", org_id AS "organizationId", min(created_at) AS "startedAt",
       max(coalesce(used_at, created_at)) AS "lastRefreshedAt", max(expires_at) AS "expiresAt",
       bool_or(revoked_at IS NOT NULL) AS revoked
     FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id, org_id ORDER BY min(created_at)`,
    [userId],
  );
  const apiKeys = await tx.query(
    `/* exportApiKeys */ SELECT k.id, k.org_id AS "organizationId", k.name, k.kind, k.scopes, k.created_at AS "createdAt",
       k.revoked_at AS "revokedAt", c.last_used_at AS "lastUsedAt"
     FROM api_keys k LEFT JOIN api_key_credentials c ON c.api_key_id = k.id
     WHERE k.created_by = $1 ORDER BY k.created_at`,
    [`user:${userId}`],
  );
  const audit = await tx.query(
    `/* exportAuditEntries */ SELECT id, org_id AS "organizationId", at, service, actor, action, target
     FROM audit_entries WHERE actor = $1 OR target = $2 ORDER BY at DESC, seq DESC LIMIT $3`,
    [`user:${userId}`, `User-${userId}`, EXPORT_AUDIT_LIMIT + 1],
  );
  return {
    profile: profile ?? null,
    memberships,
    invitations,
    sessions,
    apiKeys,
    auditEntries: audit.slice(0, EXPORT_AUDIT_LIMIT),
    auditEntriesTruncated: audit.length > EXPORT_AUDIT_LIMIT,
  };
}
