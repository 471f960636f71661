/**
 * Attachments end to end through the gateway with real GraphQL multipart requests (fetch + FormData): upload, list,
 * download by the signed URL, the size limit, a declared type that does not match the content, the EICAR test file
 * refused by the scan hook, another organization that can neither read nor download, expired and altered URLs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EICAR, signDownloadPath, verifyDownloadToken } from '@cos/files';
import { gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
let origin: string;
const secret = randomBytes(32).toString('hex');
const filesDir = mkdtempSync(path.join(tmpdir(), 'cos-e2e-files-'));
const MAX = 64 * 1024;
let a: { token: string; orgId: string };
let b: { token: string; orgId: string };
let taskId: string;

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(200)]);

async function signUp(email: string, org: string) {
  const r = await gqlOk<{ signUp: { accessToken: string; organization: { id: string } } }>(
    t.gatewayUrl,
    `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken organization { id } } }`,
    { input: { email, password: 'correct horse battery', name: 'Uploader', organizationName: org } },
  );
  return { token: r.signUp.accessToken, orgId: r.signUp.organization.id };
}

const ADD = `mutation($t: ID!, $file: Upload!, $c: ID) { addAttachment(taskId: $t, file: $file, commentId: $c) { id name size contentType url } }`;

/** A GraphQL multipart request (operations, map, then the file), as browsers and Apollo's upload link send it. */
async function upload(token: string, file: { bytes: Buffer | string; name: string; type: string }, vars: Record<string, unknown> = { t: taskId }) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: ADD, variables: { ...vars, file: null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([typeof file.bytes === 'string' ? file.bytes : new Uint8Array(file.bytes)], { type: file.type }), file.name);
  const res = await fetch(t.gatewayUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'graphql-require-preflight': '1', accept: 'application/graphql-response+json, application/json' },
    body: form,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, any> }> } };
}

const blobCount = () => readdirSync(filesDir, { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f))).length;

beforeAll(async () => {
  t = await startTestStack({
    internalSecret: secret,
    extraEnv: { LOG_LEVEL: 'info', FILES_DIR: filesDir, UPLOAD_MAX_BYTES: String(MAX), UPLOAD_SCANNER: 'eicar' },
  });
  origin = new URL(t.gatewayUrl).origin;
  a = await signUp('uploader@a.test', 'Files A');
  b = await signUp('other@b.test', 'Files B');
  const r = await gqlOk<{ createTask: { id: string } }>(t.gatewayUrl, `mutation { createTask(input: { title: "Has files" }) { id } }`, {}, { token: a.token });
  taskId = r.createTask.id;
}, 180_000);

afterAll(async () => {
  await t?.stop();
  rmSync(filesDir, { recursive: true, force: true });
});

describe('attachments through the gateway', () => {
  it('uploads (multipart), lists and downloads by the signed URL', async () => {
    const up = await upload(a.token, { bytes: PNG, name: 'chart.png', type: 'image/png' });
    expect(up.body.errors).toBeUndefined();
    const att = up.body.data.addAttachment;
    expect(att).toMatchObject({ name: 'chart.png', size: PNG.length, contentType: 'image/png' });
    expect(att.url).toMatch(/^\/files\//);

    const list = await gqlOk<{ task: { attachments: Array<{ id: string; url: string }> } }>(
      t.gatewayUrl,
      `query($id: ID!) { task(id: $id) { attachments { id url } } }`,
      { id: taskId },
      { token: a.token },
    );
    expect(list.task.attachments.map((x) => x.id)).toEqual([att.id]);

    const res = await fetch(origin + list.task.attachments[0]!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="chart.png"/);
    expect(Buffer.from(await res.arrayBuffer()).equals(PNG)).toBe(true);

    // The same bytes again: stored once (content-addressed).
    const before = blobCount();
    const again = await upload(a.token, { bytes: PNG, name: 'copy.png', type: 'image/png' });
    expect(again.body.errors).toBeUndefined();
    expect(blobCount()).toBe(before);
  });

  it('refuses a file over the size limit with FILE_TOO_LARGE, storing nothing', async () => {
    const before = blobCount();
    const up = await upload(a.token, { bytes: Buffer.alloc(MAX + 1, 0x61), name: 'big.txt', type: 'text/plain' });
    expect(up.status).toBe(413);
    expect(up.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'FILE_TOO_LARGE', field: 'file' });
    expect(blobCount()).toBe(before);
    expect(readdirSync(path.join(filesDir, 'tmp'))).toEqual([]);
  });

  it('refuses a declared type that does not match the content, and types off the allow-list', async () => {
    const html = await upload(a.token, { bytes: '<html><script>alert(1)</script></html>', name: 'x.png', type: 'image/png' });
    expect(html.status).toBe(415);
    expect(html.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'TYPE_MISMATCH' });
    const exe = await upload(a.token, { bytes: Buffer.from('MZ\x90\x00binary'), name: 'x.exe', type: 'application/x-msdownload' });
    expect(exe.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'TYPE_NOT_ALLOWED' });
  });

  it('refuses the EICAR test file (virus-scan hook)', async () => {
    const up = await upload(a.token, { bytes: EICAR, name: 'eicar.txt', type: 'text/plain' });
    expect(up.status).toBe(422);
    expect(up.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'VIRUS_FOUND' });
  });

  it('refuses anonymous uploads before reading them', async () => {
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: ADD, variables: { t: taskId, file: null } }));
    form.append('map', JSON.stringify({ 0: ['variables.file'] }));
    form.append('0', new Blob(['hello']), 'a.txt');
    const res = await fetch(t.gatewayUrl, { method: 'POST', headers: { 'graphql-require-preflight': '1' }, body: form });
    const body = (await res.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
    expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it("another organization cannot attach to, read, or download org A's files", async () => {
    const own = await upload(a.token, { bytes: 'secret plan', name: 'plan.txt', type: 'text/plain' });
    const url = own.body.data.addAttachment.url as string;
    const bUpload = await upload(b.token, { bytes: 'from b', name: 'b.txt', type: 'text/plain' });
    expect(bUpload.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const read = await gqlOk<{ task: unknown }>(t.gatewayUrl, `query($id: ID!) { task(id: $id) { attachments { id url } } }`, { id: taskId }, { token: b.token });
    expect(read.task).toBeNull();
    // B cannot make a URL for A's blob: re-signing the grant for its own org needs the internal secret.
    const token = url.slice('/files/'.length);
    const [payload, sig] = token.split('.');
    const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    forged.o = b.orgId;
    const tampered = `/files/${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`;
    expect((await fetch(origin + tampered)).status).toBe(403);
    expect((await fetch(origin + url.slice(0, -3) + 'xyz')).status).toBe(403);
    expect((await fetch(`${origin}/files/%E0%A4%A`)).status).toBe(403);
    expect((await fetch(`${origin}/files/`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(origin + url)).status).toBe(200);
  });

  it('an expired URL answers 403', async () => {
    const up = await upload(a.token, { bytes: 'short lived', name: 's.txt', type: 'text/plain' });
    const v = verifyDownloadToken(up.body.data.addAttachment.url.slice('/files/'.length), secret);
    if (!v.ok) throw new Error('the URL did not verify');
    const expired = signDownloadPath({ ...v.grant, exp: Date.now() - 1_000 }, secret);
    const res = await fetch(origin + expired);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: 'This download link has expired' });
  });
});
