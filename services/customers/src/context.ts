import { isAuthenticated } from '@cos/auth';
import type { Db } from '@cos/db';
import type { BaseContext, BatchObserver } from '@cos/service-kit';
import { createLoaders, type Loaders } from './store/loaders';
import type { ConnectionsConfig } from './commands/connection-commands';

/** Per-request context of the customers subgraph. */
export interface Context extends BaseContext {
  db: Db;
  /** Null for an anonymous caller (every resolver requires auth first). */
  loaders: Loaders | null;
  /** Key ring and rules of the connection commands. */
  connections: ConnectionsConfig;
}

export function createContextFactory(db: Db, connections: ConnectionsConfig, onBatch?: BatchObserver) {
  return (base: BaseContext): Context => {
    const p = base.principal;
    const loaders = isAuthenticated(p) ? createLoaders(db, { orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null }, onBatch) : null;
    return Object.assign(base, { db, loaders, connections });
  };
}
