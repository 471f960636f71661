import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type pg from 'pg';

/** Buckets for request-scale latencies (seconds): 1 ms … 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The one metrics registry of a process, with the metric names the dashboards and alert rules in infra/ use.
 * Every process exposes it at GET /metrics.
 */
export function createMetrics(service: string) {
  let activeSubscriptionsSource: (() => Record<string, number>) | null = null;
  let pendingEventsSource: (() => number) | null = null;
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });

  const m = {
    registry,
    operationDuration: new Histogram({
      name: 'cos_graphql_operation_duration_seconds',
      help: 'GraphQL operation latency by operation name and type',
      labelNames: ['operation', 'type', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    operationErrors: new Counter({
      name: 'cos_graphql_errors_total',
      help: 'GraphQL errors by code',
      labelNames: ['operation', 'code'] as const,
      registers: [registry],
    }),
    subgraphFetchDuration: new Histogram({
      name: 'cos_subgraph_fetch_duration_seconds',
      help: 'Gateway to subgraph fetch latency',
      labelNames: ['subgraph', 'outcome'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    subgraphCircuitOpen: new Gauge({
      name: 'cos_subgraph_circuit_open',
      help: 'Gateway circuit breaker per subgraph: 1 while open (requests fail fast), 0 otherwise',
      labelNames: ['subgraph'] as const,
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'cos_dependency_up',
      help: 'A backing service this process uses (nats, redis): 1 while connected, 0 while not — the process keeps serving what does not need it',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    planCache: new Counter({
      name: 'cos_query_plan_cache_total',
      help: 'Query plan cache lookups by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    retentionDeletedRows: new Counter({
      name: 'cos_retention_deleted_rows_total',
      help: 'Rows the retention job deleted, by table (docs/privacy.md)',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    retentionRuns: new Counter({
      name: 'cos_retention_runs_total',
      help: 'Retention job passes by outcome: done, skipped (another instance holds the lease), failed',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    dataloaderBatchSize: new Histogram({
      name: 'cos_dataloader_batch_size',
      help: 'Keys per DataLoader batch',
      labelNames: ['loader'] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    }),
    activeSubscriptions: new Gauge({
      name: 'cos_active_subscriptions',
      help: 'Subscriptions currently open on this process',
      labelNames: ['transport'] as const,
      registers: [registry],
      // Read at scrape time from whoever holds the subscriptions (see trackActiveSubscriptions).
      collect() {
        const read = activeSubscriptionsSource;
        if (read) for (const [transport, n] of Object.entries(read())) this.set({ transport }, n);
      },
    }),
    subscriptionDeliveryLag: new Histogram({
      name: 'cos_subscription_delivery_lag_seconds',
      help: 'Time from event commit to its result handed to a subscriber (the gateway side of commit → client lag)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    subscriptionPendingEvents: new Gauge({
      name: 'cos_subscription_pending_events',
      help: 'Events waiting to be resolved for subscribers, summed over resolution groups',
      registers: [registry],
      collect() {
        const read = pendingEventsSource;
        if (read) this.set(read());
      },
    }),
    subscriptionOverloadClosed: new Counter({
      name: 'cos_subscription_overload_closed_total',
      help: 'Subscription connections closed with 1013 because a resolution group of theirs queued more than SUBS_GROUP_QUEUE events',
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'cos_events_published_total',
      help: 'Events the outbox relay published to JetStream',
      registers: [registry],
    }),
    eventsProcessed: new Counter({
      name: 'cos_events_processed_total',
      help: 'Events a consumer applied',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    eventLag: new Histogram({
      name: 'cos_event_lag_seconds',
      help: 'Time from event commit to a consumer applying it',
      labelNames: ['consumer'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'cos_dead_letters_total',
      help: 'Messages moved to the dead-letter stream',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'cos_rate_limited_total',
      help: 'Requests refused by the rate limiter',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    /** Reports the live subscription count (by transport) at every scrape. */
    trackActiveSubscriptions(read: () => Record<string, number>) {
      activeSubscriptionsSource = read;
    },
    /** Reports the subscription engine's queued events at every scrape. */
    trackPendingSubscriptionEvents(read: () => number) {
      pendingEventsSource = read;
    },
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Reports a pg Pool's use as gauges, read at scrape time. */
export function observePool(metrics: Metrics, name: string, pool: pg.Pool): void {
  new Gauge({
    name: `cos_pg_pool_${name}_connections`,
    help: `Postgres pool "${name}" connections by state`,
    labelNames: ['state'] as const,
    registers: [metrics.registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
}

/** The bus metrics hooks (see @cos/bus) backed by this registry. */
export function busMetrics(metrics: Metrics) {
  return {
    onPublished: (n: number) => metrics.eventsPublished.inc(n),
    onProcessed: (consumer: string, lagMs: number) => {
      metrics.eventsProcessed.inc({ consumer });
      metrics.eventLag.observe({ consumer }, lagMs / 1000);
    },
    onDeadLetter: (consumer: string) => metrics.deadLetters.inc({ consumer }),
  };
}

/** A fetch-style handler for GET /metrics. */
export async function metricsResponse(metrics: Metrics): Promise<Response> {
  return new Response(await metrics.registry.metrics(), { headers: { 'content-type': metrics.registry.contentType } });
}

/**
 * Counts query-plan cache hits and misses of an @apollo/gateway instance by observing its plan store's `get`
 * (the store lives for the gateway's lifetime; a schema update clears it, which shows as misses).
 */
export function observePlanCache(gateway: object, metrics: Metrics): boolean {
  const store = (gateway as { queryPlanStore?: { get?: (key: string) => Promise<unknown> } }).queryPlanStore;
  if (!store || typeof store.get !== 'function') return false;
  const get = store.get.bind(store);
  store.get = async (key: string) => {
    const plan = await get(key);
    metrics.planCache.inc({ result: plan === undefined ? 'miss' : 'hit' });
    return plan;
  };
  return true;
}

/**
 * The gateway response cache's counters and size, read at scrape time from its stats (hits, misses, stores,
 * answers refused because an invalidation raced them, invalidations; entries and bytes held).
 */
/** What the gateway's response cache counts (since start) and holds (now). */
export interface ResponseCacheStats {
  /** Client answers. */
  hits: number;
  misses: number;
  stores: number;
  /** Subgraph answers of query plans. */
  subgraphHits: number;
  subgraphMisses: number;
  subgraphStores: number;
  /** Answers not stored because an invalidation of their data happened while they were computed. */
  raced: number;
  invalidations: number;
  entries: number;
  bytes: number;
}

export function observeResponseCache(
  metrics: Metrics,
  read: () => ResponseCacheStats,
): void {
  new Counter({
    name: 'cos_response_cache_total',
    help: 'Gateway response cache events by kind (client answers: hit, miss, store; subgraph answers: subgraph_hit, subgraph_miss, subgraph_store; raced, invalidation)',
    labelNames: ['kind'] as const,
    registers: [metrics.registry],
    collect() {
      const s = read();
      this.reset();
      this.inc({ kind: 'hit' }, s.hits);
      this.inc({ kind: 'miss' }, s.misses);
      this.inc({ kind: 'store' }, s.stores);
      this.inc({ kind: 'subgraph_hit' }, s.subgraphHits);
      this.inc({ kind: 'subgraph_miss' }, s.subgraphMisses);
      this.inc({ kind: 'subgraph_store' }, s.subgraphStores);
      this.inc({ kind: 'raced' }, s.raced);
      this.inc({ kind: 'invalidation' }, s.invalidations);
    },
  });
  new Gauge({
    name: 'cos_response_cache_size',
    help: 'Gateway response cache contents (entries, bytes)',
    labelNames: ['unit'] as const,
    registers: [metrics.registry],
    collect() {
      const s = read();
      this.set({ unit: 'entries' }, s.entries);
      this.set({ unit: 'bytes' }, s.bytes);
    },
  });
}

/**
 * What the gateway's subgraph transport saved, read at scrape time: entity fetches the query plans asked for vs the
 * HTTP requests they went out as (DataLoader batching per client request), representations sent once instead of
 * repeatedly, and requests that joined an identical one in flight.
 */
export function observeSubgraphTransport(
  metrics: Metrics,
  read: () => { entityFetches: number; entityRequests: number; representationsDeduplicated: number; inflightJoined: number },
): void {
  new Counter({
    name: 'cos_subgraph_transport_total',
    help: 'Gateway subgraph transport: entity_fetch (planned), entity_request (sent after batching), representation_deduplicated, inflight_joined',
    labelNames: ['kind'] as const,
    registers: [metrics.registry],
    collect() {
      const s = read();
      this.reset();
      this.inc({ kind: 'entity_fetch' }, s.entityFetches);
      this.inc({ kind: 'entity_request' }, s.entityRequests);
      this.inc({ kind: 'representation_deduplicated' }, s.representationsDeduplicated);
      this.inc({ kind: 'inflight_joined' }, s.inflightJoined);
    },
  });
}

/** The `observe` callback of instrumentFetch backed by `cos_subgraph_fetch_duration_seconds`. */
export const subgraphFetchObserver =
  (metrics: Metrics) =>
  (subgraph: string, seconds: number, outcome: 'ok' | 'error'): void =>
    metrics.subgraphFetchDuration.observe({ subgraph, outcome }, seconds);
