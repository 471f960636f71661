/**
 * Builds the customers subgraph (no I/O on import or here: tests build it in-process with their own Db).
 */
import { readFileSync } from 'node:fs';
import type { Plugin } from 'graphql-yoga';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createSubgraphServer, type ReadinessCheck, type BatchObserver } from '@cos/service-kit';
import { createContextFactory, type Context } from './context';
import { resolvers } from './resolvers';

export const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface CustomersServerDeps {
  /** Runtime-role Db (row-level security applies). */
  db: Db;
  log: Logger;
  internalSecret: string;
  readiness?: Record<string, ReadinessCheck>;
  plugins?: Plugin[];
  routes?: Record<string, (req: Request) => Response | Promise<Response>>;
  /** Observes DataLoader batch sizes (metrics). */
  onLoaderBatch?: BatchObserver;
}

export function createServer(deps: CustomersServerDeps) {
  return createSubgraphServer<Context>({
    name: 'customers',
    typeDefs,
    resolvers,
    createContext: createContextFactory(deps.db, deps.onLoaderBatch),
    internalSecret: deps.internalSecret,
    log: deps.log,
    readiness: deps.readiness,
    plugins: deps.plugins,
    routes: deps.routes,
  });
}
