import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { blobStoreFromEnv, FsBlobStore, S3BlobStore } from '../src/index';

/** A tiny S3-compatible server: PUT/GET/HEAD/DELETE object on path-style URLs, no signature check, in memory. */
const objects = new Map<string, Buffer>();
let mode: 'ok' | 'fail' | 'hang' = 'ok';
const requests: string[] = [];
let server: Server;
let endpoint = '';

const readBody = async (req: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};
const xmlError = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;

beforeAll(async () => {
  server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const key = decodeURIComponent(url.pathname);
      requests.push(`${req.method} ${key}`);
      if (mode === 'hang') return; // never answers
      if (mode === 'fail') {
        await readBody(req);
        res.writeHead(500, { 'content-type': 'application/xml' }).end(xmlError('InternalError'));
        return;
      }
      const obj = objects.get(key);
      switch (req.method) {
        case 'PUT': {
          const body = await readBody(req);
          objects.set(key, body);
          res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` }).end();
          return;
        }
        case 'GET':
          if (!obj) {
            res.writeHead(404, { 'content-type': 'application/xml' }).end(xmlError('NoSuchKey'));
            return;
          }
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': obj.length }).end(obj);
          return;
        case 'HEAD':
          if (!obj) res.writeHead(404).end();
          else res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': obj.length }).end();
          return;
        case 'DELETE':
          objects.delete(key);
          res.writeHead(204).end();
          return;
        default:
          res.writeHead(405).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

let dir = '';
beforeEach(async () => {
  mode = 'ok';
  requests.length = 0;
  objects.clear();
  dir ||= await mkdtemp(path.join(tmpdir(), 'cos-s3-'));
});

const makeStore = (extra: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}) =>
  new S3BlobStore({ bucket: 'blobs', endpoint, forcePathStyle: true, accessKeyId: 'k', secretAccessKey: 's', maxAttempts: 1, ...extra });

let n = 0;
const stage = async (content: string | Buffer) => {
  const bytes = Buffer.from(content);
  const file = path.join(dir, `staged-${n++}.part`);
  await writeFile(file, bytes);
  return { file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
};
const exists = (p: string) => access(p).then(() => true, () => false);
const readAll = async (stream: AsyncIterable<Uint8Array>) => {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
};

describe('S3BlobStore', () => {
  it('put / has / open / delete round trip, keyed by the sha256 on a path-style URL', async () => {
    const store = makeStore();
    const payload = Buffer.alloc(300_000, 7); // more than one chunk: streamed both ways
    const s = await stage(payload);
    expect(await store.has(s.sha256)).toBe(false);
    await store.put(s.sha256, s.file);
    expect(await exists(s.file)).toBe(false); // the staged file is consumed
    expect([...objects.keys()]).toEqual([`/blobs/${s.sha256}`]);
    expect(objects.get(`/blobs/${s.sha256}`)!.equals(payload)).toBe(true);
    expect(await store.has(s.sha256)).toBe(true);
    const blob = await store.open(s.sha256);
    expect(blob?.size).toBe(payload.length);
    expect((await readAll(blob!.stream)).equals(payload)).toBe(true);
    await store.delete(s.sha256);
    expect(await store.has(s.sha256)).toBe(false);
    expect(objects.size).toBe(0);
  });

  it('is content-addressed: a second put of the same bytes uploads nothing and still removes the staged file', async () => {
    const store = makeStore({ prefix: 'att/' });
    const a = await stage('same bytes');
    const b = await stage('same bytes');
    expect(b.sha256).toBe(a.sha256);
    await store.put(a.sha256, a.file);
    requests.length = 0;
    await store.put(b.sha256, b.file);
    expect(requests.filter((r) => r.startsWith('PUT'))).toEqual([]);
    expect(await exists(b.file)).toBe(false);
    expect([...objects.keys()]).toEqual([`/blobs/att/${a.sha256}`]);
  });

  it('a missing key: open is null, has is false, delete is not an error', async () => {
    const store = makeStore();
    const sha = 'b'.repeat(64);
    expect(await store.open(sha)).toBeNull();
    expect(await store.has(sha)).toBe(false);
    await expect(store.delete(sha)).resolves.toBeUndefined();
  });

  it('refuses keys that are not a sha256', async () => {
    const store = makeStore();
    await expect(store.has('../etc/passwd')).rejects.toThrow(/sha256/);
  });

  it('a 5xx from the server surfaces as an error (after the retries)', async () => {
    const store = makeStore({ maxAttempts: 2 });
    const s = await stage('will fail');
    mode = 'fail';
    await expect(store.has(s.sha256)).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    expect(requests.length).toBe(2);
    await expect(store.open(s.sha256)).rejects.toThrow();
    await expect(store.delete(s.sha256)).rejects.toThrow();
    await expect(store.put(s.sha256, s.file)).rejects.toThrow();
    expect(await exists(s.file)).toBe(false); // the staged file is not left behind
  });

  it('times out on a server that never answers', async () => {
    const store = makeStore({ requestTimeoutMs: 200 });
    mode = 'hang';
    const started = Date.now();
    await expect(store.has('c'.repeat(64))).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('blobStoreFromEnv', () => {
  it('the file-system store by default, S3 with FILES_STORE=s3', () => {
    expect(blobStoreFromEnv({ FILES_DIR: '/tmp/x' })).toBeInstanceOf(FsBlobStore);
    const s3 = blobStoreFromEnv({ FILES_DIR: '/tmp/x', FILES_STORE: 's3', S3_BUCKET: 'b', S3_ENDPOINT: endpoint, S3_FORCE_PATH_STYLE: true });
    expect(s3).toBeInstanceOf(S3BlobStore);
    expect(() => blobStoreFromEnv({ FILES_DIR: '/tmp/x', FILES_STORE: 's3' })).toThrow(/S3_BUCKET/);
    expect(() => blobStoreFromEnv({ FILES_DIR: '/tmp/x', FILES_STORE: 's3', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'k' })).toThrow(/both/);
  });
});

describe('loading the AWS SDK', () => {
  // A fresh process, so that nothing else has loaded the SDK: what a gateway with FILES_STORE=fs would load.
  const probe = (script: string) =>
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(import.meta.dirname, '..'), encoding: 'utf8' }).trim();

  it('waits for an S3 store to send its first request: a file-system store never loads it', () => {
    const out = probe(`
      import { createRequire } from 'node:module';
      import { tmpdir } from 'node:os';
      import { blobStoreFromEnv } from './src/index.ts';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('client-s3'));
      blobStoreFromEnv({ FILES_STORE: 'fs', FILES_DIR: tmpdir() });
      const s3 = blobStoreFromEnv({ FILES_STORE: 's3', FILES_DIR: tmpdir(), S3_BUCKET: 'b', S3_ENDPOINT: 'http://127.0.0.1:9', S3_FORCE_PATH_STYLE: true, S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' });
      const before = loaded();
      await s3.has('${'0'.repeat(64)}').catch(() => undefined);
      console.log(JSON.stringify({ before, after: loaded() }));
    `);
    expect(JSON.parse(out.split('\n').at(-1)!)).toEqual({ before: false, after: true });
  });
});
