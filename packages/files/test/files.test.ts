import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, writeFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkType,
  clamdScanner,
  contentDisposition,
  EICAR,
  eicarScanner,
  FileTooLargeError,
  FsBlobStore,
  sanitizeFileName,
  signBlobRef,
  signDownloadPath,
  stageStream,
  verifyBlobRef,
  verifyDownloadToken,
} from '../src/index';

const secret = 'a-secret-of-at-least-thirty-two-characters';
const org = '6f1c2a1e-0000-4000-8000-000000000001';
const sha = 'a'.repeat(64);
const bytes = (...b: number[]) => new Uint8Array(b);

describe('content sniffing', () => {
  it('accepts a declared type that matches the magic bytes', () => {
    expect(checkType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1), 'image/png', true)).toEqual({ ok: true, type: 'image/png' });
    expect(checkType(new TextEncoder().encode('%PDF-1.7'), 'application/pdf', true)).toMatchObject({ ok: true });
    expect(checkType(new TextEncoder().encode('a,b\n1,2\n'), 'text/csv; charset=utf-8', true)).toEqual({ ok: true, type: 'text/csv' });
  });
  it('refuses mismatches and types off the allow-list', () => {
    expect(checkType(new TextEncoder().encode('<html>'), 'image/png', true)).toMatchObject({ ok: false, code: 'TYPE_MISMATCH' });
    expect(checkType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), 'text/plain', true)).toMatchObject({ ok: false, code: 'TYPE_MISMATCH' });
    expect(checkType(bytes(0x4d, 0x5a), 'application/x-msdownload', true)).toMatchObject({ ok: false, code: 'TYPE_NOT_ALLOWED' });
    expect(checkType(bytes(0x00, 0x01, 0x02), 'text/plain', true)).toMatchObject({ ok: false, code: 'TYPE_MISMATCH' });
    expect(checkType(bytes(0xc3, 0x28), 'text/plain', true)).toMatchObject({ ok: false }); // invalid UTF-8
  });
  it('tolerates a UTF-8 sequence cut at the end of the sniffed head', () => {
    expect(checkType(bytes(0x61, 0xc3), 'text/plain', false)).toMatchObject({ ok: true });
  });
});

describe('signing', () => {
  const ref = { sha256: sha, size: 3, type: 'text/plain', name: 'a.txt', orgId: org };
  it('verifies its own blob references and refuses tampered, foreign and expired ones', () => {
    const token = signBlobRef(ref, secret, 1_000, 60_000);
    expect(verifyBlobRef(token, secret, 2_000)).toEqual({ ok: true, ref });
    expect(verifyBlobRef(token, secret, 100_000)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyBlobRef(token, 'another-secret-of-at-least-thirty-two-chars', 2_000)).toEqual({ ok: false, reason: 'invalid' });
    const [p, s] = token.slice(5).split('.');
    const changed = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), size: 1e9 })).toString('base64url');
    expect(verifyBlobRef(`blob:${changed}.${s}`, secret, 2_000)).toEqual({ ok: false, reason: 'invalid' });
  });
  it('keeps blob references and download tokens apart (one key per purpose)', () => {
    const token = signBlobRef(ref, secret).slice(5);
    expect(verifyDownloadToken(token, secret)).toEqual({ ok: false, reason: 'invalid' });
    const dl = signDownloadPath({ orgId: org, sha256: sha, name: 'a.txt', type: 'text/plain', exp: Date.now() + 1000 }, secret).slice('/files/'.length);
    expect(verifyBlobRef(`blob:${dl}`, secret)).toEqual({ ok: false, reason: 'invalid' });
    expect(verifyDownloadToken(dl, secret)).toMatchObject({ ok: true, grant: { orgId: org, sha256: sha } });
  });
  it('sanitizes names and writes a safe Content-Disposition', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('a\u0000b"\r\n.txt')).toBe('ab.txt');
    expect(sanitizeFileName('..')).toBe('file');
    expect(contentDisposition('résumé "x".pdf')).toBe(`attachment; filename="r_sum_ _x_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf`);
  });
});

describe('storage and scanning', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  async function* chunks(...parts: string[]) {
    for (const p of parts) yield Buffer.from(p);
  }

  it('stores content-addressed, deduplicates, deletes; stops at the size limit leaving nothing behind', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cos-files-'));
    dirs.push(dir);
    const store = new FsBlobStore(dir);
    const s1 = await stageStream(chunks('hello ', 'world'), store.stagingDir(), 100);
    expect(s1.sha256).toBe('b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9');
    await store.put(s1.sha256, s1.path);
    const s2 = await stageStream(chunks('hello world'), store.stagingDir(), 100);
    await store.put(s2.sha256, s2.path);
    expect(await readdir(store.stagingDir())).toEqual([]);
    const opened = await store.open(s1.sha256);
    expect(opened?.size).toBe(11);
    opened?.stream.destroy();
    await expect(stageStream(chunks('x'.repeat(60), 'y'.repeat(60)), store.stagingDir(), 100)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(await readdir(store.stagingDir())).toEqual([]);
    await store.delete(s1.sha256);
    expect(await store.has(s1.sha256)).toBe(false);
    expect(() => store.pathOf('../x')).toThrow();
  });

  it('the EICAR scanner and a clamd INSTREAM client (against a small clamd-speaking server)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cos-scan-'));
    dirs.push(dir);
    const clean = path.join(dir, 'clean.txt');
    const infected = path.join(dir, 'eicar.txt');
    await writeFile(clean, 'nothing to see');
    await writeFile(infected, EICAR);
    expect(await eicarScanner.scan(clean)).toEqual({ clean: true });
    expect(await eicarScanner.scan(infected)).toMatchObject({ clean: false });

    // A clamd stand-in: reads zINSTREAM + length-prefixed chunks until the zero chunk, answers like clamd.
    const server = createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (!buf.subarray(0, 10).equals(Buffer.from('zINSTREAM\0'))) return;
        let off = 10;
        const data: Buffer[] = [];
        while (off + 4 <= buf.length) {
          const n = buf.readUInt32BE(off);
          if (n === 0) {
            const found = Buffer.concat(data).includes(EICAR);
            sock.end(found ? 'stream: Eicar-Test-Signature FOUND\0' : 'stream: OK\0');
            return;
          }
          if (off + 4 + n > buf.length) return;
          data.push(buf.subarray(off + 4, off + 4 + n));
          off += 4 + n;
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    const clamd = clamdScanner({ host: '127.0.0.1', port, timeoutMs: 5_000 });
    expect(await clamd.scan(clean)).toEqual({ clean: true });
    expect(await clamd.scan(infected)).toEqual({ clean: false, signature: 'Eicar-Test-Signature' });
    await new Promise<void>((r) => server.close(() => r()));
    // Unreachable clamd: the scan fails (the upload is refused), never passes silently.
    await expect(clamd.scan(clean)).rejects.toThrow(/clamd/);
  });
});
