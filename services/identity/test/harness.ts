import { createPool, Db } from '@cos/db';
import { createLogger } from '@cos/logger';
import type { Principal } from '@cos/auth';
import { createTestDatabase, execSubgraph, migrateService, TEST_INTERNAL_SECRET } from '@cos/testing';
import { ensureActiveSigningKey, KeyRing } from '../src/auth/keyring';
import { createServer } from '../src/server';

export const ANON: Principal = { kind: 'anonymous' };
export const PASSWORD = 'correct-horse-42';
export const TEST_UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret-0123456789abcdef';

/** A migrated test database with identity's server built in-process over the real runtime and system roles. */
export async function startIdentity() {
  const tdb = await createTestDatabase('cos_identity');
  const cfg = await migrateService(tdb, 'identity');
  const pool = (url: string, name: string) =>
    new Db(createPool({ connectionString: url, schema: cfg.schema, applicationName: name, max: 5, statementTimeoutMs: 5_000 }));
  const db = pool(cfg.runtimeUrl, 'identity-test');
  const systemDb = pool(cfg.systemUrl, 'identity-test-system');
  await ensureActiveSigningKey(systemDb);
  const keys = new KeyRing(systemDb, { accessTokenTtlS: 900, cacheMs: 0 });
  const log = createLogger('identity-test', 'silent');
  const server = createServer({
    db,
    systemDb,
    keys,
    log,
    config: {
      internalSecret: TEST_INTERNAL_SECRET,
      refreshTokenTtlS: 30 * 24 * 3600,
      invitationTtlS: 7 * 24 * 3600,
      inviteUrlBase: 'http://app.test/accept',
      unsubscribeSecret: TEST_UNSUBSCRIBE_SECRET,
    },
  });
  const subgraph = { fetch: (input: string, init?: RequestInit) => server.yoga.fetch(input, init ?? {}) };
  const exec = <T = Record<string, any>>(p: Principal, query: string, variables?: Record<string, unknown>) =>
    execSubgraph<T>(subgraph, p, query, variables);

  /** Runs a query as the superuser (bypasses RLS) to check what was written. */
  const admin = async <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => {
    const a = new Db(createPool({ connectionString: tdb.adminUrl, schema: 'identity', applicationName: 'identity-test-admin', max: 1, statementTimeoutMs: 5_000 }));
    try {
      return await a.withClient((tx) => tx.query<R>(sql, params));
    } finally {
      await a.close();
    }
  };

  return {
    tdb,
    db,
    systemDb,
    keys,
    server,
    yoga: server.yoga,
    exec,
    admin,
    async close() {
      await Promise.allSettled([db.close(), systemDb.close()]);
      await tdb.drop();
    },
  };
}
export type Identity = Awaited<ReturnType<typeof startIdentity>>;

const AUTH = 'accessToken refreshToken expiresAt user { id name email } organization { id name slug }';
export const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { ${AUTH} } }`;
export const LOGIN = `mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { ${AUTH} } }`;
export const REFRESH = `mutation($t: String!) { refreshToken(refreshToken: $t) { ${AUTH} } }`;

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  user: { id: string; name: string; email: string };
  organization: { id: string; name: string; slug: string };
}

let n = 0;
export const uniqueEmail = (tag = 'user') => `${tag}-${Date.now().toString(36)}-${n++}@example.test`;

export async function signUp(id: Identity, opts: { email?: string; name?: string; organizationName?: string } = {}): Promise<Session> {
  const r = await id.exec<{ signUp: Session }>(ANON, SIGN_UP, {
    input: {
      email: opts.email ?? uniqueEmail(),
      password: PASSWORD,
      name: opts.name ?? 'Olivia Owner',
      organizationName: opts.organizationName ?? 'Acme',
    },
  });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.signUp;
}
