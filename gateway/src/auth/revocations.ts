import type { Redis } from 'ioredis';
import { eventSubject } from '@cos/events';
import type { Logger } from '@cos/logger';
import type { EventFeed } from '../events/feed';
import { forgetRegistered } from '../persisted/documents';
import { invalidateApiKey } from './api-keys';

/**
 * Revocations the gateway must apply at once, heard on the event feed by every gateway instance (a gateway that is
 * down when the event passes is covered by the cache TTLs):
 * - identity's ApiKeyRevoked: the key's cached verdicts go, so a revoked partner key is refused on its next request;
 * - identity's PersistedOperationsRevoked: the documents' cached lookups go, so a withdrawn trusted document answers
 *   OPERATION_NOT_ALLOWED on its next use.
 */
export function watchRevocations(feed: EventFeed, redis: Redis, redisPrefix: string, log: Logger): { stop(): void } {
  const offs = [
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
