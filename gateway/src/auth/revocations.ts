import type { Redis } from 'ioredis';
import { eventSubject } from '@cos/events';
import type { Logger } from '@cos/logger';
import type { EventFeed, FeedEvent } from '../events/feed';
import { forgetRegistered } from '../persisted/documents';
import { invalidateApiKey } from './api-keys';
import type { TokenRevocations } from './token-revocations';

/** Higher is more privileged: a change to a lower rank revokes the tokens that carry the old role. */
const ROLE_RANK: Record<string, number> = { VIEWER: 0, MEMBER: 1, ADMIN: 2, OWNER: 3 };

/**
 * The cut-off of a revocation: when identity recorded it, or when this gateway heard of it if later — identity's
 * occurredAt is its transaction's start, and a token issued before the commit must not slip through.
 */
function cutOff(e: FeedEvent): number {
  const occurred = Date.parse(e.body<{ occurredAt?: string }>().occurredAt ?? '');
  return Math.max(Number.isFinite(occurred) ? occurred : 0, Date.now());
}

/**
 * Revocations the gateway must apply at once, heard on the event feed by every gateway instance (a gateway that is
 * down when the event passes is covered by the cache TTLs):
 * - identity's ApiKeyRevoked: the key's cached verdicts go, so a revoked partner key is refused on its next request;
 * - identity's PersistedOperationsRevoked: the documents' cached lookups go, so a withdrawn trusted document answers
 *   OPERATION_NOT_ALLOWED on its next use;
 * - identity's UserErased (every organization), MemberRemoved and MemberRoleChanged to a lower role (that
 *   organization): the person's access tokens issued until now are refused (token-revocations.ts) and their open
 *   subscriptions end with 4403, instead of both lasting until the tokens expire. A gateway that misses the event
 *   reads the revocation from Redis (TokenRevocations.sync, also run when the feed comes back).
 */
export function watchRevocations(
  feed: EventFeed,
  redis: Redis,
  redisPrefix: string,
  log: Logger,
  tokens: TokenRevocations,
): { stop(): void } {
  const revoke = async (e: FeedEvent, userId: string | undefined, orgId: string | null, why: string) => {
    if (typeof userId !== 'string' || !userId) return;
    await tokens.record({ userId, orgId, at: cutOff(e) });
    log.info({ userId, orgId, why }, 'access tokens revoked');
  };
  const offs = [
    feed.on(eventSubject('identity', 'User', 'UserErased'), (e) => revoke(e, e.body<{ data?: { userId?: string } }>().data?.userId, null, 'erased')),
    feed.on(eventSubject('identity', 'Organization', 'MemberRemoved'), (e) => {
      const d = e.body<{ data?: { organizationId?: string; userId?: string } }>().data;
      return revoke(e, d?.userId, d?.organizationId ?? e.orgId, 'removed from the organization');
    }),
    feed.on(eventSubject('identity', 'Organization', 'MemberRoleChanged'), async (e) => {
      const d = e.body<{ data?: { organizationId?: string; userId?: string; role?: string; previousRole?: string } }>().data;
      const [now, before] = [ROLE_RANK[d?.role ?? ''], ROLE_RANK[d?.previousRole ?? '']];
      // An unknown role is treated as a demotion: refusing a token too many costs a refresh, one too few a privilege.
      if (now !== undefined && before !== undefined && now >= before) return;
      await revoke(e, d?.userId, d?.organizationId ?? e.orgId, 'demoted in the organization');
    }),
    // Events passed while the feed was down: whatever another instance recorded meanwhile is in Redis.
    feed.onLiveChange((live) => void (live && tokens.sync())),
    feed.on(eventSubject('identity', 'ApiKey', 'ApiKeyRevoked'), async (e) => {
      const keyId = e.body<{ data?: { apiKeyId?: string } }>().data?.apiKeyId;
      if (!keyId) return;
      const dropped = await invalidateApiKey(redis, redisPrefix, keyId);
      log.info({ keyId, dropped }, 'api key revoked: cached verdicts dropped');
    }),
    feed.on(eventSubject('identity', 'PersistedClient', 'PersistedOperationsRevoked'), async (e) => {
      const { client, ids } = e.body<{ data?: { client?: string; ids?: string[] } }>().data ?? {};
      if (typeof client !== 'string' || !Array.isArray(ids)) return;
      const dropped = await forgetRegistered(redis, redisPrefix, e.orgId, client, ids.filter((id) => typeof id === 'string'));
      log.info({ orgId: e.orgId, client, documents: ids.length, dropped }, 'trusted documents revoked: cached lookups dropped');
    }),
  ];
  return { stop: () => offs.forEach((off) => off()) };
}
