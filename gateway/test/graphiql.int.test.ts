import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { createGateway, SSE_PATH, type Gateway } from '../src/server';
import { PAGE_CSP } from '../src/transport/useSecurityHeaders';
import { composeSupergraph, listen, startIssuer, startSubgraph, testGatewayEnv, type Listening, type TestIssuer } from './fixtures';

/** GraphiQL in development: the page and everything it loads come from the gateway itself, none from the internet. */
let accounts: Awaited<ReturnType<typeof startSubgraph>>;
let posts: Awaited<ReturnType<typeof startSubgraph>>;
let issuer: TestIssuer;
let redis: Redis;
const gateways: Gateway[] = [];
let dev: Listening;
let prod: Listening;

beforeAll(async () => {
  [accounts, posts, issuer] = await Promise.all([startSubgraph('accounts'), startSubgraph('posts'), startIssuer()]);
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-graphiql-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph([accounts, posts]));
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const start = async (NODE_ENV: 'development' | 'production') => {
    const gw = await createGateway({
      env: testGatewayEnv({ supergraphPath, jwksUrl: issuer.jwksUrl, NODE_ENV }),
      log: createLogger('gateway-graphiql-test', 'silent'),
      redis,
    });
    gateways.push(gw);
    return listen(gw.yoga);
  };
  [dev, prod] = await Promise.all([start('development'), start('production')]);
});

afterAll(async () => {
  await Promise.all([dev?.close(), prod?.close()]);
  await Promise.all(gateways.map((g) => g.close()));
  redis?.disconnect();
  await Promise.all([accounts?.close(), posts?.close(), issuer?.close()]);
});

const page = (base: string) => fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });

/** Every URL the page loads: src/href attributes, plus the Monaco worker files its start script names. */
async function referencedUrls(html: string, base: string): Promise<string[]> {
  const attrs = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  const start = attrs.find((u) => u.endsWith('/start.js'));
  const startJs = start ? await (await fetch(new URL(start, base))).text() : '';
  const workers = [...startJs.matchAll(/"([a-z.]+\.worker\.js)"/g)].map((m) => `/graphiql/${m[1]}`);
  return [...attrs, ...workers];
}

describe('GraphiQL (development)', () => {
  it('is a page of this gateway that references no other origin and says what it is', async () => {
    const res = await page(dev.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).not.toContain('__TITLE__');
    expect(html).toContain('<title>Company OS graph</title>');
    // No absolute or protocol-relative URL anywhere in the page: nothing is fetched from a CDN.
    expect(html).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    const urls = await referencedUrls(html, dev.url);
    expect(urls.length).toBeGreaterThanOrEqual(6); // icon, stylesheet, two scripts, three workers
    for (const u of urls) expect(u).toMatch(/^\/graphiql\/[a-z.-]+$/);
    // Subscriptions go to the gateway's SSE endpoint (the plain HTTP one refuses them).
    const options = JSON.parse(/<script type="application\/json" id="graphiql-options">(.*?)<\/script>/s.exec(html)![1]!);
    expect(options).toMatchObject({ title: 'Company OS graph', subscriptionsEndpoint: SSE_PATH });
  });

  it('serves every asset the page references, with the right content type', async () => {
    const html = await (await page(dev.url)).text();
    const expected: Record<string, RegExp> = { '.js': /^text\/javascript; charset=utf-8$/, '.css': /^text\/css; charset=utf-8$/, '.ico': /^image\// };
    for (const u of await referencedUrls(html, dev.url)) {
      const res = await fetch(new URL(u, dev.url));
      expect(res.status, u).toBe(200);
      expect(res.headers.get('content-type'), u).toMatch(expected[path.extname(u)]!);
      expect(res.headers.get('x-content-type-options'), u).toBe('nosniff'); // so the content type must be right
      expect((await res.arrayBuffer()).byteLength, u).toBeGreaterThan(1_000 * (u.endsWith('start.js') ? 0 : 1));
    }
    const bundle = await (await fetch(`${dev.url}/graphiql/yoga-graphiql.js`)).text();
    expect(bundle).toContain('renderYogaGraphiQL');
    // The stylesheet's fonts and images are inline data: URLs, not fetched from elsewhere.
    const css = await (await fetch(`${dev.url}/graphiql/graphiql.css`)).text();
    const cssUrls = [...css.matchAll(/url\(\s*["']?([^"')]+)/g)].map((m) => m[1]!);
    expect(cssUrls.length).toBeGreaterThan(0);
    expect(cssUrls.filter((u) => !u.startsWith('data:') && !u.startsWith('#'))).toEqual([]);
  });

  it('the page runs under a CSP that allows only its own origin (no inline script), and is never framed', async () => {
    const res = await page(dev.url);
    expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(PAGE_CSP).toContain("script-src 'self'");
    expect(PAGE_CSP).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // The only inline <script> is a JSON data block (not executed); every other one has a src.
    const html = await res.text();
    const inline = [...html.matchAll(/<script(?![^>]*\ssrc=)([^>]*)>/g)].map((m) => m[1]!.trim());
    expect(inline).toEqual(['type="application/json" id="graphiql-options"']);
    // API answers keep their own policy.
    const api = await fetch(`${dev.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ posts { id } }"}' });
    expect(api.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });

  it('revalidates assets with ETags, answers 404 for unknown ones', async () => {
    const first = await fetch(`${dev.url}/graphiql/graphiql.css`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const again = await fetch(`${dev.url}/graphiql/graphiql.css`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${dev.url}/graphiql/../package.json`)).status).toBe(404);
    expect((await fetch(`${dev.url}/graphiql/nope.js`)).status).toBe(404);
  });
});

describe('GraphiQL outside development', () => {
  it('serves neither the page nor its assets', async () => {
    const res = await page(prod.url);
    expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect((await fetch(`${prod.url}/graphiql/yoga-graphiql.js`)).status).toBe(404);
  });
});
