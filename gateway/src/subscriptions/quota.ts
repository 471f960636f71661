import type { Redis } from 'ioredis';
import type { Logger } from '@cos/logger';

/**
 * How many subscriptions one principal holds open. The engine asks before accepting one and tells when it ends.
 * `acquire` answers false when the principal is at `limit`.
 */
export interface SubscriptionQuota {
  readonly limit: number;
  acquire(who: string, subscriptionId: string): Promise<boolean>;
  release(who: string, subscriptionId: string): unknown;
  close(): Promise<void>;
}

/** One process's count (a single gateway, tests): what each instance did before the cluster-wide quota. */
export class LocalQuota implements SubscriptionQuota {
  private readonly held = new Map<string, Set<string>>();
  constructor(readonly limit: number) {}

  async acquire(who: string, id: string): Promise<boolean> {
    const ids = this.held.get(who) ?? new Set<string>();
    if (ids.size >= this.limit) return false;
    ids.add(id);
    this.held.set(who, ids);
    return true;
  }

  /** Whether `id` was held (and now is not). */
  release(who: string, id: string): boolean {
    const ids = this.held.get(who);
    if (!ids?.delete(id)) return false;
    if (ids.size === 0) this.held.delete(who);
    return true;
  }

  /** Everything held now, by principal (RedisQuota renews and gives back exactly these). */
  holders(): IterableIterator<[string, Set<string>]> {
    return this.held.entries();
  }

  async close(): Promise<void> {
    this.held.clear();
  }
}

/**
 * ZSET `<key>` of subscription id → lease expiry (Redis clock). Expired leases (a gateway that died without
 * releasing) are dropped first; then the id is added if the set is below the limit. Answers 1 (held) or 0 (full).
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`;

/** Extends the leases of the given ids (re-adding one a Redis restart lost: this process still holds it). */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`;

export interface RedisQuotaOptions {
  redis: Redis;
  /** Gateway Redis prefix (REDIS_PREFIX). */
  prefix: string;
  limit: number;
  /** A lease lasts this long unless renewed (every third of it); what a crashed gateway's slots hold on for. */
  leaseMs?: number;
  log: Logger;
}

/**
 * The per-principal limit across every gateway instance: one Redis sorted set per principal, each open
 * subscription a member with a lease this process renews while it holds it. A gateway that dies stops renewing and
 * its slots free themselves after one lease. Redis trouble lets subscriptions through (logged), like the request
 * rate limits: the limit protects capacity, it is not an authorization check — and this process still counts its
 * own, so one instance never holds more than the limit.
 */
export class RedisQuota implements SubscriptionQuota {
  readonly limit: number;
  private readonly leaseMs: number;
  /** This instance's own count and the ids it holds in Redis (renewed, given back on close). */
  private readonly local: LocalQuota;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: RedisQuotaOptions) {
    this.limit = opts.limit;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.local = new LocalQuota(opts.limit);
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  private key(who: string): string {
    return `${this.opts.prefix}subs:${who}`;
  }

  async acquire(who: string, id: string): Promise<boolean> {
    if (!(await this.local.acquire(who, id))) return false;
    let ok: boolean;
    try {
      ok = (await this.opts.redis.eval(ACQUIRE, 1, this.key(who), this.limit, this.leaseMs, id)) === 1;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'subscription quota check failed; counting this instance only');
      ok = true;
    }
    if (!ok) this.local.release(who, id);
    return ok;
  }

  release(who: string, id: string): void {
    if (!this.local.release(who, id)) return;
    this.opts.redis.zrem(this.key(who), id).catch((err: Error) => {
      this.opts.log.warn({ err: err.message }, 'subscription quota release failed; the lease will expire');
    });
  }

  private async renew(): Promise<void> {
    for (const [who, ids] of [...this.local.holders()]) {
      try {
        await this.opts.redis.eval(RENEW, 1, this.key(who), this.leaseMs, ...ids);
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'subscription quota renewal failed');
        return;
      }
    }
  }

  /** Stops renewing and gives every held slot back (a draining gateway; a crash lets the leases expire instead). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.local.holders()].map(([who, ids]) => [who, [...ids]] as const);
    await this.local.close();
    await Promise.all(all.map(([who, ids]) => this.opts.redis.zrem(this.key(who), ...ids).catch(() => 0)));
  }
}
