/**
 * Attachments in the tasks subgraph: signed blob references in, event-sourced attachments out (AttachmentAdded /
 * AttachmentRemoved on the task stream), tenant isolation, signed download URLs, blobs deleted once unreferenced, and
 * the erasure reaction (UserErased → the person's attachments removed in every organization).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userPrincipal, TEST_INTERNAL_SECRET } from '@cos/testing';
import { signBlobRef, stageStream, verifyDownloadToken } from '@cos/files';
import { handleIdentityEvent } from '../src/events/reactors/identity';
import { createBlobsReactor } from '../src/events/reactors/blobs';
import { foreignEvent, startHarness, type Harness } from './helpers';

let h: Harness;
const orgA = randomUUID();
const orgB = randomUUID();
const alice = randomUUID();
const bob = randomUUID(); // org A, MEMBER
const bea = randomUUID(); // org B owner
const asAlice = userPrincipal(alice, orgA, 'OWNER');
const asBob = userPrincipal(bob, orgA, 'MEMBER');
const asBea = userPrincipal(bea, orgB, 'OWNER');
const log = { info: () => {} } as never;

const ADD = `mutation($t: ID!, $f: Upload!, $c: ID) { addAttachment(taskId: $t, file: $f, commentId: $c) { id name size contentType url uploadedBy { id } createdAt } }`;
const REMOVE = `mutation($id: ID!) { removeAttachment(id: $id) { id version attachments { id } } }`;
const GET = `query($id: ID!) { task(id: $id) { id version attachments { id name size contentType url } comments { id attachments { id name } } } }`;

/** Stores bytes the way the gateway does and returns a signed reference for `orgId`. */
async function upload(content: string, orgId: string, name = 'notes.txt', type = 'text/plain') {
  async function* one() {
    yield Buffer.from(content);
  }
  const staged = await stageStream(one(), h.blobs.stagingDir(), 1_000_000);
  await h.blobs.put(staged.sha256, staged.path);
  return { sha256: staged.sha256, ref: signBlobRef({ sha256: staged.sha256, size: staged.size, type, name, orgId }, TEST_INTERNAL_SECRET) };
}

async function newTask(p = asAlice) {
  const r = await h.exec(p, `mutation { createTask(input: { title: "With files" }) { id } }`);
  expect(r.errors).toBeUndefined();
  return r.data!.createTask.id as string;
}

const taskEvents = (taskId: string) =>
  h.systemDb.withClient((tx) => tx.query<{ type: string; data: any; org_id: string }>(`SELECT type, data, org_id FROM events WHERE stream_id = $1 ORDER BY version`, [`Task-${taskId}`]));

beforeAll(async () => {
  h = await startHarness();
  for (const [org, userId, role] of [
    [orgA, alice, 'OWNER'],
    [orgA, bob, 'MEMBER'],
    [orgB, bea, 'OWNER'],
  ] as const) {
    await h.react(handleIdentityEvent, foreignEvent(org, 'Organization', 'MemberJoined', { organizationId: org, userId, name: 'x', role }));
  }
});
afterAll(async () => h?.close());

describe('addAttachment / removeAttachment', () => {
  it('attaches a stored file to a task and to a comment, as events, with a signed download URL', async () => {
    const taskId = await newTask();
    const { ref, sha256 } = await upload('hello attachments', orgA);
    const r = await h.exec(asAlice, ADD, { t: taskId, f: ref });
    expect(r.errors).toBeUndefined();
    const att = r.data!.addAttachment;
    expect(att).toMatchObject({ name: 'notes.txt', size: 17, contentType: 'text/plain', uploadedBy: { id: alice } });
    const grant = verifyDownloadToken(att.url.replace('/files/', ''), TEST_INTERNAL_SECRET);
    expect(grant).toMatchObject({ ok: true, grant: { orgId: orgA, sha256, name: 'notes.txt', type: 'text/plain' } });

    const c = await h.exec(asAlice, `mutation($t: ID!) { addComment(taskId: $t, body: "see file") { id } }`, { t: taskId });
    const commentId = c.data!.addComment.id as string;
    const second = await upload('%PDF-1.4 fake but sniffed elsewhere', orgA, 'spec.pdf', 'application/pdf');
    const rc = await h.exec(asBob, ADD, { t: taskId, f: second.ref, c: commentId });
    expect(rc.errors).toBeUndefined();

    const got = await h.exec(asAlice, GET, { id: taskId });
    expect(got.data!.task.attachments.map((a: any) => a.id)).toEqual([att.id]);
    expect(got.data!.task.comments[0].attachments).toEqual([{ id: rc.data!.addAttachment.id, name: 'spec.pdf' }]);
    expect((await taskEvents(taskId)).map((e) => e.type)).toEqual(['TaskCreated', 'AttachmentAdded', 'CommentAdded', 'AttachmentAdded']);
    expect(got.data!.task.version).toBe(4);
  });

  it('refuses forged, foreign-organization and inline references, and a comment of another task, writing nothing', async () => {
    const taskId = await newTask();
    const other = await newTask();
    const before = await h.eventCount();
    const { ref } = await upload('bytes', orgA);
    const forged = ref.slice(0, -4) + (ref.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const foreign = (await upload('bytes', orgB)).ref;
    for (const f of [forged, foreign]) {
      const r = await h.exec(asAlice, ADD, { t: taskId, f });
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    }
    const notUpload = await h.exec(asAlice, ADD, { t: taskId, f: 'just a string' });
    expect(notUpload.errors?.[0]?.message).toMatch(/Upload/);
    const c = await h.exec(asAlice, `mutation($t: ID!) { addComment(taskId: $t, body: "x") { id } }`, { t: other });
    const wrongComment = await h.exec(asAlice, ADD, { t: taskId, f: ref, c: c.data!.addComment.id });
    expect(wrongComment.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'commentId' });
    expect(await h.eventCount()).toBe(before + 1); // only the comment
  });

  it('keeps organizations apart: another org cannot attach to, list, or remove', async () => {
    const taskId = await newTask();
    const { ref } = await upload('org A only', orgA);
    const added = (await h.exec(asAlice, ADD, { t: taskId, f: ref })).data!.addAttachment;
    const bRef = (await upload('from B', orgB)).ref;
    const attach = await h.exec(asBea, ADD, { t: taskId, f: bRef });
    expect(attach.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await h.exec(asBea, GET, { id: taskId })).data!.task).toBeNull();
    const remove = await h.exec(asBea, REMOVE, { id: added.id });
    expect(remove.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await h.exec(asAlice, GET, { id: taskId })).data!.task.attachments).toHaveLength(1);
    const viewer = await h.exec(userPrincipal(randomUUID(), orgA, 'VIEWER'), REMOVE, { id: added.id });
    expect(viewer.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('removes an attachment (event) and deletes its blob only when nothing references it any more', async () => {
    const t1 = await newTask();
    const t2 = await newTask();
    const shared = await upload('shared content, stored once', orgA);
    const a1 = (await h.exec(asAlice, ADD, { t: t1, f: shared.ref })).data!.addAttachment;
    const a2 = (await h.exec(asAlice, ADD, { t: t2, f: shared.ref })).data!.addAttachment;
    const blobs = createBlobsReactor(h.blobs, log);

    const r1 = await h.exec(asAlice, REMOVE, { id: a1.id });
    expect(r1.errors).toBeUndefined();
    expect(r1.data!.removeAttachment.attachments).toEqual([]);
    const removed1 = (await taskEvents(t1)).at(-1)!;
    expect(removed1).toMatchObject({ type: 'AttachmentRemoved', data: { attachmentId: a1.id, sha256: shared.sha256, reason: 'removed' } });
    await h.react(blobs, foreignEvent(orgA, 'Task', 'AttachmentRemoved', removed1.data));
    expect(await h.blobs.has(shared.sha256)).toBe(true); // a2 still references it

    await h.exec(asAlice, REMOVE, { id: a2.id });
    await h.react(blobs, foreignEvent(orgA, 'Task', 'AttachmentRemoved', (await taskEvents(t2)).at(-1)!.data));
    expect(await h.blobs.has(shared.sha256)).toBe(false);
    const again = await h.exec(asAlice, REMOVE, { id: a2.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('erasure (UserErased on identity User stream)', () => {
  it("removes every attachment the person uploaded, in every organization, and their blobs; others' stay", async () => {
    const person = randomUUID();
    await h.react(handleIdentityEvent, foreignEvent(orgA, 'Organization', 'MemberJoined', { organizationId: orgA, userId: person, name: 'P', role: 'MEMBER' }));
    await h.react(handleIdentityEvent, foreignEvent(orgB, 'Organization', 'MemberJoined', { organizationId: orgB, userId: person, name: 'P', role: 'MEMBER' }));
    const tA = await newTask();
    const tB = await newTask(asBea);
    const mine = await upload(`personal ${person}`, orgA);
    const mineB = await upload(`personal in B ${person}`, orgB);
    const theirs = await upload(`alice's ${person}`, orgA);
    await h.exec(userPrincipal(person, orgA, 'MEMBER'), ADD, { t: tA, f: mine.ref });
    await h.exec(userPrincipal(person, orgB, 'MEMBER'), ADD, { t: tB, f: mineB.ref });
    const kept = (await h.exec(asAlice, ADD, { t: tA, f: theirs.ref })).data!.addAttachment;

    const erased = foreignEvent(orgA, 'User', 'UserErased', { userId: person });
    await h.react(handleIdentityEvent, erased);
    expect((await h.exec(asAlice, GET, { id: tA })).data!.task.attachments.map((a: any) => a.id)).toEqual([kept.id]);
    expect((await h.exec(asBea, GET, { id: tB })).data!.task.attachments).toEqual([]);
    const removals = [...(await taskEvents(tA)), ...(await taskEvents(tB))].filter((e) => e.type === 'AttachmentRemoved');
    expect(removals.map((e) => e.data.reason)).toEqual(['erasure', 'erasure']);
    expect(new Set(removals.map((e) => e.org_id))).toEqual(new Set([orgA, orgB]));

    const blobs = createBlobsReactor(h.blobs, log);
    for (const e of removals) await h.react(blobs, foreignEvent(e.org_id, 'Task', 'AttachmentRemoved', e.data));
    expect(await h.blobs.has(mine.sha256)).toBe(false);
    expect(await h.blobs.has(mineB.sha256)).toBe(false);
    expect(await h.blobs.has(theirs.sha256)).toBe(true);

    // A repeat (a second UserErased) finds nothing left.
    await h.react(handleIdentityEvent, foreignEvent(orgA, 'User', 'UserErased', { userId: person }));
    expect((await taskEvents(tA)).filter((e) => e.type === 'AttachmentRemoved')).toHaveLength(1);
  });
});
