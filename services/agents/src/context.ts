import type { Db } from '@cos/db';
import type { BaseContext, BatchObserver } from '@cos/service-kit';
import type { RetryPolicy } from './commands/worker-protocol';
import type { AgentMetrics } from '@cos/observability';
import { createLoaders, type Loaders } from './store/loaders';

/** Per-request context: the verified principal, the runtime-role Db and this request's DataLoaders. */
export interface Context extends BaseContext {
  db: Db;
  loaders: Loaders;
  /** Attempts a new run gets before it is dead-lettered. */
  maxAttempts: number;
  /** Backoff of runs re-queued by a worker's retryable failure. */
  retry: RetryPolicy;
  agentMetrics: AgentMetrics | null;
}

export interface ContextDeps {
  db: Db;
  maxAttempts: number;
  retry: RetryPolicy;
  agentMetrics?: AgentMetrics;
  onLoaderBatch?: BatchObserver;
}

export function createContextFactory(deps: ContextDeps) {
  return (base: BaseContext): Context => {
    const p = base.principal;
    const scope = () => ({
      orgId: p.kind === 'anonymous' ? null : p.orgId,
      userId: p.kind === 'user' ? p.userId : null,
    });
    return Object.assign(base, {
      db: deps.db,
      maxAttempts: deps.maxAttempts,
      retry: deps.retry,
      agentMetrics: deps.agentMetrics ?? null,
      loaders: createLoaders(deps.db, scope, deps.onLoaderBatch),
    });
  };
}
