import type { Plugin } from 'graphql-yoga';
import { metricsResponse, useOperationMetrics, useTracing, type Metrics, type Tracing } from '@cos/observability';

/**
 * The gateway's `observability` slot: GET /metrics (Prometheus, unauthenticated like /healthz — expose it on the
 * internal network only), operation latency/error metrics by operation name and, when tracing is on, a SERVER span
 * per request continuing the client's traceparent (subgraph fetches become its children: see instrumentFetch).
 */
export function useObservability(opts: { metrics: Metrics; tracing: Tracing }): Plugin[] {
  const metricsRoute: Plugin = {
    async onRequest({ url, request, endResponse }) {
      if (url.pathname === '/metrics' && request.method === 'GET') endResponse(await metricsResponse(opts.metrics));
    },
  };
  const plugins: Plugin[] = [metricsRoute, useOperationMetrics(opts.metrics)];
  if (opts.tracing.enabled) plugins.unshift(useTracing({ service: 'gateway' }));
  return plugins;
}
