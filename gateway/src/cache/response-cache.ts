import { LRUCache } from 'lru-cache';
import type { ExecutionResult } from 'graphql';
import type { ResponseCacheStats } from '@cos/observability';

export interface ResponseCacheOptions {
  /** Safety net only: entries are dropped by events long before. Bounds staleness of data that changes without one. */
  ttlMs: number;
  /** Memory bound: sum of the cached responses' JSON sizes (×2 for the parsed copy). */
  maxBytes: number;
  /** A response bigger than this is never cached (one big page must not evict everybody). */
  maxEntryBytes: number;
}

export const DEFAULT_RESPONSE_CACHE: ResponseCacheOptions = { ttlMs: 30_000, maxBytes: 64 * 1024 * 1024, maxEntryBytes: 1024 * 1024 };

/**
 * One cached answer. A client answer (`kind` response): the JSON yoga sends (served as is), the result it came from
 * (for plugins that read it) and the operation's name (metrics label of hits, which never reach execution). A
 * subgraph answer (`kind` subgraph): the subgraph's response text and its Cache-Control.
 */
export interface CachedResponse {
  result?: ExecutionResult;
  json: string;
  operation?: string;
  cacheControl?: string | null;
}

/**
 * `response`: a client's whole answer. `subgraph`: one subgraph's answer to one fetch of a query plan — what a client
 * answer dropped by an event of ONE subgraph is recomputed from, so only that subgraph is called again.
 */
export type CacheKind = 'response' | 'subgraph';

interface Entry extends CachedResponse {
  tags: string[];
}

/** The state of one client request that may end up cached (taken before the operation runs). */
export interface CacheTicket {
  key: string;
  orgId: string;
  /** `clock` when the request started: an invalidation after it makes the answer unsafe to keep. */
  startedAt: number;
}


const MAX_INVALIDATION_MARKS = 200_000;
const tagOf = (orgId: string, subgraph: string) => `${orgId}\u0000${subgraph}`;

/**
 * The gateway's response cache: per principal (the key says whose answer it is), invalidated by the domain events
 * of the subgraphs each answer was read from, per tenant.
 *
 * Every write in this system is an event of the service that owns the data, published after its commit (the event
 * store is the source of truth). So a cached answer read from subgraphs S1..Sn for tenant T stays right until an
 * event of T from one of S1..Sn passes — that is the invalidation rule (`invalidate(T, S)`). It is coarser than
 * entity ids on purpose: lists, counts and derived fields (health scores, totals) change with events whose ids are
 * nowhere in the answer, and a per-(tenant, subgraph) rule has no such hole.
 *
 * A logical clock closes the read/commit race: an answer computed while an invalidation of its (tenant, subgraph)
 * passed may hold the old data, so it is not stored (`raced`). A full flush (NATS connection lost: events may have
 * been missed) counts against every answer in flight.
 */
export class ResponseCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly byTag = new Map<string, Set<string>>();
  /** Clock value of the last invalidation of each tag; read only for tags of answers about to be stored. */
  private readonly invalidatedAt = new Map<string, number>();
  private flushedAt = 0;
  private clock = 0;
  /** False until the invalidation feed is live, and while it is down: nothing is served or stored then. */
  private live = false;
  readonly stats: Omit<ResponseCacheStats, 'entries' | 'bytes'> = {
    hits: 0,
    misses: 0,
    stores: 0,
    subgraphHits: 0,
    subgraphMisses: 0,
    subgraphStores: 0,
    raced: 0,
    invalidations: 0,
  };
  /** Called for each answer served from the cache with its duration (the gateway's operation latency metric). */
  onHit?: (operation: string, seconds: number) => void;

  constructor(readonly options: ResponseCacheOptions = DEFAULT_RESPONSE_CACHE) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: options.maxBytes,
      maxEntrySize: options.maxEntryBytes * 2,
      sizeCalculation: (e) => Math.max(1, e.json.length * 2),
      ttl: options.ttlMs,
      dispose: (entry, key) => this.untag(key, entry.tags),
    });
  }

  /** Whether answers are served and stored (the invalidation feed is connected). */
  get enabled(): boolean {
    return this.live;
  }

  /** The invalidation feed went live (start, reconnect) or down: either way nothing cached before can be trusted. */
  setLive(live: boolean): void {
    this.flush();
    this.live = live;
  }

  get(key: string, kind: CacheKind = 'response'): CachedResponse | undefined {
    if (!this.live) return undefined;
    const e = this.lru.get(key);
    if (kind === 'subgraph') {
      if (e) this.stats.subgraphHits++;
      else this.stats.subgraphMisses++;
    } else if (e) this.stats.hits++;
    else this.stats.misses++;
    return e;
  }

  /** Called before the operation runs; `store` later refuses the answer if its data was invalidated meanwhile. */
  ticket(key: string, orgId: string): CacheTicket {
    return { key, orgId, startedAt: this.clock };
  }

  /** Stores an answer read from `subgraphs` unless one of them was invalidated for this tenant since the ticket. */
  store(ticket: CacheTicket, subgraphs: Iterable<string>, response: CachedResponse, kind: CacheKind = 'response'): boolean {
    if (!this.live) return false;
    const tags = [...subgraphs].map((s) => tagOf(ticket.orgId, s));
    if (tags.length === 0) return false;
    if (this.flushedAt > ticket.startedAt || tags.some((t) => (this.invalidatedAt.get(t) ?? 0) > ticket.startedAt)) {
      this.stats.raced++;
      return false;
    }
    if (response.json.length > this.options.maxEntryBytes) return false;
    this.lru.set(ticket.key, { ...response, tags });
    if (!this.lru.has(ticket.key)) return false;
    for (const t of tags) (this.byTag.get(t) ?? this.byTag.set(t, new Set()).get(t)!).add(ticket.key);
    if (kind === 'subgraph') this.stats.subgraphStores++;
    else this.stats.stores++;
    return true;
  }

  /** An event of `subgraph` for tenant `orgId` passed (or a mutation through this gateway wrote there). */
  invalidate(orgId: string, subgraph: string): void {
    // One mark per (tenant, subgraph) ever seen; a flush resets them (and costs one cold cache), so the map is bounded.
    if (this.invalidatedAt.size >= MAX_INVALIDATION_MARKS) this.flush();
    const tag = tagOf(orgId, subgraph);
    this.invalidatedAt.set(tag, ++this.clock);
    this.stats.invalidations++;
    const keys = this.byTag.get(tag);
    if (!keys) return;
    this.byTag.delete(tag);
    for (const k of keys) this.lru.delete(k);
  }

  /** Everything of one tenant (membership, role and key changes: authorization decisions may differ now). */
  invalidateTenant(orgId: string, subgraphs: Iterable<string>): void {
    for (const s of subgraphs) this.invalidate(orgId, s);
  }

  /** Drops every entry and fails every answer in flight (they may have missed an invalidation). */
  flush(): void {
    this.flushedAt = ++this.clock;
    this.lru.clear();
    this.byTag.clear();
    // Entries older than the flush are gone, so per-tag marks before it no longer matter.
    this.invalidatedAt.clear();
  }

  snapshot(): ResponseCacheStats {
    return { ...this.stats, entries: this.lru.size, bytes: this.lru.calculatedSize };
  }

  private untag(key: string, tags: string[]): void {
    for (const t of tags) {
      const keys = this.byTag.get(t);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) this.byTag.delete(t);
    }
  }
}
