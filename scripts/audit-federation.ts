/**
 * `pnpm audit:federation [--executor native|apollo] [--suite <id>] [--verbose]`
 *
 * Runs The Guild's federation-gateway-audit (github.com/graphql-hive/federation-gateway-audit: 46 suites, ~199 cases)
 * against this gateway, in one process and without network: for each suite its subgraphs are served on a local port
 * (their own typeDefs and resolvers under @apollo/subgraph + graphql-yoga, as the suite's own server does), the
 * supergraph is composed with @apollo/composition, and the gateway is built in-process with createGateway (the full
 * plugin stack: auth, limits, authorization, persisted documents, the chosen executor; no NATS, no response cache)
 * and answers each case through its HTTP handler. A case passes as in the suite's test.ts: `data` deep-equal to the
 * expected one, and `errors` present exactly when the case says so (when it says anything about errors).
 *
 * The suite's code is never part of this repository. It is read from, in order:
 * - FEDERATION_AUDIT_DIR: a checkout (a folder with src/test-suites), or
 * - FEDERATION_AUDIT_GIT: a git directory of it (default: the mirror /work/.mirror/graphql-hive+federation-gateway-audit/repo),
 * and its src/test-suites are copied to a scratch folder in the OS temp dir, next to small stand-ins for the suite's
 * helpers (createSubgraph, serve, createTest), so none of its npm dependencies are needed. Nothing found: the script
 * says how to get it and exits 2.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, cpSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deepStrictEqual } from 'node:assert';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { Redis } from 'ioredis';
import { createLogger } from '@cos/logger';
import { createGateway } from '../gateway/src/server';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_GIT = '/work/.mirror/graphql-hive+federation-gateway-audit/repo';

interface Args {
  executor: 'native' | 'apollo';
  suites: string[];
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { executor: 'native', suites: [], verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--executor') {
      const v = argv[++i];
      if (v !== 'native' && v !== 'apollo') fail(`--executor must be native or apollo, got ${v}`);
      args.executor = v;
    } else if (a === '--suite') args.suites.push(argv[++i] ?? '');
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else if (a === '--') continue;
    else fail(`unknown argument ${a} (use --executor native|apollo, --suite <id>, --verbose)`);
  }
  return args;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`audit:federation: ${message}\n`);
  process.exit(code);
}

/** Copies the suite's test-suites into a scratch folder and adds the helper stand-ins; returns its src folder. */
function prepareSuite(): { src: string; version: string } {
  const dir = process.env.FEDERATION_AUDIT_DIR;
  const gitDir = process.env.FEDERATION_AUDIT_GIT ?? DEFAULT_GIT;
  const scratch = path.join(tmpdir(), 'cos-federation-audit');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  let version: string;
  if (dir) {
    if (!existsSync(path.join(dir, 'src/test-suites'))) fail(`FEDERATION_AUDIT_DIR=${dir} has no src/test-suites`, 2);
    cpSync(path.join(dir, 'src/test-suites'), path.join(scratch, 'src/test-suites'), { recursive: true });
    version = dir;
  } else if (existsSync(gitDir)) {
    const commit = execFileSync('git', ['--git-dir', gitDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const tar = execFileSync('git', ['--git-dir', gitDir, 'archive', 'HEAD', 'src/test-suites'], { maxBuffer: 64 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', scratch], { input: tar });
    version = `${gitDir} @ ${commit.slice(0, 12)}`;
  } else {
    fail(
      [
        'the federation-gateway-audit suite is not on this machine.',
        'Get it once (network needed only for this step), then run again:',
        '  git clone https://github.com/graphql-hive/federation-gateway-audit /path/to/federation-gateway-audit',
        '  FEDERATION_AUDIT_DIR=/path/to/federation-gateway-audit pnpm audit:federation',
        `(or point FEDERATION_AUDIT_GIT at a bare/mirror git directory of it; looked for ${gitDir})`,
      ].join('\n'),
      2,
    );
  }
  const src = path.join(scratch, 'src');
  // Stand-ins for the suite's helpers: they record what the suite declares; this script serves it.
  writeFileSync(
    path.join(src, 'subgraph.ts'),
    'export function createSubgraph(name: string, p: { typeDefs: string; resolvers: any }) { return { name, typeDefs: p.typeDefs, resolvers: p.resolvers }; }\n',
  );
  writeFileSync(
    path.join(src, 'supergraph.ts'),
    'export function serve(id: string, subgraphs: any[], tests: any) { return { id, subgraphs, tests }; }\n',
  );
  writeFileSync(path.join(src, 'testkit.ts'), 'export function createTest(query: string, expected: any) { return { query, expected }; }\n');
  writeFileSync(path.join(src, 'env.ts'), 'export function shouldPunishForPoorPlans() { return process.env.PUNISH_FOR_POOR_PLANS === "1"; }\n');
  // The suites import `graphql`: resolve it (and nothing else) from this repository.
  mkdirSync(path.join(scratch, 'node_modules'), { recursive: true });
  symlinkSync(path.join(repoRoot, 'node_modules/graphql'), path.join(scratch, 'node_modules/graphql'), 'dir');
  return { src, version };
}

interface SuiteDef {
  id: string;
  subgraphs: Array<{ name: string; typeDefs: string; resolvers: Record<string, unknown> }>;
  tests: Array<{ query: string; expected: { data?: unknown; errors?: boolean } }> | (() => Array<{ query: string; expected: { data?: unknown; errors?: boolean } }>);
}

async function serveSubgraphs(suite: SuiteDef): Promise<{ server: Server; urls: Record<string, string> }> {
  const yogas = new Map<string, ReturnType<typeof createYoga>>();
  for (const sg of suite.subgraphs) {
    const schema = buildSubgraphSchema({ typeDefs: parse(sg.typeDefs), resolvers: sg.resolvers as never });
    yogas.set(sg.name, createYoga({ schema, graphqlEndpoint: `/${sg.name}`, logging: false, maskedErrors: false, landingPage: false }));
  }
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0]!.slice(1);
    const yoga = yogas.get(name);
    if (!yoga) {
      res.writeHead(404).end();
      return;
    }
    void yoga(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const urls: Record<string, string> = {};
  for (const sg of suite.subgraphs) urls[sg.name] = `http://127.0.0.1:${port}/${sg.name}`;
  return { server, urls };
}

interface CaseResult {
  id: string;
  passed: boolean;
  detail?: string;
}

async function runSuite(suite: SuiteDef, args: Args, redis: Redis, scratch: string): Promise<CaseResult[]> {
  const { server, urls } = await serveSubgraphs(suite);
  const log = createLogger('audit', args.verbose ? 'warn' : 'fatal');
  const tests = typeof suite.tests === 'function' ? suite.tests() : suite.tests;
  const results: CaseResult[] = [];
  let gateway: Awaited<ReturnType<typeof createGateway>> | undefined;
  try {
    const composed = composeServices(suite.subgraphs.map((s) => ({ name: s.name, typeDefs: parse(s.typeDefs), url: urls[s.name] })));
    if (!composed.supergraphSdl) throw new Error(`composition failed: ${composed.errors?.map((e) => e.message).join('; ')}`);
    const supergraphPath = path.join(scratch, `${suite.id}.supergraph.graphql`);
    writeFileSync(supergraphPath, composed.supergraphSdl);
    gateway = await createGateway({
      env: {
        NODE_ENV: 'test',
        SUPERGRAPH: supergraphPath,
        SUPERGRAPH_POLL_MS: 0,
        INTERNAL_SECRET: 'federation-audit-secret-not-checked-by-the-suite',
        // No JWT is ever presented: every case runs as an anonymous caller.
        JWKS_URL: 'http://127.0.0.1:9/jwks.json',
        JWT_ISSUER: 'cos-identity',
        JWT_AUDIENCE: 'cos-graph',
        SUBGRAPH_TIMEOUT_MS: 10_000,
        SUBGRAPH_CONNECTIONS: 8,
        REDIS_PREFIX: `audit:${process.pid}:${suite.id}:`,
        MAX_BODY_BYTES: 1_000_000,
        GATEWAY_EXECUTOR: args.executor,
        subgraphUrls: {},
      },
      log,
      redis,
      // The audit sends ~200 anonymous requests in seconds from one "client".
      rateLimit: { enabled: false },
    });
    for (const [i, t] of tests.entries()) {
      const id = `${suite.id}#${i}`;
      try {
        const res = await gateway.yoga.fetch('http://gateway.local/graphql', {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/json' },
          body: JSON.stringify({ query: t.query }),
        });
        const body = (await res.json()) as { data?: unknown; errors?: unknown[] };
        const errorsOptional = typeof t.expected.errors !== 'boolean';
        const received = { data: body.data ?? null, errors: errorsOptional ? null : !!body.errors?.length };
        const expected = { data: t.expected.data ?? null, errors: errorsOptional ? null : (t.expected.errors ?? false) };
        try {
          deepStrictEqual(received, expected);
          results.push({ id, passed: true });
        } catch {
          results.push({
            id,
            passed: false,
            detail: `expected ${JSON.stringify(expected)}\n      received ${JSON.stringify(received)}${body.errors ? `\n      errors ${JSON.stringify(body.errors)}` : ''}`,
          });
        }
      } catch (err) {
        results.push({ id, passed: false, detail: `request failed: ${(err as Error).message}` });
      }
    }
  } catch (err) {
    for (const [i] of tests.entries()) results.push({ id: `${suite.id}#${i}`, passed: false, detail: `suite setup failed: ${(err as Error).message}` });
  } finally {
    await gateway?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return results;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { src, version } = prepareSuite();
  const ids = readdirSync(path.join(src, 'test-suites'))
    .filter((d) => existsSync(path.join(src, 'test-suites', d, 'index.ts')))
    .filter((d) => args.suites.length === 0 || args.suites.includes(d))
    .sort();
  if (ids.length === 0) fail('no test suites selected');
  // Rate limiting is off above; Redis only backs API-key/APQ lookups the audit never makes. Absent Redis is fine.
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  await redis.connect().catch(() => {});

  process.stdout.write(`federation-gateway-audit (${version}) against the ${args.executor} executor: ${ids.length} suites\n\n`);
  const all: CaseResult[] = [];
  const started = performance.now();
  for (const id of ids) {
    const mod = (await import(pathToFileURL(path.join(src, 'test-suites', id, 'index.ts')).href)) as { default: SuiteDef };
    const results = await runSuite(mod.default, args, redis, path.dirname(src));
    all.push(...results);
    process.stdout.write(`${id.padEnd(40)} ${results.map((r) => (r.passed ? '.' : 'X')).join('')}\n`);
    for (const r of results) if (!r.passed) process.stdout.write(`  FAIL ${r.id}${args.verbose && r.detail ? `\n      ${r.detail}` : ''}\n`);
  }
  redis.disconnect();
  const passed = all.filter((r) => r.passed).length;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`\nTotal: ${all.length}  Passed: ${passed}  Failed: ${all.length - passed}  (${args.executor} executor, ${seconds} s)\n`);
  const failed = all.filter((r) => !r.passed).map((r) => r.id);
  if (failed.length) process.stdout.write(`Failed cases: ${failed.join(', ')}\n`);
  process.exit(failed.length ? 1 : 0);
}

void main();
