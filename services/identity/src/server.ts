import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { createSubgraphServer, type ReadinessCheck } from '@cos/service-kit';
import { createContextFactory, type Context } from './context';
import type { ServerDeps } from './deps';
import { identityRoutes } from './http/routes';
import { persistedRoutes } from './persisted/routes';
import { resolvers } from './resolvers';

export const typeDefs = readFileSync(fileURLToPath(new URL('./schema.graphql', import.meta.url)), 'utf8');

/** Builds the identity subgraph (no I/O): tests call it in-process, index.ts serves it. */
export function createServer(deps: ServerDeps, readiness: Record<string, ReadinessCheck> = {}) {
  return createSubgraphServer<Context>({
    name: 'identity',
    typeDefs,
    resolvers: resolvers as GraphQLResolverMap<Context>,
    createContext: createContextFactory(deps),
    internalSecret: deps.config.internalSecret,
    log: deps.log,
    routes: { ...identityRoutes(deps), ...persistedRoutes(deps) },
    readiness: {
      postgres: async () => {
        await deps.db.withClient((tx) => tx.query('SELECT 1'));
      },
      ...readiness,
    },
  });
}

export type { ServerDeps, IdentityConfig } from './deps';
export { KeyRing, rotateSigningKey, ensureActiveSigningKey } from './auth/keyring';
