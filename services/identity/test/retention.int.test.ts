import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { startRetentionJob } from '@cos/service-kit';
import { identityRetention } from '../src/store/retention';
import { startIdentity, type Identity } from './harness';

let id: Identity;
beforeAll(async () => {
  id = await startIdentity();
}, 60_000);
afterAll(() => id?.close());

const log = createLogger('retention-test', 'silent');
const days = (n: number) => `now() - interval '${n} days'`;
const ORG = randomUUID();

/** Inserts one row per age into every table identity's retention covers; returns nothing, the test counts. */
async function seed(ageDays: number, n: number) {
  for (let i = 0; i < n; i++) {
    await id.admin(`INSERT INTO login_attempts (id, at, account, ip, outcome) VALUES ($1, ${days(ageDays)}, 'acc', '10.0.0.1', 'failure')`, [randomUUID()]);
    await id.admin(
      `INSERT INTO audit_entries (id, org_id, at, service, actor, action, target) VALUES ($1, $2, ${days(ageDays)}, 'identity', 'system', 'X', 'Y')`,
      [randomUUID(), ORG],
    );
    await id.admin(
      `INSERT INTO refresh_tokens (id, family_id, token_hash, user_id, org_id, created_at, expires_at)
       VALUES ($1, $1, $2, $3, $4, ${days(ageDays + 30)}, ${days(ageDays)})`,
      [randomUUID(), randomUUID(), randomUUID(), ORG],
    );
    await id.admin(
      `INSERT INTO outbound_emails (id, org_id, to_address, subject, body, created_at) VALUES ($1, $2, 'a@b.test', 's', 'b', ${days(ageDays)})`,
      [randomUUID(), ORG],
    );
    await id.admin(`INSERT INTO inbox (consumer, event_id, processed_at) VALUES ('c', $1, ${days(ageDays)})`, [randomUUID()]);
  }
}

const counts = async () => {
  const out: Record<string, number> = {};
  for (const t of ['login_attempts', 'audit_entries', 'refresh_tokens', 'outbound_emails', 'inbox']) {
    out[t] = Number((await id.admin<{ n: string }>(`SELECT count(*) AS n FROM ${t}`))[0]!.n);
  }
  return out;
};

const rules = [
  { table: 'inbox', column: 'processed_at', days: 35 },
  ...identityRetention({ RETENTION_LOGIN_ATTEMPTS_DAYS: 30, RETENTION_AUDIT_DAYS: 365, RETENTION_EXPIRED_SESSIONS_DAYS: 7, RETENTION_OUTBOUND_EMAILS_DAYS: 30 }),
];

describe('retention job (real Postgres)', () => {
  it('deletes rows past their age in batches, keeps younger ones, and counts what it deleted', async () => {
    await id.admin('TRUNCATE login_attempts, audit_entries, refresh_tokens, outbound_emails, inbox');
    await seed(400, 5); // past every retention
    await seed(40, 3); // past login attempts (30), sessions (7), mails (30), inbox (35); not audit (365)
    await seed(1, 2); // young everywhere
    const deletedEvents: Array<[string, number]> = [];
    const job = startRetentionJob({ service: 'identity-test', db: id.systemDb, rules, batchSize: 2, intervalMs: 0, log, onDeleted: (t, n) => deletedEvents.push([t, n]) });
    const deleted = await job.runOnce();
    await job.stop();
    expect(deleted).toEqual({ inbox: 8, login_attempts: 8, audit_entries: 5, refresh_tokens: 8, outbound_emails: 8 });
    expect(await counts()).toEqual({ login_attempts: 2, audit_entries: 5, refresh_tokens: 2, outbound_emails: 2, inbox: 2 });
    // batches of at most 2 rows: 8 rows of inbox took 4 statements
    expect(deletedEvents.filter(([t]) => t === 'inbox').map(([, n]) => n)).toEqual([2, 2, 2, 2]);
    // the young audit entries are the 3 + 2 newest
    const oldest = await id.admin<{ a: boolean }>(`SELECT min(at) > now() - interval '365 days' AS a FROM audit_entries`);
    expect(oldest[0]!.a).toBe(true);
  });

  it('runs on one instance at a time: while another holds the lease, a pass is skipped', async () => {
    await seed(400, 1);
    const holder = new pg.Client({ connectionString: id.tdb.adminUrl });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended('cos-retention:identity-test', 0))`);
      const outcomes: string[] = [];
      const job = startRetentionJob({ service: 'identity-test', db: id.systemDb, rules, batchSize: 100, intervalMs: 0, log, onRun: (o) => outcomes.push(o) });
      expect(await job.runOnce()).toBeNull();
      expect((await counts()).inbox).toBe(3);
      await holder.query(`SELECT pg_advisory_unlock(hashtextextended('cos-retention:identity-test', 0))`);
      expect((await job.runOnce())?.inbox).toBe(1);
      await job.stop();
      expect(outcomes).toEqual(['skipped', 'done']);
    } finally {
      await holder.end();
    }
  });

  it('refuses a rule of less than a day or with a bad identifier', () => {
    expect(() => startRetentionJob({ service: 's', db: id.systemDb, rules: [{ table: 'inbox', column: 'processed_at', days: 0 }], batchSize: 1, intervalMs: 0, log })).toThrow(/at least one day/);
    expect(() => startRetentionJob({ service: 's', db: id.systemDb, rules: [{ table: 'inbox; drop', column: 'x', days: 1 }], batchSize: 1, intervalMs: 0, log })).toThrow(/bad identifier/);
  });
});
