export { createMetrics, observePool, busMetrics, metricsResponse, observePlanCache, observeResponseCache, type ResponseCacheStats, observeSubgraphTransport, subgraphFetchObserver, type Metrics } from './metrics';
export { useOperationMetrics } from './yoga';
export { createAgentMetrics, type AgentMetrics } from './agent-metrics';
export {
  initTracing,
  useTracing,
  traceQueries,
  instrumentFetch,
  withSpan,
  traceparentOf,
  currentTraceparent,
  contextFromTraceparent,
  statementName,
  TRACER_NAME,
  SpanKind,
  type Tracing,
  type TracingOptions,
} from './tracing';
