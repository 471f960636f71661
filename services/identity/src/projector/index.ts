import type { Tx } from '@cos/db';
import { createEventStore, type StoredOf } from '@cos/event-store';
import { ERASED } from '@cos/pii';
import type { IdentityEvent } from '@cos/events';
import { projectPersistedOperations, projectPersistedOperationsRevoked } from '../persisted/store';
import { insertAuditEntry } from '../store/identity-store';
import { identityPii } from '../store/pii';

/** Postgres NOTIFY channel the outbox relay listens on. */
export const NOTIFY_CHANNEL = 'identity_outbox';

/**
 * Tables that are pure projections of identity's events: `pnpm rebuild identity` truncates these and replays.
 * Credentials, refresh tokens, signing keys and the mail sink are operational state and are never truncated.
 */
export const READ_MODEL_TABLES = ['organizations', 'users', 'memberships', 'invitations', 'api_keys', 'persisted_operations'] as const;

/** Applies one event to the read models, in the append's transaction. Idempotent enough to replay. */
export async function projectIdentityEvent(tx: Tx, e: StoredOf<IdentityEvent>): Promise<void> {
  // Every identity event is an audit entry (sign-ins, failed sign-ins, membership and key changes).
  await insertAuditEntry(tx, 'identity', e);
  switch (e.type) {
    case 'OrganizationCreated':
      await tx.query(
        `/* projectOrganizationCreated */ INSERT INTO organizations (id, name, slug, created_at) VALUES ($1, $2, $3, $4)`,
        [e.data.organizationId, e.data.name, e.data.slug, e.occurredAt],
      );
      return;
    case 'UserRegistered':
      await tx.query(
        `/* projectUserRegistered */ INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4)`,
        [e.data.userId, e.data.email, e.data.name, e.occurredAt],
      );
      return;
    case 'MemberJoined':
      await tx.query(
        `/* projectMemberJoined */ INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role`,
        [e.data.organizationId, e.data.userId, e.data.role, e.occurredAt],
      );
      return;
    case 'MemberRoleChanged':
      await tx.query(`/* projectMemberRoleChanged */ UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2`, [
        e.data.organizationId,
        e.data.userId,
        e.data.role,
      ]);
      return;
    case 'MemberRemoved':
      await tx.query(`/* projectMemberRemoved */ DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, [
        e.data.organizationId,
        e.data.userId,
      ]);
      return;
    case 'InvitationCreated':
      await tx.query(
        `/* projectInvitationCreated */ INSERT INTO invitations (id, org_id, user_id, email, name, role, token_hash, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          e.data.invitationId,
          e.orgId,
          e.data.userId ?? null,
          e.data.email,
          e.data.name,
          e.data.role,
          e.data.tokenHash,
          e.data.expiresAt,
          e.occurredAt,
        ],
      );
      return;
    case 'InvitationAccepted':
      await tx.query(`/* projectInvitationAccepted */ UPDATE invitations SET accepted_at = $2 WHERE id = $1`, [
        e.data.invitationId,
        e.occurredAt,
      ]);
      return;
    case 'ApiKeyCreated':
      await tx.query(
        `/* projectApiKeyCreated */ INSERT INTO api_keys (id, org_id, name, prefix, scopes, created_by, created_at, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [e.data.apiKeyId, e.orgId, e.data.name, e.data.prefix, e.data.scopes, e.metadata.actor, e.occurredAt, e.data.kind ?? 'partner'],
      );
      return;
    case 'ApiKeyRevoked':
      await tx.query(`/* projectApiKeyRevoked */ UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, [
        e.data.apiKeyId,
        e.occurredAt,
      ]);
      return;
    case 'PersistedOperationsPublished':
      await projectPersistedOperations(tx, e);
      return;
    case 'PersistedOperationsRevoked':
      await projectPersistedOperationsRevoked(tx, e);
      return;
    case 'UserErased':
      // The person stays resolvable by id (comments, audit entries) with nothing personal left.
      await tx.query(`/* projectUserErased */ UPDATE users SET email = NULL, name = $2, erased_at = $3 WHERE id = $1`, [
        e.data.userId,
        ERASED,
        e.occurredAt,
      ]);
      await tx.query(`/* projectUserErasedMemberships */ DELETE FROM memberships WHERE user_id = $1`, [e.data.userId]);
      await tx.query(`/* projectUserErasedInvitations */ UPDATE invitations SET email = NULL, name = $2 WHERE user_id = $1`, [
        e.data.userId,
        ERASED,
      ]);
      return;
    case 'NotificationPreferencesChanged':
      await tx.query(`/* projectNotificationPreferences */ UPDATE users SET notification_disabled = $2 WHERE id = $1`, [e.data.userId, e.data.disabled]);
      return;
    case 'UserLoggedIn':
    case 'LoginFailed':
    case 'RefreshTokenReused':
      // Audit only: no read model.
      return;
    default: {
      // Adding an event to IdentityEvent without deciding its projection is a type error here. At run time an event
      // type this code does not know (written by a newer version, replayed by an older one) stays audit-only.
      const unhandled: never = e;
      void unhandled;
      return;
    }
  }
}

/** identity's event store: the single source of truth for its read models. */
export const eventStore = createEventStore<IdentityEvent>({ notifyChannel: NOTIFY_CHANNEL, project: projectIdentityEvent, codec: identityPii });
