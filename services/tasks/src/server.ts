import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isAuthenticated } from '@cos/auth';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createSubgraphServer, type ReadinessCheck, type BatchObserver } from '@cos/service-kit';
import type { Context } from './context';
import { resolvers } from './resolvers';
import { createLoaders } from './store/loaders';
import { filesConfig, type FilesConfig } from './files';

export interface TasksServerDeps {
  /** Runtime-role Db (row-level security applies). */
  db: Db;
  internalSecret: string;
  log: Logger;
  readiness?: Record<string, ReadinessCheck>;
  /** DataLoader batch sizes (cos_dataloader_batch_size{loader}); from startSubgraphProcess. */
  onLoaderBatch?: BatchObserver;
  /** Attachments (default: blobs under the default FILES_DIR, URLs valid 5 minutes, relative). */
  files?: FilesConfig;
}

export const schemaPath = fileURLToPath(new URL('./schema.graphql', import.meta.url));

/** Builds the tasks subgraph (no I/O but reading its SDL), so tests run it in-process. */
export function createServer(deps: TasksServerDeps) {
  const files = deps.files ?? filesConfig({ secret: deps.internalSecret });
  return createSubgraphServer<Context>({
    name: 'tasks',
    typeDefs: readFileSync(schemaPath, 'utf8'),
    resolvers: resolvers as never,
    internalSecret: deps.internalSecret,
    log: deps.log,
    readiness: deps.readiness,
    createContext: (base) => {
      const p = base.principal;
      const loaders = isAuthenticated(p)
        ? createLoaders(deps.db, { orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null }, deps.onLoaderBatch)
        : null;
      return Object.assign(base, { db: deps.db, loaders, files });
    },
  });
}
