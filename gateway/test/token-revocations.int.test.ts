/**
 * Access-token revocations across gateway instances (real Redis): two TokenRevocations play two gateways sharing
 * one Redis; what one records the other refuses after a sync; the Redis key lives as long as the tokens it refuses;
 * with Redis down a revocation still holds in the instance that heard it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { TokenRevocations, type TokenRevocation } from '../src/auth/token-revocations';

let redis: Redis;
const prefix = `test:${randomBytes(4).toString('hex')}:`;
const log = createLogger('token-revocations-test', 'silent');
const instances: TokenRevocations[] = [];
const gateway = (maxTokenTtlS = 60) => {
  const r = new TokenRevocations({ redis, prefix, maxTokenTtlS, log });
  instances.push(r);
  return r;
};
const nowS = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});
afterAll(async () => {
  instances.forEach((r) => r.stop());
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
});

describe('TokenRevocations', () => {
  it('an erasure refuses the person’s tokens issued until then, in every organization; later tokens and other people pass', async () => {
    const a = gateway();
    const [user, other] = [randomUUID(), randomUUID()];
    const at = Date.now();
    await a.record({ userId: user, orgId: null, at });
    const iat = Math.floor(at / 1000);
    expect(a.isRevoked(user, 'org-1', iat - 60)).toBe(true);
    expect(a.isRevoked(user, 'org-2', iat)).toBe(true); // same second: refused (iat has no finer grain)
    expect(a.isRevoked(user, 'org-1', undefined)).toBe(true);
    expect(a.isRevoked(user, 'org-1', iat + 1)).toBe(false);
    expect(a.isRevoked(other, 'org-1', iat - 60)).toBe(false);
  });

  it('a removal refuses the person in that organization only', async () => {
    const a = gateway();
    const user = randomUUID();
    await a.record({ userId: user, orgId: 'org-a', at: Date.now() });
    expect(a.isRevoked(user, 'org-a', nowS() - 5)).toBe(true);
    expect(a.isRevoked(user, 'org-b', nowS() - 5)).toBe(false);
  });

  it('is shared through Redis: another instance learns it on sync and tells its listeners (the subscription bridge)', async () => {
    const [a, b] = [gateway(), gateway()];
    const user = randomUUID();
    const heard: TokenRevocation[] = [];
    b.onRevoked((r) => heard.push(r));
    const at = Date.now();
    await a.record({ userId: user, orgId: 'org-s', at });
    expect(b.isRevoked(user, 'org-s', nowS() - 5)).toBe(false); // b missed the event
    expect(await b.sync()).toBe(true);
    expect(b.isRevoked(user, 'org-s', nowS() - 5)).toBe(true);
    expect(heard).toContainEqual({ userId: user, orgId: 'org-s', at });
    // A second sync learns nothing new and tells nobody again.
    await b.sync();
    expect(heard.filter((r) => r.userId === user)).toHaveLength(1);
  });

  it('keeps the later cut-off, and the Redis key lives as long as the tokens it refuses (max token lifetime)', async () => {
    const a = gateway(120);
    const user = randomUUID();
    const key = `${prefix}revoked:m:org-t:${user}`;
    const later = Date.now();
    await a.record({ userId: user, orgId: 'org-t', at: later });
    await a.record({ userId: user, orgId: 'org-t', at: later - 10_000 }); // an older event arriving late
    expect(Number(await redis.get(key))).toBe(later);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(120_000);
    expect(ttl).toBeLessThanOrEqual(150_000); // lifetime + the verifier's 30 s clock tolerance
    // A cut-off older than every token lifetime is already void: nothing to refuse, nothing kept.
    const stale = randomUUID();
    await a.record({ userId: stale, orgId: null, at: Date.now() - 10 * 60_000 });
    expect(a.isRevoked(stale, 'org-t', nowS() - 700)).toBe(false);
    expect(await redis.exists(`${prefix}revoked:u:${stale}`)).toBe(0);
  });

  it('with Redis unreachable it still refuses locally (and syncing answers false)', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    const r = new TokenRevocations({ redis: down, prefix, maxTokenTtlS: 60, log });
    const user = randomUUID();
    await r.record({ userId: user, orgId: null, at: Date.now() });
    expect(r.isRevoked(user, 'org-x', nowS() - 1)).toBe(true);
    expect(await r.sync()).toBe(false);
    expect(r.isRevoked(user, 'org-x', nowS() - 1)).toBe(true);
    down.disconnect();
  });
});
