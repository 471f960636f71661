/**
 * Erasure and removal take effect at once at the gateway: an OWNER removes one member and erases another; their
 * still-valid access tokens answer 401 UNAUTHENTICATED on the next request and their open graphql-ws subscriptions
 * close with 4403 (identity's MemberRemoved / UserErased, heard on the gateway's event feed), while the OWNER and a
 * bystander member keep querying and receiving events. The removed member, re-added, works again with a fresh token.
 * A demotion (MemberRoleChanged to a lower role) refuses the tokens carrying the old role and ends their SSE stream.
 */
import { randomBytes } from 'node:crypto';
import { createClient as createWsClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, gql, gqlOk } from '../scripts/lib/graphql-client';
import { startTestStack, type TestStack } from './support/test-stack';

let t: TestStack;
const tag = randomBytes(4).toString('hex');
const PASSWORD = 'revocation-pass-42';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Person {
  email: string;
  token: string;
  userId: string;
}
let owner: Person & { orgId: string };
let removed: Person;
let erased: Person;
let bystander: Person;
let demoted: Person;

const TASK_CHANGED = `subscription { taskChanged { kind task { id title } } }`;
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

/** Invited by the OWNER as a new person, who accepts with the mailed token. */
async function invite(name: string, role = 'MEMBER'): Promise<Person> {
  const email = `${name.toLowerCase()}.${tag}@revocation.test`;
  const inv = await asOwner(`mutation($e: String!, $n: String!, $r: Role!) { inviteMember(email: $e, name: $n, role: $r) { user { id } } }`, {
    e: email,
    n: name,
    r: role,
  });
  const [mail] = await sql<{ body: string }>(`SELECT body FROM identity.outbound_emails WHERE to_address = $1`, [email]);
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail!.body)![1]!;
  const acc = await gqlOk(t.gatewayUrl, `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { accessToken } }`, { t: token, p: PASSWORD });
  return { email, token: acc.acceptInvitation.accessToken, userId: inv.inviteMember.user.id };
}

/** A graphql-ws connection with one taskChanged subscription: what it received and how it closed. */
function subscribe(token: string) {
  const received: Array<{ data?: any; errors?: any[] }> = [];
  let closedWith: { code: number; reason: string } | null = null;
  const client = createWsClient({
    url: t.gatewayUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (e) => (closedWith = { code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') }) },
    onNonLazyError: () => undefined,
  });
  client.subscribe({ query: TASK_CHANGED }, { next: (r) => void received.push(r as any), error: () => undefined, complete: () => undefined });
  return { received, closed: () => closedWith, dispose: () => void client.dispose() };
}
type Subscription = ReturnType<typeof subscribe>;
const subs: Subscription[] = [];
const open = (token: string) => {
  const s = subscribe(token);
  subs.push(s);
  return s;
};

/** The OWNER creates a task; resolves with its id once `s` received its CREATED event. */
async function deliveredTo(s: Subscription): Promise<string> {
  const title = `Task ${randomBytes(3).toString('hex')}`;
  const id = (await asOwner(`mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }`, { i: { title } })).createTask.id as string;
  await eventually(async () => s.received.some((r) => r.data?.taskChanged?.task?.id === id), 15_000);
  return id;
}

const ME = `{ me { id } }`;

/** A graphql-sse (distinct connections) subscription: whether its stream has ended. */
async function subscribeSse(token: string) {
  const ac = new AbortController();
  const res = await fetch(`${t.gatewayUrl}/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: TASK_CHANGED }),
    signal: ac.signal,
  });
  expect(res.status).toBe(200);
  let text = '';
  let ended = false;
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
  })()
    .catch(() => {})
    .finally(() => (ended = true));
  return { text: () => text, ended: () => ended, abort: () => ac.abort() };
}

beforeAll(async () => {
  t = await startTestStack();
  try {
    const s = await gqlOk(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } } }`, {
      i: { email: `owner.${tag}@revocation.test`, password: PASSWORD, name: 'Olga Owner', organizationName: `Revocation ${tag}` },
    });
    owner = { email: `owner.${tag}@revocation.test`, token: s.signUp.accessToken, userId: s.signUp.user.id, orgId: s.signUp.organization.id };
    removed = await invite('Rita');
    erased = await invite('Ernst');
    bystander = await invite('Bea');
    demoted = await invite('Dora', 'ADMIN');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${t?.logs()}`, { cause: err });
  }
}, 180_000);
afterAll(async () => {
  subs.forEach((s) => s.dispose());
  await t?.stop();
});

describe('revoking access at the gateway', () => {
  let ownerSub: Subscription;
  let bystanderSub: Subscription;

  it('before: every member queries and receives events', async () => {
    ownerSub = open(owner.token);
    bystanderSub = open(bystander.token);
    const [r, e] = [open(removed.token), open(erased.token)];
    await sleep(700); // subscriptions register asynchronously (upstream consumers)
    for (const s of [ownerSub, bystanderSub, r, e]) await deliveredTo(s);
    for (const p of [owner, removed, erased, bystander]) expect((await gqlOk(t.gatewayUrl, ME, {}, { token: p.token })).me).toEqual({ id: p.userId });
  });

  it('removeMember: the member’s valid token is refused (401) and their subscription closes with 4403; others unaffected', async () => {
    const sub = subs[2]!;
    const started = Date.now();
    expect((await asOwner(`mutation($u: ID!) { removeMember(userId: $u) }`, { u: removed.userId })).removeMember).toBe(true);
    const closed = await eventually(async () => sub.closed(), 10_000, 50);
    expect(closed.code).toBe(4403);
    const refused = await gql(t.gatewayUrl, ME, {}, { token: removed.token });
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    console.log(`removal took effect in ${Date.now() - started} ms`);

    expect(ownerSub.closed()).toBeNull();
    expect(bystanderSub.closed()).toBeNull();
    expect((await gqlOk(t.gatewayUrl, ME, {}, { token: bystander.token })).me).toEqual({ id: bystander.userId });
    await deliveredTo(bystanderSub);
  });

  it('eraseUser: the same for the erased person; others unaffected', async () => {
    const sub = subs[3]!;
    expect((await asOwner(`mutation($u: ID!) { eraseUser(userId: $u) }`, { u: erased.userId })).eraseUser).toBe(true);
    const closed = await eventually(async () => sub.closed(), 10_000, 50);
    expect(closed.code).toBe(4403);
    const refused = await gql(t.gatewayUrl, ME, {}, { token: erased.token });
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // A new connection with the revoked token is refused at connect.
    const again = open(erased.token);
    expect((await eventually(async () => again.closed(), 10_000, 50)).code).toBe(4403);

    expect(ownerSub.closed()).toBeNull();
    expect(bystanderSub.closed()).toBeNull();
    expect((await gqlOk(t.gatewayUrl, ME, {}, { token: owner.token })).me).toEqual({ id: owner.userId });
    await deliveredTo(ownerSub);
    await deliveredTo(bystanderSub);
  });

  it('a removed member re-added later works again with a fresh token (the old one stays refused)', async () => {
    await asOwner(`mutation($e: String!) { inviteMember(email: $e, name: "Rita", role: MEMBER) { user { id } } }`, { e: removed.email });
    // Tokens carry iat in whole seconds: one issued in the second of the cut-off is refused too.
    await sleep(1_100);
    const login = await gqlOk(t.gatewayUrl, `mutation($e: String!, $p: String!, $o: ID) { login(email: $e, password: $p, organizationId: $o) { accessToken } }`, {
      e: removed.email,
      p: PASSWORD,
      o: owner.orgId,
    });
    const fresh = login.login.accessToken as string;
    expect((await gqlOk(t.gatewayUrl, ME, {}, { token: fresh })).me).toEqual({ id: removed.userId });
    expect((await gql(t.gatewayUrl, ME, {}, { token: removed.token })).status).toBe(401);
    const sub = open(fresh);
    await sleep(700);
    await deliveredTo(sub);
    expect(sub.closed()).toBeNull();
  });

  it('a demotion (ADMIN → VIEWER) refuses the tokens that carry the old role and ends their SSE stream', async () => {
    const sse = await subscribeSse(demoted.token);
    try {
      await sleep(700);
      const id = await deliveredTo(bystanderSub);
      await eventually(async () => sse.text().includes(id), 15_000);
      expect(sse.ended()).toBe(false);
      await asOwner(`mutation($u: ID!) { changeRole(userId: $u, role: VIEWER) { role } }`, { u: demoted.userId });
      await eventually(async () => sse.ended(), 10_000, 50);
      const refused = await gql(t.gatewayUrl, ME, {}, { token: demoted.token });
      expect(refused.status).toBe(401);
      expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(bystanderSub.closed()).toBeNull();
      // Signing in again gives a VIEWER token, which works.
      await sleep(1_100);
      const login = await gqlOk(t.gatewayUrl, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, { e: demoted.email, p: PASSWORD });
      expect((await gqlOk(t.gatewayUrl, ME, {}, { token: login.login.accessToken })).me).toEqual({ id: demoted.userId });
    } finally {
      sse.abort();
    }
  });
});
