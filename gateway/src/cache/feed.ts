import { eventSubject } from '@cos/events';
import type { EventFeed } from '../events/feed';
import type { ResponseCache } from './response-cache';

/**
 * Identity streams whose events change what a principal may see (membership, role, keys): the gateway's
 * authorization decisions and per-object policies read them, so every cached answer of the tenant goes, not only
 * the ones read from identity.
 */
const TENANT_WIDE = [eventSubject('identity', 'Organization'), eventSubject('identity', 'ApiKey')] as const;
const tenantWide = new Set<string>(TENANT_WIDE.map((s) => s.slice(0, -2)));

/**
 * Feeds the response cache from the gateway's event feed: each domain event drops the tenant's answers read from
 * the service that owns it (membership and key events: all of the tenant's). While the feed is not live (NATS down)
 * the cache is off, and it starts empty once the feed is confirmed again (what passed meanwhile was not seen).
 */
export function feedResponseCache(opts: { feed: EventFeed; cache: ResponseCache; subgraphs: () => string[] }): { stop(): void } {
  const { feed, cache } = opts;
  const off = feed.on('>', (e) => {
    if (tenantWide.has(`${e.service}.${e.streamType}`)) cache.invalidateTenant(e.orgId, opts.subgraphs());
    else cache.invalidate(e.orgId, e.service.toLowerCase());
  });
  cache.setLive(feed.live);
  const unwatch = feed.onLiveChange((live) => cache.setLive(live));
  return {
    stop() {
      off();
      unwatch();
      cache.setLive(false);
    },
  };
}
