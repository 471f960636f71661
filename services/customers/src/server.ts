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
import type { ConnectionsConfig } from './commands/connection-commands';
import { developmentKeyRing } from './connections/secrets';
import { createWebhookRoute, WEBHOOK_PREFIX } from './connections/webhook-route';

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
  /** System-role Db: the webhook route finds a connection's organization with it. Absent: no webhook route. */
  systemDb?: Db;
  /** Connection key ring and rules (default: the development key ring derived from internalSecret). */
  connections?: ConnectionsConfig;
  /** Webhook limits (defaults: 256 KiB, 300 s, 1 day). */
  webhooks?: { maxBodyBytes?: number; toleranceS?: number; bodyToleranceS?: number; onDelivery?: (provider: string, outcome: string) => void };
}

export function createServer(deps: CustomersServerDeps) {
  const connections = deps.connections ?? { keyRing: developmentKeyRing(deps.internalSecret), allowCustomBaseUrl: false };
  const routes = { ...deps.routes };
  if (deps.systemDb) {
    routes[`${WEBHOOK_PREFIX}*`] = createWebhookRoute({
      db: deps.db,
      systemDb: deps.systemDb,
      log: deps.log,
      connections,
      maxBodyBytes: deps.webhooks?.maxBodyBytes ?? 256 * 1024,
      toleranceS: deps.webhooks?.toleranceS ?? 300,
      bodyToleranceS: deps.webhooks?.bodyToleranceS ?? 86_400,
      onDelivery: deps.webhooks?.onDelivery,
    });
  }
  return createSubgraphServer<Context>({
    name: 'customers',
    typeDefs,
    resolvers,
    createContext: createContextFactory(deps.db, connections, deps.onLoaderBatch),
    internalSecret: deps.internalSecret,
    log: deps.log,
    readiness: deps.readiness,
    plugins: deps.plugins,
    routes,
  });
}
