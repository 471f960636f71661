import type { Plugin } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import type { Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import { principalIn, type GatewayServerContext } from '../context';
import { jsonError } from '../transport/responses';
import type { ClientIp } from '../auth/client-ip';

export interface RateLimitConfig {
  enabled: boolean;
  /** Length of the window the limits below are counted over. */
  windowSeconds: number;
  /** Requests per window for a signed-in user (or service account). */
  perUser: number;
  /** Requests per window for a partner API key without its own limit. */
  perApiKey: number;
  /** Requests per window per client IP for anonymous calls. */
  perIp: number;
  /** Per partner key limits, by key id or by client (key) name; win over perApiKey. */
  perKey: Readonly<Record<string, number>>;
}

export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  enabled: true,
  windowSeconds: 60,
  perUser: 1200,
  perApiKey: 600,
  perIp: 600,
  perKey: {},
};

/**
 * GCRA (generic cell rate algorithm) in one atomic script: the key holds the "theoretical arrival time" of the next
 * request; `limit` requests per `period` ms, all of them allowed in a burst. Redis' own clock, so every gateway
 * instance agrees. Answers {allowed, retryAfterMs, remaining}.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local emission = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - period
if now < allow_at then
  return {0, math.ceil(allow_at - now), 0}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0, math.floor((now - allow_at) / emission)}
`;

export type RateLimitScope = 'apiKey' | 'user' | 'ip';

export interface UseRateLimitOptions {
  redis: Redis;
  prefix: string;
  config: RateLimitConfig;
  log: Logger;
  /** Metric hook: called for every rejected request. */
  onReject?: (scope: RateLimitScope) => void;
  /** Operation paths the limit applies to (health and metrics stay free). */
  paths: ReadonlySet<string>;
  /** The caller's address for per-IP limits (socket peer, or through TRUSTED_PROXIES); default: the socket peer. */
  clientIp?: ClientIp;
}

function subject(p: Principal, ip: string, c: RateLimitConfig): { scope: RateLimitScope; id: string; limit: number } {
  switch (p.kind) {
    case 'apiKey':
      return { scope: 'apiKey', id: p.keyId, limit: c.perKey[p.keyId] ?? c.perKey[p.clientName] ?? c.perApiKey };
    case 'user':
      return { scope: 'user', id: p.userId, limit: c.perUser };
    case 'service':
      return { scope: 'user', id: `service:${p.serviceId}`, limit: c.perUser };
    default:
      return { scope: 'ip', id: ip, limit: c.perIp };
  }
}

/**
 * Per-principal rate limits in Redis: per API key, per user, per IP for anonymous calls. Runs right after
 * authentication, before the body is parsed, so a flood costs one Redis round trip per request. Over the limit:
 * HTTP 429, RATE_LIMITED, `Retry-After` (seconds). Every answer carries RateLimit-Limit/-Remaining. A Redis outage
 * lets requests through (logged): limits protect capacity, they are not an authorization check.
 */
export function useRateLimit(opts: UseRateLimitOptions): Plugin {
  const { config } = opts;
  const remainingByRequest = new WeakMap<Request, { limit: number; remaining: number }>();
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      if (!config.enabled || !opts.paths.has(url.pathname)) return;
      // Every client request counts, whatever its transport; subscription lookups run through core execute, not here.
      const principal = principalIn(serverContext);
      const req = (serverContext as GatewayServerContext | undefined)?.req;
      const ip = (opts.clientIp ? opts.clientIp(req) : req?.socket?.remoteAddress) ?? 'unknown';
      const s = subject(principal, ip, config);
      let answer: [number, number, number];
      try {
        answer = (await opts.redis.eval(GCRA, 1, `${opts.prefix}rl:${s.scope}:${s.id}`, config.windowSeconds * 1000, s.limit)) as [
          number,
          number,
          number,
        ];
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'rate limit check failed; letting the request through');
        return;
      }
      const [allowed, retryAfterMs, remaining] = answer;
      if (allowed === 1) {
        remainingByRequest.set(request, { limit: s.limit, remaining });
        return;
      }
      opts.onReject?.(s.scope);
      const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
      const res = jsonError(429, ErrorCode.RATE_LIMITED, `Rate limit exceeded; retry in ${retryAfter} s`);
      res.headers.set('retry-after', String(retryAfter));
      res.headers.set('ratelimit-limit', String(s.limit));
      res.headers.set('ratelimit-remaining', '0');
      endResponse(res);
    },
    onResponse({ request, response }) {
      const r = remainingByRequest.get(request);
      if (!r) return;
      response.headers.set('ratelimit-limit', String(r.limit));
      response.headers.set('ratelimit-remaining', String(r.remaining));
    },
  };
}

/** Reads the limits from the gateway's env (RATE_LIMIT_*); see env.ts. */
export function rateLimitConfigFromEnv(env: {
  RATE_LIMIT_ENABLED: boolean;
  RATE_LIMIT_WINDOW_S: number;
  RATE_LIMIT_PER_USER: number;
  RATE_LIMIT_PER_API_KEY: number;
  RATE_LIMIT_PER_IP: number;
  RATE_LIMIT_KEYS: Record<string, number>;
}): RateLimitConfig {
  return {
    enabled: env.RATE_LIMIT_ENABLED,
    windowSeconds: env.RATE_LIMIT_WINDOW_S,
    perUser: env.RATE_LIMIT_PER_USER,
    perApiKey: env.RATE_LIMIT_PER_API_KEY,
    perIp: env.RATE_LIMIT_PER_IP,
    perKey: env.RATE_LIMIT_KEYS,
  };
}
