import { createHash } from 'node:crypto';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { signPrincipal, type Principal } from '@cos/auth';
import type { Logger } from '@cos/logger';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
export type ApiKeyPrincipal = Extract<Principal, { kind: 'apiKey' }>;
export type ServiceAccountPrincipal = Extract<Principal, { kind: 'service' }>;

/** How the gateway calls identity for internal routes: a service principal, signed like every subgraph request. */
const GATEWAY_PRINCIPAL: Principal = {
  kind: 'service',
  serviceId: 'gateway',
  orgId: '00000000-0000-0000-0000-000000000000',
  scopes: [],
};

const verifyAnswer = z.object({
  keyId: z.string().min(1),
  orgId: z.string().min(1),
  clientName: z.string(),
  scopes: z.array(z.string()),
  /** 'service' = a service account for agent workers; absent = a partner key. */
  kind: z.enum(['partner', 'service']).optional(),
});

export interface ApiKeyVerifierOptions {
  /** identity's origin, e.g. http://127.0.0.1:4001 */
  identityUrl: () => string | undefined;
  internalSecret: string;
  fetcher: Fetcher;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
  /** Both hits and misses are cached this long: a revoked key keeps working at most this long. */
  ttlSeconds?: number;
}

/**
 * Verifies partner API keys with identity (`POST /internal/api-keys/verify`), caching the answer in Redis under
 * the key's sha256 (never the secret itself). Redis trouble only costs a call to identity; identity trouble is an
 * outage (thrown), not an unknown key. A service account (kind 'service') becomes a `service` principal whose
 * serviceId is the key id, so it reaches subgraphs (and the event log's actor) as `service:<keyId>`.
 */
const byIdKey = (prefix: string, keyId: string) => `${prefix}apikey-id:${keyId}`;

/**
 * Drops every cached verdict of one API key (all gateway instances share Redis). Called when identity's
 * ApiKeyRevoked event arrives, so a revocation takes effect at once instead of after the cache TTL; the TTL
 * remains the bound when a gateway misses the event.
 */
export async function invalidateApiKey(redis: Redis, redisPrefix: string, keyId: string): Promise<number> {
  const index = byIdKey(redisPrefix, keyId);
  const cacheKeys = await redis.smembers(index);
  if (cacheKeys.length === 0) return 0;
  await redis.del(...cacheKeys, index);
  return cacheKeys.length;
}

export function createApiKeyVerifier(opts: ApiKeyVerifierOptions) {
  const ttl = opts.ttlSeconds ?? 30;
  return async function verifyApiKey(secret: string): Promise<ApiKeyPrincipal | ServiceAccountPrincipal | null> {
    const cacheKey = `${opts.redisPrefix}apikey:${createHash('sha256').update(secret).digest('hex')}`;
    try {
      const cached = await opts.redis.get(cacheKey);
      if (cached !== null) return cached === 'null' ? null : (JSON.parse(cached) as ApiKeyPrincipal | ServiceAccountPrincipal);
    } catch (err) {
      opts.log.warn({ err }, 'api-key cache read failed; asking identity');
    }
    const base = opts.identityUrl();
    if (!base) throw new Error('no identity URL to verify API keys against');
    const res = await opts.fetcher(new URL('/internal/api-keys/verify', base).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signPrincipal(GATEWAY_PRINCIPAL, opts.internalSecret) },
      body: JSON.stringify({ secret }),
    });
    let principal: ApiKeyPrincipal | ServiceAccountPrincipal | null;
    if (res.status === 401 || res.status === 404) {
      await res.text();
      principal = null;
    } else if (res.ok) {
      const parsed = verifyAnswer.safeParse(await res.json());
      if (!parsed.success) throw new Error('identity answered an unexpected api-key verification body');
      const { kind, keyId, orgId, clientName, scopes } = parsed.data;
      principal =
        kind === 'service'
          ? { kind: 'service', serviceId: keyId, orgId, scopes }
          : { kind: 'apiKey', keyId, orgId, clientName, scopes };
    } else {
      await res.text();
      throw new Error(`identity api-key verification answered HTTP ${res.status}`);
    }
    try {
      const tx = opts.redis.multi().set(cacheKey, JSON.stringify(principal), 'EX', ttl);
      // Index the cached verdict by key id, so a revocation event can drop it at once (see invalidateApiKey).
      if (principal) {
        // A service account's serviceId is its key id: revoking it drops its verdicts the same way.
        const keyId = principal.kind === 'apiKey' ? principal.keyId : principal.serviceId;
        tx.sadd(byIdKey(opts.redisPrefix, keyId), cacheKey).expire(byIdKey(opts.redisPrefix, keyId), ttl);
      }
      await tx.exec();
    } catch (err) {
      opts.log.warn({ err }, 'api-key cache write failed');
    }
    return principal;
  };
}
