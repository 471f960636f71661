export { createMetrics, observePool, busMetrics, metricsResponse, type Metrics } from './metrics';
export { useOperationMetrics } from './yoga';
