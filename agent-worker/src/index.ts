/**
 * `pnpm agent-worker --kinds TRIAGE,SUPPORT`: the reference agent worker. It runs the specialists of the kinds it is
 * given for one organization (its service account's), using only the public graph: claims runs, heartbeats,
 * checkpoints each step, asks people for approval, completes or fails runs. MODEL_PROVIDER=openai puts a real model
 * (any OpenAI-compatible server) behind the specialists; the default `rules` needs no key.
 */
import { createLogger } from '@cos/logger';
import { loadEnv } from './env';
import { createGraphClient } from './graph';
import { createWorkerMetrics, serveMetrics } from './metrics';
import { createOpenAICompatibleProvider } from './models/openai';
import type { ModelProvider } from './models/provider';
import { createRulesProvider } from './models/rules';
import { createWorker } from './worker';

const env = loadEnv();
const log = createLogger('agent-worker', env.LOG_LEVEL);
const metrics = createWorkerMetrics();
const graph = createGraphClient({ url: env.COS_GATEWAY_URL, apiKey: env.COS_API_KEY, timeoutMs: env.WORKER_GRAPH_TIMEOUT_MS, log });

const model: ModelProvider =
  env.MODEL_PROVIDER === 'openai'
    ? createOpenAICompatibleProvider({
        baseUrl: env.MODEL_BASE_URL,
        apiKey: env.MODEL_API_KEY!,
        model: env.MODEL_NAME,
        timeoutMs: env.MODEL_TIMEOUT_MS,
        maxRetries: env.MODEL_MAX_RETRIES,
        breakerThreshold: env.MODEL_BREAKER_THRESHOLD,
        breakerResetMs: env.MODEL_BREAKER_RESET_MS,
        maxToolRounds: env.MODEL_MAX_TOOL_ROUNDS,
        temperature: env.MODEL_TEMPERATURE,
        priceInputPerMTok: env.MODEL_PRICE_INPUT_PER_MTOK,
        priceOutputPerMTok: env.MODEL_PRICE_OUTPUT_PER_MTOK,
        log,
        onCall: (outcome, seconds) => metrics.modelRequests.observe({ outcome }, seconds),
        onBreaker: (open) => metrics.breakerOpen.set(open ? 1 : 0),
      })
    : createRulesProvider();

const worker = createWorker({
  graph,
  model,
  kinds: env.kinds,
  log,
  concurrency: env.WORKER_CONCURRENCY,
  leaseSeconds: env.WORKER_LEASE_SECONDS,
  pollMs: env.WORKER_POLL_MS,
  name: env.WORKER_NAME,
  metrics,
});

const server = env.WORKER_METRICS_PORT > 0 ? await serveMetrics(metrics, env.WORKER_METRICS_PORT) : null;
worker.start();

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: no new claims, finishing the steps in flight');
  await worker.stop(env.WORKER_DRAIN_MS);
  await graph.close();
  server?.close();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
