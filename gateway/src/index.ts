import { Redis } from 'ioredis';
import { createLogger } from '@cos/logger';
import { createMetrics, initTracing, instrumentFetch, observePlanCache, observeResponseCache, observeSubgraphTransport, subgraphFetchObserver } from '@cos/observability';
import { runService } from '@cos/service-kit';
import { loadEnv } from './env';
import { createGateway } from './server';
import { rateLimitConfigFromEnv } from './limits/useRateLimit';
import { connectBus } from '@cos/bus';
import { createSubscriptionBridge } from './subscriptions';
import { watchRevocations } from './auth/revocations';
import { createEventFeed } from './events/feed';
import { linkBus } from './events/bus';
import { useObservability } from './transport/useObservability';
import { DEFAULT_RESPONSE_CACHE, ResponseCache } from './cache/response-cache';
import { feedResponseCache } from './cache/feed';
import { RedisQuota } from './subscriptions/quota';

/**
 * The gateway process: env → Redis → supergraph + gateway → listen, with NATS linked in the background (the gateway
 * serves queries and mutations without NATS or Redis; subscriptions and response-cache invalidation wait for NATS,
 * see events/bus.ts). On SIGTERM/SIGINT: /readyz turns 503 (drain), the server stops accepting and finishes
 * in-flight requests, then the gateway, its subgraph pool, NATS and Redis are closed.
 */
async function main() {
  const env = loadEnv();
  const log = createLogger('gateway', env.LOG_LEVEL);
  const tracing = initTracing({ service: 'gateway', otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const metrics = createMetrics('gateway');
  // Short command timeout and no offline queue: a Redis outage must cost milliseconds, not hang requests.
  const redis = new Redis(env.REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2_000,
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  redis.on('ready', () => metrics.dependencyUp.set({ dependency: 'redis' }, 1));
  redis.on('close', () => metrics.dependencyUp.set({ dependency: 'redis' }, 0));
  metrics.dependencyUp.set({ dependency: 'redis' }, 0);
  // NATS in the background: nothing here waits for it (see events/bus.ts).
  const link = linkBus({
    connect: () => connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: 'gateway', log }),
    log,
  });
  metrics.dependencyUp.set({ dependency: 'nats' }, 0);
  link.onUpChange((up) => metrics.dependencyUp.set({ dependency: 'nats' }, up ? 1 : 0));
  try {
    await redis.connect();
  } catch (err) {
    // Redis only caches: start without it and let ioredis reconnect in the background.
    log.warn({ err: (err as Error).message }, 'redis unavailable at startup');
  }
  // Off until the NATS event feed below is live (it invalidates the cache); see ResponseCache.
  const responseCache = env.RESPONSE_CACHE
    ? new ResponseCache({ ...DEFAULT_RESPONSE_CACHE, ttlMs: env.RESPONSE_CACHE_TTL_MS, maxBytes: env.RESPONSE_CACHE_MAX_MB * 1024 * 1024 })
    : undefined;
  if (responseCache) {
    observeResponseCache(metrics, () => responseCache.snapshot());
    // Hits never reach execution, where operations are timed: they are operations all the same.
    responseCache.onHit = (operation, seconds) => metrics.operationDuration.observe({ operation, type: 'query', outcome: 'ok' }, seconds);
  }
  const gateway = await createGateway({
    env,
    responseCache,
    log,
    redis,
    plugins: { observability: useObservability({ metrics, tracing }) },
    onCircuitChange: (subgraph, state) => metrics.subgraphCircuitOpen.set({ subgraph }, state === 'open' ? 1 : 0),
    instrumentFetch: (subgraph, fetcher) => instrumentFetch(subgraph, fetcher, subgraphFetchObserver(metrics)),
    rateLimit: { ...rateLimitConfigFromEnv(env), onReject: (scope) => metrics.rateLimited.inc({ kind: scope }) },
    csrfPrevention: env.CSRF_PREVENTION,
    onPlanCache: (result) => metrics.planCache.inc({ result }),
    dependencies: () => ({ nats: link.up, redis: redis.status === 'ready' }),
  });
  if (gateway.executor === 'apollo' && !observePlanCache(gateway.apollo, metrics)) {
    // @apollo/gateway's plan store is internal; e2e/observability.e2e.ts fails if an upgrade renames it.
    log.warn('query-plan cache not observable in this @apollo/gateway version: cos_query_plan_cache_total stays 0');
  }
  observeSubgraphTransport(metrics, () => gateway.transportStats());
  log.info({ subgraphs: gateway.subgraphs(), executor: gateway.executor }, 'supergraph loaded');
  // One reader of the domain events for the whole process (subscriptions have their own resumable JetStream consumers).
  const feed = createEventFeed(link, log);
  const revocations = watchRevocations(feed, redis, env.REDIS_PREFIX, log, gateway.tokenRevocations);
  gateway.tokenRevocations.start();
  const cacheFeed = responseCache
    ? feedResponseCache({ feed, cache: responseCache, subgraphs: () => gateway.subgraphs().map((s) => s.name.toLowerCase()) })
    : undefined;
  const subscriptions = createSubscriptionBridge({
    gateway,
    bus: link,
    revocations: gateway.tokenRevocations,
    subjectPrefix: env.COS_SUBJECT_PREFIX,
    log,
    // The per-principal limit holds across gateway instances (leases in Redis; see subscriptions/quota.ts).
    quota: new RedisQuota({ redis, prefix: env.REDIS_PREFIX, limit: env.SUBS_MAX_PER_PRINCIPAL, log }),
    limits: {
      perConnection: env.SUBS_MAX_PER_CONNECTION,
      perPrincipal: env.SUBS_MAX_PER_PRINCIPAL,
      connectionBuffer: env.SUBS_CONNECTION_BUFFER,
      groupQueue: env.SUBS_GROUP_QUEUE,
      lookupConcurrency: env.SUBS_LOOKUP_CONCURRENCY,
    },
    observer: {
      delivered: (seconds) => metrics.subscriptionDeliveryLag.observe(seconds),
      overloadClosed: (count) => metrics.subscriptionOverloadClosed.inc(count),
    },
  });
  metrics.trackActiveSubscriptions(() => ({ all: subscriptions.engine.stats.subscribers }));
  metrics.trackPendingSubscriptionEvents(() => subscriptions.engine.stats.pending);
  const server = await runService({
    name: 'gateway',
    port: env.PORT,
    host: env.HOST,
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    log,
    handler: subscriptions.wrap(gateway.yoga),
    onDrain: () => {
      gateway.drain();
      subscriptions.drain();
    },
    onShutdown: async () => {
      await subscriptions.close();
      revocations.stop();
      cacheFeed?.stop();
      feed.stop();
      await link.close();
      await gateway.close();
      redis.disconnect();
      await tracing.shutdown();
    },
  });
  subscriptions.attach(server);
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error('gateway failed to start', err);
  process.exit(1);
});
