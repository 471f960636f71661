import type { Tx } from '@cos/db';
import type { Role } from '@cos/events';

export interface UserRow {
  id: string;
  /** null once the person was erased (GDPR). */
  email: string | null;
  name: string;
}
export interface OrganizationRow {
  id: string;
  name: string;
  slug: string;
}
export interface MembershipRow {
  orgId: string;
  userId: string;
  role: Role;
}
export interface ApiKeyRow {
  id: string;
  name: string;
  kind: 'PARTNER' | 'SERVICE';
  scopes: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

// ---------- users (RLS: self, members and invitees of the current organization) ----------

export const usersByIds = (tx: Tx, ids: readonly string[]) =>
  tx.query<UserRow>(`/* usersByIds */ SELECT id, email, name FROM users WHERE id = ANY($1::uuid[])`, [ids]);

/** System role: login and invitations look a person up across tenants. */
export const userByEmail = (tx: Tx, email: string) =>
  tx.one<UserRow & { passwordHash: string | null }>(
    `/* userByEmail */ SELECT u.id, u.email, u.name, c.password_hash AS "passwordHash"
     FROM users u LEFT JOIN user_credentials c ON c.user_id = u.id
     WHERE lower(u.email) = lower($1)`,
    [email],
  );

export const userById = (tx: Tx, id: string) =>
  tx.one<UserRow>(`/* userById */ SELECT id, email, name FROM users WHERE id = $1`, [id]);

export const passwordHashOf = async (tx: Tx, userId: string) =>
  (await tx.one<{ h: string }>(`/* passwordHashOf */ SELECT password_hash AS h FROM user_credentials WHERE user_id = $1`, [userId]))?.h ??
  null;

export const setPasswordHash = (tx: Tx, userId: string, hash: string) =>
  tx.query(
    `/* setPasswordHash */ INSERT INTO user_credentials (user_id, password_hash) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = now()`,
    [userId, hash],
  );

// ---------- organizations and memberships ----------

export const organizationsByIds = (tx: Tx, ids: readonly string[]) =>
  tx.query<OrganizationRow>(`/* organizationsByIds */ SELECT id, name, slug FROM organizations WHERE id = ANY($1::uuid[])`, [ids]);

/** System role: slugs are unique across tenants. */
export const slugExists = async (tx: Tx, slug: string) =>
  !!(await tx.one(`/* slugExists */ SELECT 1 FROM organizations WHERE slug = $1`, [slug]));

export const membershipsByOrgIds = (tx: Tx, orgIds: readonly string[]) =>
  tx.query<MembershipRow>(
    `/* membershipsByOrgIds */ SELECT org_id AS "orgId", user_id AS "userId", role FROM memberships
     WHERE org_id = ANY($1::uuid[]) ORDER BY created_at, user_id`,
    [orgIds],
  );

export const membershipsByUserIds = (tx: Tx, userIds: readonly string[]) =>
  tx.query<MembershipRow>(
    `/* membershipsByUserIds */ SELECT org_id AS "orgId", user_id AS "userId", role FROM memberships
     WHERE user_id = ANY($1::uuid[]) ORDER BY created_at, org_id`,
    [userIds],
  );

/** System role at login: the membership to sign in to (a given organization, or the oldest one). */
export const membershipForLogin = (tx: Tx, userId: string, orgId: string | null) =>
  tx.one<MembershipRow>(
    `/* membershipForLogin */ SELECT org_id AS "orgId", user_id AS "userId", role FROM memberships
     WHERE user_id = $1 AND ($2::uuid IS NULL OR org_id = $2::uuid) ORDER BY created_at, org_id LIMIT 1`,
    [userId, orgId],
  );

// ---------- invitations and the mail sink ----------

/** System role: the invitee is not signed in yet; the token hash is the credential. */
export const invitationByTokenHash = (tx: Tx, tokenHash: string) =>
  tx.one<{ id: string; orgId: string; userId: string | null; name: string; role: Role; expiresAt: Date; acceptedAt: Date | null }>(
    `/* invitationByTokenHash */ SELECT id, org_id AS "orgId", user_id AS "userId", name, role, expires_at AS "expiresAt",
       accepted_at AS "acceptedAt" FROM invitations WHERE token_hash = $1`,
    [tokenHash],
  );

export const insertOutboundEmail = (tx: Tx, e: { id: string; orgId: string; to: string; subject: string; body: string }) =>
  tx.query(
    `/* insertOutboundEmail */ INSERT INTO outbound_emails (id, org_id, to_address, subject, body) VALUES ($1, $2, $3, $4, $5)`,
    [e.id, e.orgId, e.to, e.subject, e.body],
  );

// ---------- API keys ----------

export const apiKeyById = (tx: Tx, id: string) =>
  tx.one<ApiKeyRow>(
    `/* apiKeyById */ SELECT k.id, k.name, upper(k.kind) AS kind, k.scopes, k.created_at AS "createdAt", c.last_used_at AS "lastUsedAt", k.revoked_at AS "revokedAt"
     FROM api_keys k LEFT JOIN api_key_credentials c ON c.api_key_id = k.id WHERE k.id = $1`,
    [id],
  );

/** The current organization's keys (RLS on the runtime role), newest first. */
export const apiKeysOfOrganization = (tx: Tx, orgId: string) =>
  tx.query<ApiKeyRow>(
    `/* apiKeysOfOrganization */ SELECT k.id, k.name, upper(k.kind) AS kind, k.scopes, k.created_at AS "createdAt",
       c.last_used_at AS "lastUsedAt", k.revoked_at AS "revokedAt"
     FROM api_keys k LEFT JOIN api_key_credentials c ON c.api_key_id = k.id WHERE k.org_id = $1
     ORDER BY k.created_at DESC, k.id DESC LIMIT 500`,
    [orgId],
  );

export const insertApiKeyCredentials = (tx: Tx, c: { apiKeyId: string; orgId: string; prefix: string; secretHash: string }) =>
  tx.query(
    `/* insertApiKeyCredentials */ INSERT INTO api_key_credentials (api_key_id, org_id, prefix, secret_hash) VALUES ($1, $2, $3, $4)`,
    [c.apiKeyId, c.orgId, c.prefix, c.secretHash],
  );

/** System role: the gateway verifies a partner key before it knows the tenant. */
export const apiKeyForVerification = (tx: Tx, prefix: string) =>
  tx.one<{ id: string; orgId: string; name: string; scopes: string[]; kind: 'partner' | 'service'; secretHash: string; revokedAt: Date | null }>(
    `/* apiKeyForVerification */ SELECT k.id, k.org_id AS "orgId", k.name, k.scopes, k.kind, c.secret_hash AS "secretHash", k.revoked_at AS "revokedAt"
     FROM api_key_credentials c JOIN api_keys k ON k.id = c.api_key_id WHERE c.prefix = $1`,
    [prefix],
  );

/** Writes last_used_at at most once a minute per key, so a busy partner does not turn reads into writes. */
export const touchApiKey = (tx: Tx, id: string) =>
  tx.query(
    `/* touchApiKey */ UPDATE api_key_credentials SET last_used_at = now()
     WHERE api_key_id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  );

// ---------- audit log ----------

export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string | null;
}

/** What the audit log keeps of any service's event (identity's projection and the audit consumers call this). */
export interface AuditSource {
  id: string;
  orgId: string;
  occurredAt: string | Date;
  type: string;
  streamId: string;
  metadata: { actor?: string | null; correlationId?: string | null };
}

/** Idempotent: the event id is the key, so a replay or a redelivery writes nothing twice. */
export const insertAuditEntry = (tx: Tx, service: string, e: AuditSource) =>
  tx.query(
    `/* insertAuditEntry */ INSERT INTO audit_entries (id, org_id, at, service, actor, action, target, correlation_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [e.id, e.orgId, e.occurredAt, service, e.metadata.actor || 'system', e.type, e.streamId, e.metadata.correlationId ?? null],
  );

/**
 * Newest first (by event time, then insertion order), keyset-paginated: `afterId` is the id of the last entry the client has
 * (RLS keeps it to the caller's organization, so an id from another organization matches nothing). Null when
 * `afterId` is unknown.
 */
export async function auditPage(tx: Tx, limit: number, afterId: string | null): Promise<AuditRow[] | null> {
  if (afterId && !(await tx.one(`/* auditCursorExists */ SELECT 1 FROM audit_entries WHERE id = $1`, [afterId]))) return null;
  // The cursor row is compared in SQL: timestamps keep their microseconds (a JS Date would round them).
  return tx.query<AuditRow>(
    `/* auditPage */ SELECT id, at, actor, action, target FROM audit_entries
     WHERE org_id = nullif(current_setting('app.org_id', true), '')::uuid
       AND ($2::uuid IS NULL OR (at, seq) < (SELECT c.at, c.seq FROM audit_entries c WHERE c.id = $2::uuid))
     ORDER BY at DESC, seq DESC LIMIT $1`,
    [limit, afterId],
  );
}
