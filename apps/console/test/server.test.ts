import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsoleServer } from '../server';

let s: Awaited<ReturnType<typeof startConsoleServer>>;
const root = mkdtempSync(path.join(tmpdir(), 'console-server-'));
const dist = path.join(root, 'dist');

beforeAll(async () => {
  mkdirSync(path.join(dist, 'assets'), { recursive: true });
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(path.join(dist, 'assets/app-abc123.js'), 'console.log(1)');
  writeFileSync(path.join(root, 'secret.txt'), 'outside dist');
  s = await startConsoleServer({ port: 0, gatewayUrl: 'http://gw.example:4000/graphql', distDir: dist });
});
afterAll(async () => s?.close());

const get = (p: string, method = 'GET') => fetch(new URL(p, s.url), { method });

describe('console static server', () => {
  it('serves the app, its hashed assets (immutable) and the gateway location', async () => {
    const index = await get('/');
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain('connect-src');
    expect(index.headers.get('content-security-policy')).toContain('ws://gw.example:4000');
    const asset = await get('/assets/app-abc123.js');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toBe('console.log(1)');
    expect(await (await get('/config.json')).json()).toEqual({ gatewayUrl: 'http://gw.example:4000/graphql' });
  });

  it('never serves a file outside dist/, and survives malformed paths', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%2fsecret.txt']) {
      const r = await get(p);
      expect(await r.text(), p).not.toContain('outside dist');
    }
    expect((await get('/%E0%A4%A')).status).toBe(400);
    expect((await get('/', 'POST')).status).toBe(405);
    expect((await get('/healthz')).status).toBe(200);
  });
});
