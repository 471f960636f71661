import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { signPrincipal, type Principal } from '@cos/auth';
import type { Logger } from '@cos/logger';
import { manifestSchema } from '@cos/persisted';

type Fetcher = RemoteGraphQLDataSource['fetcher'];

const GATEWAY_PRINCIPAL: Principal = {
  kind: 'service',
  serviceId: 'gateway',
  orgId: '00000000-0000-0000-0000-000000000000',
  scopes: [],
};
const lookupAnswer = z.object({ id: z.string(), name: z.string(), body: z.string() });

export interface DocumentStoreOptions {
  redis: Redis;
  /** Gateway Redis prefix (REDIS_PREFIX). */
  prefix: string;
  /** APQ entries live this long in Redis (APQ_TTL_S); a client re-registers after expiry (one extra round trip). */
  apqTtlS: number;
  /** Folder of first-party manifests (`<client>.json`, Apollo's format) trusted for every organization. */
  manifestsDir?: string;
  /** identity's origin, for registered (per organization and client) documents. */
  identityUrl: () => string | undefined;
  internalSecret: string;
  fetcher: Fetcher;
  log: Logger;
  /** Registered documents are content-addressed (immutable), so hits are cached long; misses briefly, so a new
   * registration works within `missTtlS` without a restart. */
  hitTtlS?: number;
  missTtlS?: number;
}

export interface DocumentStore {
  apqGet(hash: string): Promise<string | null>;
  apqSet(hash: string, query: string): Promise<void>;
  /** A first-party manifest document (the project's own clients), or null. */
  firstParty(id: string): string | null;
  /** A document registered in `orgId` for `client` (null = any client of the organization), or null. */
  registered(orgId: string, client: string | null, id: string): Promise<string | null>;
}

/** Loads every `<client>.json` manifest of `dir` into one id → body map (missing folder = none). */
export function loadFirstPartyManifests(dir: string | undefined, log: Logger): Map<string, string> {
  const docs = new Map<string, string>();
  if (!dir) return docs;
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return docs;
  }
  for (const file of files) {
    const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    if (!parsed.success) {
      log.warn({ file }, 'ignored an invalid persisted-query manifest');
      continue;
    }
    for (const op of parsed.data.operations) docs.set(op.id, op.body);
  }
  return docs;
}

/** Redis key of a cached registered-document lookup (client null: first-party callers, any client of the org). */
const registeredKey = (prefix: string, orgId: string, client: string | null, id: string) =>
  `${prefix}pq:${orgId}:${client === null ? '*' : encodeURIComponent(client)}:${id}`;

/** Drops the cached lookups of revoked documents (the client's and the any-client ones); answers how many went. */
export async function forgetRegistered(redis: Redis, prefix: string, orgId: string, client: string, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return redis.del(...ids.flatMap((id) => [registeredKey(prefix, orgId, client, id), registeredKey(prefix, orgId, null, id)]));
}

/**
 * Where persisted documents come from: APQ registrations in Redis (shared by every gateway instance), first-party
 * manifests from disk, and documents registered per organization and client in identity (Postgres), cached in
 * Redis. Redis trouble degrades to "not found" for APQ (the client re-sends the query) and to asking identity
 * for registered documents.
 */
export function createDocumentStore(opts: DocumentStoreOptions): DocumentStore {
  const firstParty = loadFirstPartyManifests(opts.manifestsDir, opts.log);
  const hitTtl = opts.hitTtlS ?? 3600;
  const missTtl = opts.missTtlS ?? 5;
  const apqKey = (hash: string) => `${opts.prefix}apq:${hash}`;
  return {
    async apqGet(hash) {
      try {
        return await opts.redis.get(apqKey(hash));
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'APQ read failed');
        return null;
      }
    },
    async apqSet(hash, query) {
      try {
        await opts.redis.set(apqKey(hash), query, 'EX', opts.apqTtlS);
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'APQ write failed');
      }
    },
    firstParty: (id) => firstParty.get(id) ?? null,
    async registered(orgId, client, id) {
      const key = registeredKey(opts.prefix, orgId, client, id);
      try {
        const cached = await opts.redis.get(key);
        if (cached !== null) return cached === '' ? null : cached;
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'persisted-document cache read failed; asking identity');
      }
      const base = opts.identityUrl();
      if (!base) throw new Error('no identity URL to look persisted documents up');
      const res = await opts.fetcher(new URL('/internal/persisted-operations/lookup', base).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signPrincipal(GATEWAY_PRINCIPAL, opts.internalSecret) },
        body: JSON.stringify({ orgId, client, id }),
      });
      let body: string | null;
      if (res.status === 404) {
        await res.text();
        body = null;
      } else if (res.ok) {
        const parsed = lookupAnswer.safeParse(await res.json());
        if (!parsed.success || parsed.data.id !== id) throw new Error('identity answered an unexpected persisted-document body');
        body = parsed.data.body;
      } else {
        await res.text();
        throw new Error(`identity persisted-document lookup answered HTTP ${res.status}`);
      }
      try {
        await opts.redis.set(key, body ?? '', 'EX', body === null ? missTtl : hitTtl);
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'persisted-document cache write failed');
      }
      return body;
    },
  };
}
