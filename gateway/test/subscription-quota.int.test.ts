/**
 * The per-principal subscription limit across gateway instances (real Redis): two RedisQuota instances play two
 * gateways sharing one Redis; a gateway that dies without releasing gives its slots back after one lease.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { LocalQuota, RedisQuota } from '../src/subscriptions/quota';

let redis: Redis;
const prefix = `test:${randomBytes(4).toString('hex')}:`;
const log = createLogger('quota-test', 'silent');
const quotas: RedisQuota[] = [];
const gateway = (limit: number, leaseMs?: number) => {
  const q = new RedisQuota({ redis, prefix, limit, leaseMs, log });
  quotas.push(q);
  return q;
};

beforeAll(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});
afterAll(async () => {
  await Promise.all(quotas.map((q) => q.close()));
  redis?.disconnect();
});

describe('RedisQuota', () => {
  it('counts one principal across instances; a release on one frees a slot on the other; principals are apart', async () => {
    const [a, b] = [gateway(2), gateway(2)];
    const who = `org:${randomUUID()}`;
    const [s1, s2, s3] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await a.acquire(who, s1)).toBe(true);
    expect(await b.acquire(who, s2)).toBe(true);
    expect(await a.acquire(who, s3)).toBe(false);
    expect(await b.acquire(who, s3)).toBe(false);
    // Another principal is not affected.
    expect(await b.acquire(`org:${randomUUID()}`, randomUUID())).toBe(true);
    a.release(who, s1);
    await new Promise((r) => setTimeout(r, 50)); // release is fire-and-forget
    expect(await b.acquire(who, s3)).toBe(true);
    expect(await redis.zcard(`${prefix}subs:${who}`)).toBe(2);
  });

  it('slots of an instance that died (no release, no renewal) come back after one lease; a live one keeps its own', async () => {
    const who = `org:${randomUUID()}`;
    const live = gateway(2, 1_000);
    const dying = new RedisQuota({ redis, prefix, limit: 2, leaseMs: 1_000, log });
    expect(await dying.acquire(who, 'd1')).toBe(true);
    expect(await live.acquire(who, 'l1')).toBe(true);
    expect(await live.acquire(who, 'l2')).toBe(false);
    // "Crash": stop renewing without giving anything back.
    (dying as unknown as { timer: NodeJS.Timeout }).timer.close();
    await new Promise((r) => setTimeout(r, 1_600)); // > one lease; `live` renewed l1 meanwhile (every ~333 ms)
    expect(await live.acquire(who, 'l2')).toBe(true);
    expect(await live.acquire(who, 'l3')).toBe(false);
    expect((await redis.zrange(`${prefix}subs:${who}`, 0, -1)).sort()).toEqual(['l1', 'l2']);
  });

  it('close() gives every held slot back (a draining gateway)', async () => {
    const who = `org:${randomUUID()}`;
    const q = new RedisQuota({ redis, prefix, limit: 5, log });
    await q.acquire(who, 'x');
    await q.acquire(who, 'y');
    await q.close();
    expect(await redis.zcard(`${prefix}subs:${who}`)).toBe(0);
  });

  it('with Redis unreachable it counts this instance only (fails open, bounded by the local limit)', async () => {
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    const q = new RedisQuota({ redis: down, prefix, limit: 2, log });
    const who = `org:${randomUUID()}`;
    expect(await q.acquire(who, 'a')).toBe(true);
    expect(await q.acquire(who, 'b')).toBe(true);
    expect(await q.acquire(who, 'c')).toBe(false);
    clearInterval((q as unknown as { timer: NodeJS.Timeout }).timer);
    down.disconnect();
  });
});

describe('LocalQuota', () => {
  it('counts per principal and frees on release', async () => {
    const q = new LocalQuota(1);
    expect(await q.acquire('p', '1')).toBe(true);
    expect(await q.acquire('p', '2')).toBe(false);
    expect(await q.acquire('other', '3')).toBe(true);
    q.release('p', '1');
    expect(await q.acquire('p', '2')).toBe(true);
  });
});
