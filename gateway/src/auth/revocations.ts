import type { Redis } from 'ioredis';
import type { Bus } from '@cos/bus';
import type { Logger } from '@cos/logger';
import { invalidateApiKey } from './api-keys';

/**
 * Listens (core NATS, every gateway instance) for identity's ApiKeyRevoked events and drops the revoked key's cached
 * verdicts, so a revoked partner key is refused on its next request. JetStream publishes are visible to plain
 * subscribers on the same subject; a gateway that is down when the event passes is covered by the cache TTL.
 */
export function watchApiKeyRevocations(bus: Bus, redis: Redis, redisPrefix: string, log: Logger): { stop(): void } {
  const sub = bus.nc.subscribe(`${bus.prefix}.*.identity.ApiKey.ApiKeyRevoked`);
  void (async () => {
    for await (const msg of sub) {
      try {
        const event = msg.json<{ data?: { apiKeyId?: string } }>();
        const keyId = event.data?.apiKeyId;
        if (!keyId) continue;
        const dropped = await invalidateApiKey(redis, redisPrefix, keyId);
        log.info({ keyId, dropped }, 'api key revoked: cached verdicts dropped');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not apply an api-key revocation');
      }
    }
  })();
  return { stop: () => sub.unsubscribe() };
}
