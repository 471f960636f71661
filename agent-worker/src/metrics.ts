import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ModelResult } from './models/provider';

/** The worker's own /metrics: model calls (latency, tokens, cost), breaker state, claims, heartbeats, run outcomes. */
export function createWorkerMetrics() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'agent-worker' });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m = {
    registry,
    claims: new Counter({ name: 'cos_worker_claims_total', help: 'Runs this worker claimed', labelNames: ['agent_kind'] as const, registers }),
    runs: new Counter({
      name: 'cos_worker_runs_total',
      help: 'Runs handed back, by outcome (succeeded, waiting, requeued, failed, lost)',
      labelNames: ['agent_kind', 'outcome'] as const,
      registers,
    }),
    heartbeats: new Counter({ name: 'cos_worker_heartbeats_total', help: 'Heartbeats sent', labelNames: ['outcome'] as const, registers }),
    modelRequests: new Histogram({
      name: 'cos_worker_model_request_duration_seconds',
      help: 'HTTP requests to the model server',
      labelNames: ['outcome'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    modelSteps: new Histogram({
      name: 'cos_worker_model_step_duration_seconds',
      help: 'Model steps (all calls and tool rounds of a step)',
      labelNames: ['agent_kind', 'model'] as const,
      buckets: [0.01, 0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    tokens: new Counter({ name: 'cos_worker_model_tokens_total', help: 'Model tokens', labelNames: ['agent_kind', 'model', 'type'] as const, registers }),
    cost: new Counter({ name: 'cos_worker_model_cost_usd_total', help: 'Model cost in US dollars', labelNames: ['agent_kind', 'model'] as const, registers }),
    breakerOpen: new Gauge({ name: 'cos_worker_model_circuit_open', help: '1 while the model circuit breaker is open', registers }),
  };
  return {
    ...m,
    modelStep(kind: string, r: ModelResult<unknown>, seconds: number) {
      m.modelSteps.observe({ agent_kind: kind, model: r.model }, seconds);
      if (r.usage.promptTokens) m.tokens.inc({ agent_kind: kind, model: r.model, type: 'prompt' }, r.usage.promptTokens);
      if (r.usage.completionTokens) m.tokens.inc({ agent_kind: kind, model: r.model, type: 'completion' }, r.usage.completionTokens);
      if (r.usage.costUsd) m.cost.inc({ agent_kind: kind, model: r.model }, r.usage.costUsd);
    },
  };
}
export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** GET /metrics and /healthz on `port` (127.0.0.1 unless host says otherwise). */
export function serveMetrics(metrics: WorkerMetrics, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
