import { randomUUID } from 'node:crypto';
import type { Principal } from '@cos/auth';
import { createPool, Db, type Tx } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import { createLogger } from '@cos/logger';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET, type TestDatabase } from '@cos/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FsBlobStore } from '@cos/files';
import { createServer } from '../src/server';
import { filesConfig } from '../src/files';

export interface Harness {
  testDb: TestDatabase;
  db: Db;
  systemDb: Db;
  server: ReturnType<typeof createServer>;
  /** The attachments' blob store (a temporary directory of this test file). */
  blobs: FsBlobStore;
  exec: <T = Record<string, any>>(p: Principal, query: string, vars?: Record<string, unknown>) => ReturnType<typeof execSubgraph<T>>;
  /** Runs a reactor the way @cos/bus does: system role, tenant set to the event's org, one transaction. */
  react: (handler: (tx: Tx, e: StoredEvent) => Promise<void>, e: StoredEvent) => Promise<void>;
  /** Rows in the tasks event store, all orgs (system role). */
  eventCount: () => Promise<number>;
  close: () => Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const testDb = await createTestDatabase('cos_tasks');
  const cfg = await migrateService(testDb, 'tasks');
  const log = createLogger('tasks-test', 'silent');
  const mk = (url: string, name: string) =>
    new Db(createPool({ connectionString: url, schema: cfg.schema, applicationName: name, max: 5, statementTimeoutMs: 5_000 }));
  const db = mk(cfg.runtimeUrl, 'tasks-test');
  const systemDb = mk(cfg.systemUrl, 'tasks-test-system');
  const filesDir = await mkdtemp(path.join(tmpdir(), 'cos-tasks-files-'));
  const files = filesConfig({ secret: TEST_INTERNAL_SECRET, dir: filesDir });
  const server = createServer({ db, internalSecret: TEST_INTERNAL_SECRET, log, files });
  return {
    testDb,
    db,
    systemDb,
    server,
    blobs: files.store as FsBlobStore,
    exec: (p, query, vars) => execSubgraph({ fetch: (url, init) => server.yoga.fetch(url, init ?? {}) }, p, query, vars),
    react: (handler, e) => systemDb.tx({ orgId: e.orgId }, (tx) => handler(tx, e)),
    eventCount: async () =>
      (await systemDb.withClient((tx) => tx.one<{ n: number }>('SELECT count(*)::int AS n FROM events')))!.n,
    close: async () => {
      await Promise.allSettled([db.close(), systemDb.close()]);
      await testDb.drop();
      await rm(filesDir, { recursive: true, force: true });
    },
  };
}

let position = 0;
/** An event as another service would publish it. */
export function foreignEvent(orgId: string, streamType: string, type: string, data: unknown, id = randomUUID()): StoredEvent {
  position += 1;
  return {
    id,
    globalPosition: position,
    orgId,
    streamId: `${streamType}-${randomUUID()}`,
    streamType,
    version: 1,
    type,
    schemaVersion: 1,
    data,
    metadata: { actor: 'user:x', correlationId: `corr-${id}`, causationId: null, traceparent: null },
    occurredAt: new Date().toISOString(),
  };
}
