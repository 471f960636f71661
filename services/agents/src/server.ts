import { readFileSync } from 'node:fs';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createSubgraphServer, type ReadinessCheck, type BatchObserver } from '@cos/service-kit';
import { createContextFactory, type Context } from './context';
import { resolvers } from './resolvers';

export const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface ServerDeps {
  /** Runtime-role Db (row-level security applies). */
  db: Db;
  log: Logger;
  internalSecret: string;
  maxAttempts: number;
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
    createContext: createContextFactory({ db: deps.db, maxAttempts: deps.maxAttempts, onLoaderBatch: deps.onLoaderBatch }),
    internalSecret: deps.internalSecret,
    log: deps.log,
    readiness: deps.readiness,
  });
}
