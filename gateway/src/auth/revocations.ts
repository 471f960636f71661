import type { Redis } from 'ioredis';
import type { Bus } from '@cos/bus';
import type { Logger } from '@cos/logger';
import { forgetRegistered } from '../persisted/documents';
import { invalidateApiKey } from './api-keys';

/**
 * Revocations the gateway must apply at once, heard on core NATS by every gateway instance (JetStream publishes are
 * visible to plain subscribers on the same subject; a gateway that is down when the event passes is covered by the
 * cache TTLs):
 * - identity's ApiKeyRevoked: the key's cached verdicts go, so a revoked partner key is refused on its next request;
 * - identity's PersistedOperationsRevoked: the documents' cached lookups go, so a withdrawn trusted document answers
 *   OPERATION_NOT_ALLOWED on its next use.
 */
export function watchRevocations(bus: Bus, redis: Redis, redisPrefix: string, log: Logger): { stop(): void } {
  const subs = [
    onEvents<{ data?: { apiKeyId?: string } }>(bus, 'ApiKey.ApiKeyRevoked', log, async (_orgId, event) => {
      const keyId = event.data?.apiKeyId;
      if (!keyId) return;
      const dropped = await invalidateApiKey(redis, redisPrefix, keyId);
      log.info({ keyId, dropped }, 'api key revoked: cached verdicts dropped');
    }),
    onEvents<{ data?: { client?: string; ids?: string[] } }>(bus, 'PersistedClient.PersistedOperationsRevoked', log, async (orgId, event) => {
      const { client, ids } = event.data ?? {};
      if (typeof client !== 'string' || !Array.isArray(ids)) return;
      const dropped = await forgetRegistered(redis, redisPrefix, orgId, client, ids.filter((id) => typeof id === 'string'));
      log.info({ orgId, client, documents: ids.length, dropped }, 'trusted documents revoked: cached lookups dropped');
    }),
  ];
  return { stop: () => subs.forEach((s) => s.unsubscribe()) };
}

/** Subscribes to `<prefix>.<orgId>.identity.<aggregate>.<Type>` and hands each event (JSON) to `handle`. */
function onEvents<T>(bus: Bus, aggregateAndType: string, log: Logger, handle: (orgId: string, event: T) => Promise<void>) {
  const sub = bus.nc.subscribe(`${bus.prefix}.*.identity.${aggregateAndType}`);
  void (async () => {
    for await (const msg of sub) {
      try {
        await handle(msg.subject.split('.')[1] ?? '', msg.json<T>());
      } catch (err) {
        log.warn({ err: (err as Error).message, subject: msg.subject }, 'could not apply a revocation');
      }
    }
  })();
  return sub;
}
