import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropDatabase, ensureDatabase, migrate, serviceDatabase, type ServiceDatabaseConfig } from '@cos/db';
import { signPrincipal, scopesForRole, type Principal, type Role } from '@cos/auth';

/** Admin connection to the cluster's maintenance database; override with COS_PG_ADMIN_URL. */
export const adminBaseUrl = () => process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const SERVICES = ['identity', 'tasks', 'customers', 'agents'] as const;

/**
 * The tag `pnpm test` gives its run (COS_TEST_RUN, lowercase letters and digits), '' outside it. Every test subject
 * prefix carries it, so the run deletes the JetStream streams of its own prefixes only — not those of another run
 * going on against the same NATS server.
 */
export const testRunTag = (): string => {
  const tag = process.env.COS_TEST_RUN ?? '';
  return /^[a-z0-9]{1,12}$/.test(tag) ? tag : '';
};

/** A fresh NATS subject prefix for one test file or stack: `<letter><run tag><random>`, valid for COS_SUBJECT_PREFIX. */
export const testSubjectPrefix = (letter: 't' | 'e' = 't'): string => `${letter}${testRunTag()}${randomBytes(4).toString('hex')}`;
export type ServiceName = (typeof SERVICES)[number];

export interface TestDatabase {
  name: string;
  /** Admin (superuser) URL of the new database. */
  adminUrl: string;
  /** Connection settings of a service inside this database (after migrateService). */
  service(name: ServiceName): ServiceDatabaseConfig;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file, so files run in parallel without sharing rows. Drop it in afterAll.
 */
export async function createTestDatabase(prefix = 'cos_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const u = new URL(adminBaseUrl());
  u.pathname = `/${name}`;
  const adminUrl = u.toString();
  await ensureDatabase(adminUrl);
  return {
    name,
    adminUrl,
    service: (svc) => serviceDatabase(svc, adminUrl),
    drop: () => dropDatabase(adminUrl),
  };
}

/** Applies one service's migrations to a test database, contract phase included (nothing else runs on it yet). */
export async function migrateService(db: TestDatabase, svc: ServiceName): Promise<ServiceDatabaseConfig> {
  const cfg = db.service(svc);
  await migrate({
    adminUrl: db.adminUrl,
    schema: cfg.schema,
    runtimeRole: cfg.runtimeRole,
    systemRole: cfg.systemRole,
    dir: path.join(repoRoot, 'services', svc, 'migrations'),
    phase: 'contract',
  });
  return cfg;
}

/** A test secret for the gateway -> subgraph signature. */
export const TEST_INTERNAL_SECRET = 'test-internal-secret-0123456789abcdef';

/** A user principal with the role's scopes from the permission matrix. */
export function userPrincipal(userId: string, orgId: string, role: Role = 'OWNER'): Principal {
  return { kind: 'user', userId, orgId, role, scopes: scopesForRole(role) };
}

/** Headers a subgraph accepts, as if the gateway had signed them. */
export function signedHeaders(principal: Principal, secret = TEST_INTERNAL_SECRET): Record<string, string> {
  return { 'content-type': 'application/json', ...signPrincipal(principal, secret) };
}

/**
 * Executes an operation against an in-process subgraph (its yoga `fetch`), signed for `principal`.
 * Returns the parsed GraphQL response.
 */
export async function execSubgraph<T = Record<string, unknown>>(
  yoga: { fetch: (input: string, init: RequestInit) => unknown },
  principal: Principal,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ data?: T; errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }> }> {
  const res = await (yoga.fetch as (input: string, init: RequestInit) => Promise<Response>)('http://subgraph/graphql', {
    method: 'POST',
    headers: signedHeaders(principal),
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as never;
}
