import { readFileSync } from 'node:fs';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createSubgraphServer, type ReadinessCheck, type BatchObserver } from '@cos/service-kit';
import { createContextFactory, type Context } from './context';
import type { RetryPolicy } from './commands/worker-protocol';
import type { AgentMetrics } from '@cos/observability';
import { resolvers } from './resolvers';

export const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface ServerDeps {
  /** Runtime-role Db (row-level security applies). */
  db: Db;
  log: Logger;
  internalSecret: string;
  maxAttempts: number;
  /** Backoff of re-queued runs (default 2 s doubling, at most 60 s). */
  retry?: RetryPolicy;
  agentMetrics?: AgentMetrics;
  readiness?: Record<string, ReadinessCheck>;
  /** DataLoader batch sizes (cos_dataloader_batch_size{loader}); from startSubgraphProcess. */
  onLoaderBatch?: BatchObserver;
}

/** Builds the agents subgraph (no I/O here, so tests build it in-process). */
export function createServer(deps: ServerDeps) {
  return createSubgraphServer<Context>({
    name: 'agents',
    typeDefs,
    resolvers: resolvers as never,
    createContext: createContextFactory({
      db: deps.db,
      maxAttempts: deps.maxAttempts,
      retry: deps.retry ?? { baseMs: 2_000, maxMs: 60_000 },
      agentMetrics: deps.agentMetrics,
      onLoaderBatch: deps.onLoaderBatch,
    }),
    internalSecret: deps.internalSecret,
    log: deps.log,
    readiness: deps.readiness,
  });
}
