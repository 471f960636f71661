/**
 * The audit log (identity's own events in-process, other services' events through real JetStream consumers) and
 * sign-in throttling per account and per client IP (Postgres sliding window).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { connectBus, subjectFor, type Bus, type RunningConsumer } from '@cos/bus';
import type { StoredEvent } from '@cos/event-store';
import { SYSTEM_ORG_ID } from '@cos/events';
import { createLogger } from '@cos/logger';
import { execSubgraph, userPrincipal, testSubjectPrefix } from '@cos/testing';
import { startIdentityConsumers } from '../src/events/consumers';
import { createServer } from '../src/server';
import { ANON, LOGIN, PASSWORD, REFRESH, signUp, startIdentity, uniqueEmail, type Identity, type Session } from './harness';

const log = createLogger('identity-audit-test', 'silent');
let id: Identity;
let bus: Bus;
let consumers: RunningConsumer[] = [];

beforeAll(async () => {
  id = await startIdentity();
  bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: testSubjectPrefix(), name: 'identity-test', log });
  consumers = await startIdentityConsumers({ bus, systemDb: id.systemDb, log });
});
afterAll(async () => {
  await Promise.allSettled(consumers.map((c) => c.stop()));
  if (bus) {
    await bus.jsm.streams.delete(bus.streamName).catch(() => {});
    await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
    await bus.close();
  }
  await id?.close();
});

const AUDIT = `query($f: Int, $a: String) { auditLog(first: $f, after: $a) { id at actor action target } }`;
type Entry = { id: string; at: string; actor: string; action: string; target: string | null };
const audit = async (p: Principal, first = 200) => {
  const r = await id.exec<{ auditLog: Entry[] }>(p, AUDIT, { f: first });
  expect(r.errors).toBeUndefined();
  return r.data!.auditLog;
};
const ownerOf = (s: Session) => userPrincipal(s.user.id, s.organization.id, 'OWNER');

function foreignEvent(orgId: string, streamType: string, type: string, actor: string): StoredEvent {
  const eid = randomUUID();
  return {
    id: eid,
    globalPosition: 1,
    orgId,
    streamId: `${streamType}-${randomUUID()}`,
    streamType,
    version: 1,
    type,
    schemaVersion: 1,
    data: {},
    metadata: { actor, correlationId: `corr-${eid}`, causationId: null, traceparent: null },
    occurredAt: new Date().toISOString(),
  };
}

async function until<T>(fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('audit log', () => {
  it('records tasks, customers and agents events from the bus once, in their organization only, newest first', async () => {
    const a = await signUp(id);
    const b = await signUp(id);
    const actor = `user:${a.user.id}`;
    const task = foreignEvent(a.organization.id, 'Task', 'TaskCreated', actor);
    const customer = foreignEvent(a.organization.id, 'Customer', 'SignalRecorded', actor);
    const run = foreignEvent(a.organization.id, 'AgentRun', 'AgentRunQueued', 'service:agents');
    const other = foreignEvent(b.organization.id, 'Task', 'TaskCreated', `user:${b.user.id}`);
    for (const [svc, e] of [['tasks', task], ['customers', customer], ['agents', run], ['tasks', other]] as const) {
      await bus.js.publish(subjectFor(bus.prefix, svc, e), JSON.stringify(e), { msgID: e.id });
    }
    // A redelivery under another message id (e.g. a DLQ replay): the inbox keeps the entry single.
    await bus.js.publish(subjectFor(bus.prefix, 'tasks', task), JSON.stringify(task), { msgID: `${task.id}:again` });

    const entries = await until(async () => {
      const all = await audit(ownerOf(a));
      return [task, customer, run].every((e) => all.some((x) => x.id === e.id)) && all;
    });
    expect(entries.find((x) => x.id === task.id)).toMatchObject({ actor, action: 'TaskCreated', target: task.streamId });
    expect(entries.find((x) => x.id === run.id)).toMatchObject({ actor: 'service:agents', action: 'AgentRunQueued', target: run.streamId });
    expect(entries.filter((x) => x.id === task.id)).toHaveLength(1);
    expect(entries.some((x) => x.id === other.id)).toBe(false);
    // Newest first by event time.
    const times = entries.map((x) => Date.parse(x.at));
    expect([...times].sort((p, q) => q - p)).toEqual(times);
    // The rows carry the correlation id and the source service.
    const rows = await id.admin<{ service: string; correlation_id: string }>(`SELECT service, correlation_id FROM audit_entries WHERE id = $1`, [customer.id]);
    expect(rows[0]).toMatchObject({ service: 'customers', correlation_id: customer.metadata.correlationId });

    const bEntries = await until(async () => {
      const all = await audit(ownerOf(b));
      return all.some((x) => x.id === other.id) && all;
    });
    expect(bEntries.some((x) => [task.id, customer.id, run.id].includes(x.id))).toBe(false);
  });

  it('pages with `after` without gaps or repeats, refuses a cursor from another organization', async () => {
    const a = await signUp(id);
    const b = await signUp(id);
    for (let i = 0; i < 3; i++) await id.exec(ANON, LOGIN, { e: a.user.email, p: PASSWORD });
    const all = await audit(ownerOf(a));
    expect(all.length).toBeGreaterThanOrEqual(6);
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r: { data?: { auditLog: Entry[] } | null } = await id.exec<{ auditLog: Entry[] }>(ownerOf(a), AUDIT, { f: 2, a: after });
      const page = r.data!.auditLog;
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.id));
      after = page.at(-1)!.id;
    }
    expect(seen).toEqual(all.map((e) => e.id));
    const bFirst = (await audit(ownerOf(b)))[0]!;
    const foreign = await id.exec(ownerOf(a), AUDIT, { f: 2, a: bFirst.id });
    expect(foreign.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('records failed sign-ins (in the person’s organization, or the system organization for unknown emails) and refresh-token reuse', async () => {
    const a = await signUp(id);
    const wrong = await id.exec(ANON, LOGIN, { e: a.user.email, p: 'not-the-password-1' });
    expect(wrong.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    const ghost = uniqueEmail('ghost');
    const unknown = await id.exec(ANON, LOGIN, { e: ghost, p: 'not-the-password-1' });
    // Same answer for an unknown email: no enumeration.
    expect(unknown.errors![0]!.message).toBe(wrong.errors![0]!.message);
    expect(unknown.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');

    const refreshed = await id.exec<{ refreshToken: Session }>(ANON, REFRESH, { t: a.refreshToken });
    expect(refreshed.errors).toBeUndefined();
    // Its successor used: the first token again is a reuse (not a concurrent refresh within the grace).
    expect((await id.exec(ANON, REFRESH, { t: refreshed.data!.refreshToken.refreshToken })).errors).toBeUndefined();
    const reused = await id.exec(ANON, REFRESH, { t: a.refreshToken });
    expect(reused.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');

    const entries = await audit(ownerOf(a));
    const failed = entries.find((e) => e.action === 'LoginFailed');
    expect(failed).toMatchObject({ actor: 'anonymous' });
    expect(failed!.target).toMatch(/^LoginAttempt-/);
    expect(entries.find((e) => e.action === 'RefreshTokenReused')).toBeTruthy();
    const events = await id.admin<{ data: { userId: string | null; reason: string } }>(
      `SELECT data FROM events WHERE type = 'LoginFailed' AND org_id = $1`,
      [a.organization.id],
    );
    expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ userId: a.user.id, reason: 'invalid_credentials' })]);
    const system = await id.admin<{ n: string }>(
      `SELECT count(*) AS n FROM audit_entries WHERE org_id = $1 AND action = 'LoginFailed' AND at > now() - interval '1 minute'`,
      [SYSTEM_ORG_ID],
    );
    expect(Number(system[0]!.n)).toBeGreaterThanOrEqual(1);
  });

  it('is refused to MEMBER, VIEWER, partner keys without audit:read, and anonymous callers', async () => {
    const a = await signUp(id);
    for (const p of [
      userPrincipal(a.user.id, a.organization.id, 'MEMBER'),
      userPrincipal(a.user.id, a.organization.id, 'VIEWER'),
      { kind: 'apiKey', keyId: randomUUID(), orgId: a.organization.id, clientName: 'p', scopes: ['tasks:read'] } as Principal,
      ANON,
    ]) {
      const r = await id.exec(p, AUDIT, {});
      expect(['FORBIDDEN', 'UNAUTHENTICATED']).toContain(r.errors![0]!.extensions!.code);
      expect(r.data?.auditLog ?? null).toBeNull();
    }
  });
});

describe('sign-in throttling', () => {
  const code = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => r.errors?.[0]?.extensions?.code;

  it('locks an account after 5 failures in the window, even for the right password, with a retry-after; same for unknown emails', async () => {
    const a = await signUp(id);
    for (let i = 0; i < 5; i++) expect(code(await id.exec(ANON, LOGIN, { e: a.user.email, p: `wrong-password-${i}` }))).toBe('UNAUTHENTICATED');
    const locked = await id.exec(ANON, LOGIN, { e: a.user.email, p: PASSWORD });
    expect(locked.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    const retryAfter = locked.errors![0]!.extensions!.retryAfter as number;
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(locked.data?.login ?? null).toBeNull();

    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < 5; i++) expect(code(await id.exec(ANON, LOGIN, { e: ghost, p: `wrong-password-${i}` }))).toBe('UNAUTHENTICATED');
    const ghostLocked = await id.exec(ANON, LOGIN, { e: ghost, p: PASSWORD });
    // Identical to a real account's lock-out: no enumeration through the throttle either.
    expect(ghostLocked.errors![0]!.message).toBe(locked.errors![0]!.message);
    expect(code(ghostLocked)).toBe('RATE_LIMITED');
    // The email is matched case- and space-insensitively.
    expect(code(await id.exec(ANON, LOGIN, { e: ` ${a.user.email.toUpperCase()} `, p: PASSWORD }))).toBe('RATE_LIMITED');
    // Other accounts are unaffected (no IP here).
    const b = await signUp(id);
    expect((await id.exec(ANON, LOGIN, { e: b.user.email, p: PASSWORD })).errors).toBeUndefined();
  });

  it('counts concurrent guesses one by one: 12 parallel wrong passwords → exactly 5 checked, 7 refused', async () => {
    const a = await signUp(id);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => id.exec(ANON, LOGIN, { e: a.user.email, p: `parallel-wrong-${i}` })),
    );
    const codes = results.map(code);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(7);
  });

  it('a successful sign-in resets the account counter; the window slides', async () => {
    const a = await signUp(id);
    const throttled = createServer({
      db: id.db,
      systemDb: id.systemDb,
      keys: id.keys,
      log,
      config: {
        internalSecret: (await import('@cos/testing')).TEST_INTERNAL_SECRET,
        refreshTokenTtlS: 3600,
        invitationTtlS: 3600,
        inviteUrlBase: 'http://app.test/accept',
        loginThrottle: { windowS: 2, maxPerAccount: 3, maxPerIp: 1000 },
      },
    });
    const exec = (vars: Record<string, unknown>) =>
      execSubgraph({ fetch: (u: string, init?: RequestInit) => throttled.yoga.fetch(u, init ?? {}) }, ANON, LOGIN, vars);
    for (let i = 0; i < 2; i++) expect(code(await exec({ e: a.user.email, p: 'wrong-password-x' }))).toBe('UNAUTHENTICATED');
    expect((await exec({ e: a.user.email, p: PASSWORD })).errors).toBeUndefined();
    // Counter reset: three more failures are checked before the lock.
    for (let i = 0; i < 3; i++) expect(code(await exec({ e: a.user.email, p: 'wrong-password-y' }))).toBe('UNAUTHENTICATED');
    const locked = await exec({ e: a.user.email, p: PASSWORD });
    expect(code(locked)).toBe('RATE_LIMITED');
    expect(locked.errors![0]!.extensions!.retryAfter).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 2_100));
    expect((await exec({ e: a.user.email, p: PASSWORD })).errors).toBeUndefined();
  });

  it('limits failures per client IP across accounts; other IPs keep working', async () => {
    const a = await signUp(id);
    const throttled = createServer({
      db: id.db,
      systemDb: id.systemDb,
      keys: id.keys,
      log,
      config: {
        internalSecret: (await import('@cos/testing')).TEST_INTERNAL_SECRET,
        refreshTokenTtlS: 3600,
        invitationTtlS: 3600,
        inviteUrlBase: 'http://app.test/accept',
        loginThrottle: { windowS: 900, maxPerAccount: 100, maxPerIp: 4 },
      },
    });
    const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
    const from = (addr: string): Principal => ({ kind: 'anonymous', ip: addr });
    const exec = (p: Principal, vars: Record<string, unknown>) =>
      execSubgraph({ fetch: (u: string, init?: RequestInit) => throttled.yoga.fetch(u, init ?? {}) }, p, LOGIN, vars);
    for (let i = 0; i < 4; i++) expect(code(await exec(from(ip), { e: uniqueEmail('spray'), p: 'Spray-password-1' }))).toBe('UNAUTHENTICATED');
    const blocked = await exec(from(ip), { e: a.user.email, p: PASSWORD });
    expect(blocked.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(blocked.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
    expect((await exec(from('198.51.100.7'), { e: a.user.email, p: PASSWORD })).errors).toBeUndefined();
    const recorded = await id.admin<{ n: string }>(`SELECT count(*) AS n FROM login_attempts WHERE ip = $1`, [ip]);
    expect(Number(recorded[0]!.n)).toBe(4);
  });
});
