import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { composeSupergraph, SECRET, startIssuer, startSubgraph, type TestIssuer } from './fixtures';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let posts: Awaited<ReturnType<typeof startSubgraph>>;
let issuer: TestIssuer;
let child: ChildProcess | undefined;
let baseUrl: string;
let output = '';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  [accounts, posts, issuer] = await Promise.all([startSubgraph('accounts'), startSubgraph('posts'), startIssuer()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-proc-'));
  const supergraph = path.join(dir, 'supergraph.graphql');
  // The composed URLs point nowhere; SUBGRAPH_<NAME>_URL must override them.
  await writeFile(
    supergraph,
    composeSupergraph([
      { ...accounts, url: 'http://127.0.0.1:9' },
      { ...posts, url: 'http://127.0.0.1:9' },
    ]),
  );
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  child = spawn(path.join(repoRoot, 'node_modules/.bin/tsx'), ['gateway/src/index.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      SUPERGRAPH: supergraph,
      SUBGRAPH_ACCOUNTS_URL: `${accounts.url}/graphql`,
      SUBGRAPH_POSTS_URL: `${posts.url}/graphql`,
      INTERNAL_SECRET: SECRET,
      JWKS_URL: issuer.jwksUrl,
      IDENTITY_INTERNAL_URL: accounts.url,
      SUBGRAPH_TIMEOUT_MS: '8000',
      REDIS_PREFIX: `test:${randomBytes(4).toString('hex')}:`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${baseUrl}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`gateway did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await Promise.all([accounts?.close(), posts?.close(), issuer?.close()]);
});

it('runs as a process: env overrides subgraph URLs, authenticates, and drains in-flight requests on SIGTERM', async () => {
  const userId = randomUUID();
  const orgId = randomUUID();
  const token = await issuer.sign({ sub: userId, org: orgId, role: 'OWNER' });
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { kind id } posts { author { name } } }' }),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    data: { viewer: { kind: 'user', id: userId }, posts: [{ author: { name: 'Ada' } }, { author: { name: 'Grace' } }, { author: { name: 'Ada' } }] },
  });

  // No GraphiQL outside development.
  const page = await fetch(`${baseUrl}/graphql`, { headers: { accept: 'text/html' } });
  expect(await page.text()).not.toMatch(/graphiql/i);

  // A slow request (3 s in the subgraph) is in flight when SIGTERM arrives: it still completes, then the process exits 0.
  const inflight = fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ slow }' }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  child!.kill('SIGTERM');
  const done = await inflight;
  expect(done).toEqual({ status: 200, body: { data: { slow: 'too late' } } });
  expect(await exited).toBe(0);
  // Once stopped, nothing accepts connections.
  await expect(fetch(`${baseUrl}/healthz`)).rejects.toThrow();
}, 30_000);
