/**
 * Running the reference agent worker next to a stack (`pnpm start`, e2e tests): a service account for it, created
 * through the graph by an ADMIN/OWNER, and the process spec. The worker reads only the graph.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gql, gqlOk } from './graphql-client';
import { repoRoot } from './paths';
import type { ExtraProcessSpec } from './stack';

/** The read scopes the worker's tools need (get_task, get_customer, search_tasks) besides agents:work. */
export const WORKER_TOOL_SCOPES = ['tasks:read', 'customers:read', 'agents:read'];

/** Creates a service account for a worker (ADMIN/OWNER token); returns its secret (shown once). */
export async function createWorkerKey(gatewayUrl: string, adminToken: string, name = 'agent-worker'): Promise<string> {
  const r = await gqlOk<{ createServiceAccount: { secret: string } }>(
    gatewayUrl,
    `mutation($name: String!, $scopes: [String!]) { createServiceAccount(name: $name, scopes: $scopes) { secret } }`,
    { name, scopes: WORKER_TOOL_SCOPES },
    { token: adminToken },
  );
  return r.createServiceAccount.secret;
}

/** The worker as a stack process. `env` overrides (model provider, timings, kinds). */
export function workerProcess(opts: {
  name?: string;
  gatewayUrl: string;
  apiKey?: string;
  apiKeyFile?: string;
  kinds?: string[];
  metricsPort?: number;
  env?: Record<string, string>;
}): ExtraProcessSpec {
  return {
    name: opts.name ?? 'agent-worker',
    entry: path.join(repoRoot, 'agent-worker/src/index.ts'),
    args: opts.kinds ? ['--kinds', opts.kinds.join(',')] : [],
    env: {
      COS_GATEWAY_URL: opts.gatewayUrl,
      ...(opts.apiKey ? { COS_API_KEY: opts.apiKey } : {}),
      ...(opts.apiKeyFile ? { COS_API_KEY_FILE: opts.apiKeyFile } : {}),
      WORKER_METRICS_PORT: String(opts.metricsPort ?? 0),
      ...opts.env,
    },
    health: opts.metricsPort ? { port: opts.metricsPort, path: '/healthz' } : undefined,
  };
}

/**
 * The demo worker's key, kept in `keyFile` across restarts (mode 600); a key the graph no longer accepts (a wiped
 * database, a revoked key) is replaced by a new service account created with the admin's credentials.
 */
export async function ensureWorkerKeyFile(gatewayUrl: string, keyFile: string, admin: { email: string; password: string }): Promise<'reused' | 'created'> {
  if (existsSync(keyFile)) {
    const key = readFileSync(keyFile, 'utf8').trim();
    const probe = await gql(gatewayUrl, `{ agents { id } }`, {}, { apiKey: key });
    if (probe.status === 200 && !probe.errors) return 'reused';
  }
  const login = await gqlOk<{ login: { accessToken: string } }>(
    gatewayUrl,
    `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`,
    { e: admin.email, p: admin.password },
  );
  writeFileSync(keyFile, `${await createWorkerKey(gatewayUrl, login.login.accessToken)}\n`, { mode: 0o600 });
  return 'created';
}
