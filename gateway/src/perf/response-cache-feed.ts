import type { Bus } from '@cos/bus';
import type { Logger } from '@cos/logger';
import type { ResponseCache } from './response-cache';

/**
 * Identity streams whose events change what a principal may see (membership, role, keys): the gateway's
 * authorization decisions and per-object policies read them, so every cached answer of the tenant goes, not only
 * the ones read from identity.
 */
const TENANT_WIDE = new Set(['identity.Organization', 'identity.ApiKey']);

/**
 * Feeds the response cache with the domain events of every service: a plain (core NATS) subscription on the event
 * subjects `<prefix>.<orgId>.<service>.<aggregate>.<Type>` — JetStream publishes reach core subscribers too, and
 * every gateway instance has its own, so each instance drops its own entries. No durable state: while the
 * connection is down events may pass unseen, so the cache is switched off (and flushed) until it is back.
 */
export function feedResponseCache(opts: {
  bus: Bus;
  cache: ResponseCache;
  subgraphs: () => string[];
  log: Logger;
}): { stop(): void } {
  const { bus, cache, log } = opts;
  const sub = bus.nc.subscribe(`${bus.prefix}.>`);
  let stopped = false;
  void (async () => {
    for await (const msg of sub) {
      // <prefix>.<orgId>.<service>.<aggregate>.<Type>
      const t = msg.subject.split('.');
      if (t.length !== 5) continue;
      const [, orgId, service, aggregate] = t as [string, string, string, string, string];
      if (TENANT_WIDE.has(`${service}.${aggregate}`)) cache.invalidateTenant(orgId, opts.subgraphs());
      else cache.invalidate(orgId, service.toLowerCase());
    }
  })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'response cache feed ended'));
  void (async () => {
    for await (const s of bus.nc.status()) {
      if (stopped) return;
      if (s.type === 'disconnect') {
        cache.setLive(false);
        log.warn('nats disconnected: response cache off until the event feed is back');
      } else if (s.type === 'reconnect') {
        // Flush: whatever happened while we were away was not seen.
        cache.setLive(true);
        log.info('nats reconnected: response cache flushed and back on');
      }
    }
  })().catch(() => undefined);
  // The subscription is registered with the server once flush() answers: from then on no event is missed.
  void bus.nc
    .flush()
    .then(() => {
      if (!stopped) cache.setLive(true);
    })
    .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'response cache stays off: event feed not confirmed'));
  return {
    stop() {
      stopped = true;
      cache.setLive(false);
      sub.unsubscribe();
    },
  };
}
