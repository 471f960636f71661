import type { Db } from '@cos/db';
import type { BaseContext, BatchObserver } from '@cos/service-kit';
import { createLoaders, type Loaders } from './store/loaders';

/** Per-request context: the verified principal, the runtime-role Db and this request's DataLoaders. */
export interface Context extends BaseContext {
  db: Db;
  loaders: Loaders;
  /** Attempts a new run gets before it is dead-lettered. */
  maxAttempts: number;
}

export function createContextFactory(deps: { db: Db; maxAttempts: number; onLoaderBatch?: BatchObserver }) {
  return (base: BaseContext): Context => {
    const p = base.principal;
    const scope = () => ({
      orgId: p.kind === 'anonymous' ? null : p.orgId,
      userId: p.kind === 'user' ? p.userId : null,
    });
    return Object.assign(base, { db: deps.db, maxAttempts: deps.maxAttempts, loaders: createLoaders(deps.db, scope, deps.onLoaderBatch) });
  };
}
