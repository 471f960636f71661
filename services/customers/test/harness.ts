/** In-process customers subgraph over a fresh database (one per test file). */
import { randomUUID } from 'node:crypto';
import type { Principal, Role } from '@cos/auth';
import { createPool, Db } from '@cos/db';
import { createLogger } from '@cos/logger';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET, userPrincipal, type TestDatabase } from '@cos/testing';
import { createServer } from '../src/server';

export const log = createLogger('customers-test', process.env.TEST_LOG_LEVEL ?? 'silent');

export interface Harness {
  testDb: TestDatabase;
  db: Db;
  systemDb: Db;
  server: ReturnType<typeof createServer>;
  gql<T = Record<string, unknown>>(p: Principal, query: string, variables?: Record<string, unknown>): ReturnType<typeof execSubgraph<T>>;
  /** gql that fails the test on any error. */
  ok<T = Record<string, unknown>>(p: Principal, query: string, variables?: Record<string, unknown>): Promise<T>;
  /** A fresh organization with one user of `role`. */
  user(role?: Role, orgId?: string): Principal & { orgId: string };
  close(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const testDb = await createTestDatabase();
  const cfg = await migrateService(testDb, 'customers');
  const db = new Db(createPool({ connectionString: cfg.runtimeUrl, schema: cfg.schema, applicationName: 'customers-test', max: 5, statementTimeoutMs: 10_000 }));
  const systemDb = new Db(createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, applicationName: 'customers-test-system', max: 2, statementTimeoutMs: 10_000 }));
  const server = createServer({ db, log, internalSecret: TEST_INTERNAL_SECRET });
  // yoga's overloaded fetch does not match @cos/testing's narrow signature; adapt it.
  const subgraph = { fetch: (input: string, init?: RequestInit) => server.yoga.fetch(input, init ?? {}) };
  const gql = <T,>(p: Principal, query: string, variables?: Record<string, unknown>) => execSubgraph<T>(subgraph, p, query, variables);
  return {
    testDb,
    db,
    systemDb,
    server,
    gql,
    async ok<T>(p: Principal, query: string, variables?: Record<string, unknown>) {
      const r = await gql<T>(p, query, variables);
      if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
      return r.data as T;
    },
    user(role: Role = 'OWNER', orgId = randomUUID()) {
      return userPrincipal(randomUUID(), orgId, role) as Principal & { orgId: string };
    },
    async close() {
      await Promise.allSettled([db.close(), systemDb.close()]);
      await testDb.drop();
    },
  };
}

export const CREATE = `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id name domain plan churnRisk healthScore { score } owner { id } contacts { id name email } } }`;
export const RECORD = `mutation($id: ID!, $input: SignalInput!) { recordSignal(customerId: $id, input: $input) { score grade computedAt factors { name weight value } } }`;
