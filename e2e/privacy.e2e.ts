/**
 * GDPR erasure end to end, through the gateway: a member with tasks and comments, a customer with contacts; the
 * OWNER erases the member and one contact. The graph forgets them at once, a rebuild of every read model keeps them
 * forgotten, and the proof: a pg_dump of the whole database contains neither the email nor the names (the events
 * hold only ciphertext, whose key is gone). The stack reads its master key from a file (PII_MASTER_KEY_FILE).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureMasterKeys } from '@cos/pii';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { rebuild } from '../scripts/rebuild';
import { startTestStack, type TestStack } from './support/test-stack';

const masterKey = randomBytes(32).toString('hex');
const secretsDir = mkdtempSync(path.join(tmpdir(), 'cos-secrets-'));
const masterKeyFile = path.join(secretsDir, 'pii_master_key');
writeFileSync(masterKeyFile, `${masterKey}\n`, { mode: 0o600 });

let t: TestStack;
const tag = randomBytes(4).toString('hex');
const memberEmail = `mira.${tag}@privacy.test`;
const memberName = `Mira Memberson${tag}`;
const contactName = `Carla Contactova${tag}`;
const contactEmail = `carla.${tag}@customer.test`;
const PASSWORD = 'privacy-pass-42';

let owner: { token: string; userId: string; orgId: string };
let member: { token: string; userId: string };
let taskId: string;
let customerId: string;
let contactId: string;
let keptContactId: string;

const asOwner = <T = Record<string, any>>(q: string, v: Record<string, unknown> = {}) => gqlOk<T>(t.gatewayUrl, q, v, { token: owner.token });

async function sql<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: t.db.adminUrl });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const dump = () => execFileSync('pg_dump', ['--data-only', '--no-owner', t.db.adminUrl], { maxBuffer: 256 * 1024 * 1024 }).toString('utf8');

beforeAll(async () => {
  t = await startTestStack({ extraEnv: { PII_MASTER_KEY_FILE: masterKeyFile } });
  try {
    const s = await gqlOk(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`, {
      i: { email: `owner.${tag}@privacy.test`, password: PASSWORD, name: 'Owen Owner', organizationName: `Privacy ${tag}` },
    });
    owner = { token: s.signUp.accessToken, userId: s.signUp.user.id, orgId: s.signUp.organization.id };
    const inv = await asOwner(`mutation($e: String!, $n: String!) { inviteMember(email: $e, name: $n, role: MEMBER) { user { id } } }`, { e: memberEmail, n: memberName });
    const [mail] = await sql<{ body: string }>(`SELECT body FROM identity.outbound_emails WHERE to_address = $1`, [memberEmail]);
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail!.body)![1]!;
    const acc = await gqlOk(t.gatewayUrl, `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }`, { t: token, p: PASSWORD });
    member = { token: acc.acceptInvitation.accessToken, userId: inv.inviteMember.user.id };

    const c = await asOwner(`mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id contacts { id } } }`, {
      i: { name: `Customer ${tag}`, contacts: [{ name: contactName, email: contactEmail }, { name: 'Kept Contact', email: null }] },
    });
    customerId = c.createCustomer.id;
    [contactId, keptContactId] = c.createCustomer.contacts.map((x: { id: string }) => x.id);
    // the member's work: a task they create and comment on, assigned to them
    taskId = (
      await gqlOk(t.gatewayUrl, `mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, { i: { title: `Renewal ${tag}`, customerId } }, { token: member.token })
    ).createTask.id;
    await gqlOk(t.gatewayUrl, `mutation($t: ID!) { addComment(taskId: $t, body: "Called the customer") { id } }`, { t: taskId }, { token: member.token });
    // assigned only once tasks' directory knows the member (an identity event consumed through JetStream)
    await eventually(async () => !(await gql(t.gatewayUrl, `mutation($id: ID!, $a: ID) { assignTask(id: $id, assigneeId: $a) { id } }`, { id: taskId, a: member.userId }, { token: owner.token })).errors, 20_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${t?.logs()}`, { cause: err });
  }
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

const TASK = `query($id: ID!) { task(id: $id) { assignee { __typename } createdBy { id name } comments { body author { id name } } } }`;
const CUSTOMER = `query($id: ID!) { customer(id: $id) { contacts { id name email } } }`;
const SEARCH = `query($q: String!) { search(query: $q) { totalCount edges { node { type id } } } }`;

describe('exportMyData through the gateway', () => {
  it('assembles every subgraph’s part of the caller’s data', async () => {
    const r = await gqlOk(t.gatewayUrl, `{ exportMyData { userId generatedAt identity tasks customers } }`, {}, { token: member.token });
    const x = r.exportMyData;
    expect(x.userId).toBe(member.userId);
    expect(x.identity.profile).toMatchObject({ name: memberName, email: memberEmail });
    expect(x.identity.memberships).toEqual([expect.objectContaining({ organizationId: owner.orgId, role: 'MEMBER' })]);
    expect(x.tasks.tasksCreated.map((k: { id: string }) => k.id)).toEqual([taskId]);
    expect(x.tasks.tasksAssigned.map((k: { id: string }) => k.id)).toEqual([taskId]);
    expect(x.tasks.comments.map((k: { body: string }) => k.body)).toEqual(['Called the customer']);
    expect(x.customers).toEqual([]);
    expect(JSON.stringify(x)).not.toMatch(/password|tokenHash|secret/i);
  });
});

describe('erasure through the gateway', () => {
  it('before: the graph knows the member and the contact; the events hold them only as ciphertext', async () => {
    const task = (await asOwner(TASK, { id: taskId })).task;
    expect(task.comments[0].author).toEqual({ id: member.userId, name: memberName });
    expect((await asOwner(SEARCH, { q: contactName.split(' ')[1]! })).search.totalCount).toBe(1);
    const raw = await sql<{ n: string }>(
      `SELECT (SELECT count(*) FROM identity.events WHERE data::text LIKE '%' || $1 || '%') + (SELECT count(*) FROM customers.events WHERE data::text LIKE '%' || $2 || '%') AS n`,
      [memberEmail, contactEmail],
    );
    expect(Number(raw[0]!.n)).toBe(0);
    const sealed = await sql(`SELECT 1 FROM identity.events WHERE type = 'UserRegistered' AND data->'email' ? '$pii' AND data->>'userId' = $1`, [member.userId]);
    expect(sealed).toHaveLength(1);
  });

  it('eraseUser and eraseCustomerContact: gone from the graph, search and every service', async () => {
    // a MEMBER may not erase anyone
    const denied = await gql(t.gatewayUrl, `mutation($u: ID!) { eraseUser(userId: $u) }`, { u: owner.userId }, { token: member.token });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    expect((await asOwner(`mutation($u: ID!) { eraseUser(userId: $u) }`, { u: member.userId })).eraseUser).toBe(true);
    const c = await asOwner(`mutation($c: ID!, $k: ID!) { eraseCustomerContact(customerId: $c, contactId: $k) { contacts { id } } }`, { c: customerId, k: contactId });
    expect(c.eraseCustomerContact.contacts).toEqual([{ id: keptContactId }]);

    const task = await eventually(async () => {
      const r = (await asOwner(TASK, { id: taskId })).task;
      return r.assignee === null ? r : null; // tasks unassigned the erased person (UserErased through JetStream)
    }, 20_000);
    expect(task.createdBy).toEqual({ id: member.userId, name: '[erased]' });
    expect(task.comments).toEqual([{ body: 'Called the customer', author: { id: member.userId, name: '[erased]' } }]);
    // still resolvable by id (no shared organization any more, so the email policy hides even the placeholder)
    expect((await asOwner(`query($id: ID!) { user(id: $id) { id name } }`, { id: member.userId })).user).toEqual({ id: member.userId, name: '[erased]' });
    expect((await asOwner(CUSTOMER, { id: customerId })).customer.contacts.map((x: { id: string }) => x.id)).toEqual([keptContactId]);
    expect((await asOwner(SEARCH, { q: contactName.split(' ')[1]! })).search.totalCount).toBe(0);
    // the erased member's token still names them, but they can no longer sign in
    const login = await gql(t.gatewayUrl, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, { e: memberEmail, p: PASSWORD });
    expect(login.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // audited in the OWNER's organization
    const audit = await eventually(async () => {
      const a = (await asOwner(`{ auditLog(first: 100) { actor action target } }`)).auditLog as Array<{ action: string; actor: string; target: string }>;
      return a.some((e) => e.action === 'CustomerContactErased') ? a : null;
    }, 20_000);
    expect(audit).toContainEqual({ actor: `user:${owner.userId}`, action: 'UserErased', target: `User-${member.userId}` });
  });

  it('a rebuild of every read model keeps them erased, and the database dump holds neither email nor name', async () => {
    configureMasterKeys(masterKey); // the rebuild opens personal fields with the stack's master key
    for (const s of ['identity', 'tasks', 'customers'] as const) await rebuild(s, t.db.adminUrl);
    const task = (await asOwner(TASK, { id: taskId })).task;
    expect(task.comments[0].author).toEqual({ id: member.userId, name: '[erased]' });
    expect((await asOwner(CUSTOMER, { id: customerId })).customer.contacts.map((x: { id: string }) => x.id)).toEqual([keptContactId]);
    expect((await asOwner(SEARCH, { q: contactName.split(' ')[1]! })).search.totalCount).toBe(0);
    // the people that were not erased still read fine after the rebuild
    expect((await asOwner(`{ me { name } }`)).me).toEqual({ name: 'Owen Owner' });

    const text = dump();
    expect(text.length).toBeGreaterThan(10_000);
    expect(text).toContain(`Customer ${tag}`); // the dump is the real one: the customer (a company) is in it
    for (const needle of [memberEmail, memberName, contactName, contactEmail, `Memberson${tag}`, `Contactova${tag}`]) {
      expect(text.includes(needle), `${needle} found in the database dump`).toBe(false);
    }
  });
});
