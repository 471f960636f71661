import type { Redis } from 'ioredis';
import type { Logger } from '@cos/logger';

/**
 * A cut-off for a person's access tokens: every token of `userId` (in `orgId`, or in any organization when null)
 * issued at or before `at` (ms epoch) is refused. Recorded when identity erases the person (UserErased: every
 * organization) or removes/demotes them in one organization (MemberRemoved, MemberRoleChanged to a lower role).
 */
export interface TokenRevocation {
  userId: string;
  orgId: string | null;
  at: number;
}

export interface TokenRevocationsOptions {
  redis: Redis;
  /** Gateway Redis prefix (REDIS_PREFIX). */
  prefix: string;
  /**
   * The longest access-token lifetime identity issues (its ACCESS_TOKEN_TTL_S): a revocation is kept this long after
   * its cut-off, plus the verifier's clock tolerance, since by then every token it refuses has expired anyway.
   */
  maxTokenTtlS: number;
  log: Logger;
  /** How often Redis is re-read for revocations this instance did not hear itself (default 15 s). */
  syncMs?: number;
}

/** The JWT verifier's clock tolerance (auth/jwt.ts): a token lives this much past its exp. */
const CLOCK_TOLERANCE_MS = 30_000;

/** Keeps the later cut-off; the key lives until the last token it refuses has expired. Answers 1 when it moved. */
const RECORD = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * Access-token revocations, shared by every gateway instance through Redis (`<prefix>revoked:u:<userId>` and
 * `<prefix>revoked:m:<orgId>:<userId>` → cut-off ms) and mirrored in this process, so the per-request check
 * (`isRevoked`, called by core/authenticate.ts) costs no I/O. Every instance hears identity's events on its own feed
 * (auth/revocations.ts) and records them; `sync` re-reads Redis at start, whenever the event feed comes back and
 * every `syncMs`, covering events this instance missed. With Redis down a revocation is kept here only (logged):
 * this instance still refuses the tokens, the others rely on their own feed.
 *
 * Tokens carry `iat` in whole seconds, so a token issued in the very second of the cut-off is refused too: a
 * re-added or demoted person's fresh token works from the next second on (their client signs in / refreshes again).
 */
export class TokenRevocations {
  private readonly local = new Map<string, number>();
  private readonly listeners = new Set<(r: TokenRevocation) => void>();
  private readonly keepMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: TokenRevocationsOptions) {
    this.keepMs = opts.maxTokenTtlS * 1000 + CLOCK_TOLERANCE_MS;
  }

  private keyOf(userId: string, orgId: string | null): string {
    return orgId === null ? `${this.opts.prefix}revoked:u:${userId}` : `${this.opts.prefix}revoked:m:${orgId}:${userId}`;
  }

  private parseKey(key: string): Omit<TokenRevocation, 'at'> | null {
    const rest = key.slice(`${this.opts.prefix}revoked:`.length).split(':');
    if (rest[0] === 'u' && rest.length === 2 && rest[1]) return { userId: rest[1], orgId: null };
    if (rest[0] === 'm' && rest.length === 3 && rest[1] && rest[2]) return { userId: rest[2], orgId: rest[1] };
    return null;
  }

  /** Takes a cut-off into the local mirror; true (and listeners told) when it is new or later than the known one. */
  private learn(r: TokenRevocation): boolean {
    if (r.at + this.keepMs <= Date.now()) return false;
    const key = this.keyOf(r.userId, r.orgId);
    if ((this.local.get(key) ?? 0) >= r.at) return false;
    this.local.set(key, r.at);
    for (const l of this.listeners) {
      try {
        l(r);
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'token revocation listener failed');
      }
    }
    return true;
  }

  /** Records a revocation here and in Redis (kept until every token it refuses has expired). */
  async record(r: TokenRevocation): Promise<void> {
    this.learn(r);
    const ttlMs = r.at + this.keepMs - Date.now();
    if (ttlMs <= 0) return; // every token it would refuse has expired
    try {
      await this.opts.redis.eval(RECORD, 1, this.keyOf(r.userId, r.orgId), String(r.at), String(ttlMs));
    } catch (err) {
      this.opts.log.warn(
        { err: (err as Error).message, userId: r.userId, orgId: r.orgId },
        'token revocation not stored in redis; refused by this gateway instance only',
      );
    }
  }

  /**
   * Whether a token of `userId` in `orgId` issued at `issuedAtS` (the JWT's iat, seconds; undefined: unknown, so
   * older than anything) falls under a revocation.
   */
  isRevoked(userId: string, orgId: string, issuedAtS: number | undefined): boolean {
    const now = Date.now();
    for (const key of [this.keyOf(userId, null), this.keyOf(userId, orgId)]) {
      const at = this.local.get(key);
      if (at === undefined) continue;
      if (at + this.keepMs <= now) {
        this.local.delete(key);
        continue;
      }
      if (issuedAtS === undefined || issuedAtS * 1000 <= at) return true;
    }
    return false;
  }

  /** Called with each revocation this instance learns (from its feed or from Redis): the subscription bridge closes connections. */
  onRevoked(listener: (r: TokenRevocation) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Reads every revocation in Redis into the local mirror (and drops expired local ones). False when Redis failed. */
  async sync(): Promise<boolean> {
    const now = Date.now();
    for (const [key, at] of this.local) if (at + this.keepMs <= now) this.local.delete(key);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.opts.redis.scan(cursor, 'MATCH', `${this.opts.prefix}revoked:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await this.opts.redis.mget(...keys);
        keys.forEach((key, i) => {
          const parsed = this.parseKey(key);
          const at = Number(values[i]);
          if (parsed && Number.isFinite(at) && at > 0) this.learn({ ...parsed, at });
        });
      } while (cursor !== '0');
      return true;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'token revocations not synced from redis; using the ones this instance heard');
      return false;
    }
  }

  /** Syncs now and every `syncMs` (index.ts; tests drive `sync` themselves). */
  start(): void {
    void this.sync();
    this.timer ??= setInterval(() => void this.sync(), this.opts.syncMs ?? 15_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
