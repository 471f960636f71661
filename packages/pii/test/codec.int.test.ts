import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, Db, type Tx } from '@cos/db';
import { createTestDatabase, type TestDatabase } from '@cos/testing';
import { configureMasterKeys, createPiiCodec, ERASED, isSealed, PII_KEYS_TABLE_SQL, rewrapKeys } from '../src/index';

let tdb: TestDatabase;
let db: Db;
const run = <T>(fn: (tx: Tx) => Promise<T>) => db.tx({ orgId: null }, fn);

beforeAll(async () => {
  tdb = await createTestDatabase('cos_pii');
  db = new Db(createPool({ connectionString: tdb.adminUrl, schema: 'pii', applicationName: 'pii-test', max: 2, statementTimeoutMs: 5_000 }));
  await db.pool.query('CREATE SCHEMA pii');
  await run((tx) => tx.query(PII_KEYS_TABLE_SQL));
  await run((tx) => tx.query(PII_KEYS_TABLE_SQL.replace('pii_keys', 'rotation_keys')));
}, 60_000);
afterAll(async () => {
  configureMasterKeys(undefined);
  await db?.close();
  await tdb?.drop();
});

const codec = createPiiCodec({
  UserRegistered: [{ subject: 'userId', fields: [{ name: 'email', erased: null }, { name: 'name', erased: ERASED }] }],
  CustomerCreated: [{ each: 'contacts', subject: 'id', fields: [{ name: 'name', erased: ERASED }, { name: 'email', erased: null }] }],
});

const registered = (userId: string, email = `${userId.slice(0, 8)}@example.test`) => ({
  type: 'UserRegistered',
  data: { userId, email, name: 'Petra Private' },
});

describe('@cos/pii codec (AES-256-GCM data key per subject, real Postgres)', () => {
  it('seals personal fields on encode (no plaintext stored), opens them on decode, leaves other fields and types alone', async () => {
    const userId = randomUUID();
    const [stored] = await run((tx) => codec.encode(tx, [registered(userId), { type: 'Other', data: { email: 'x@y' } }]));
    const text = JSON.stringify(stored);
    expect(text).not.toContain('Petra');
    expect(text).not.toContain('@example.test');
    expect(text).toContain(userId); // the subject id is not personal: it stays readable
    expect(isSealed((stored as { email: unknown }).email)).toBe(true);
    const [opened] = await run((tx) => codec.decode(tx, [{ type: 'UserRegistered', data: stored }]));
    expect(opened!.data).toEqual(registered(userId).data);
    const keys = await run((tx) => tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM pii_keys WHERE subject_id = $1`, [userId]));
    expect(keys[0]!.n).toBe(1);
  });

  it('erasing a subject destroys its key: its fields read as placeholders, other subjects are untouched', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const stored = await run((tx) => codec.encode(tx, [registered(a), registered(b)]));
    expect(await run((tx) => codec.erase(tx, [a]))).toBe(1);
    const opened = await run((tx) => codec.decode(tx, stored.map((data) => ({ type: 'UserRegistered', data }))));
    expect(opened[0]!.data).toEqual({ userId: a, email: null, name: ERASED });
    expect(opened[1]!.data).toEqual(registered(b).data);
    const row = await run((tx) => tx.query<{ wrapped_key: Buffer | null; erased_at: Date | null }>(`SELECT wrapped_key, erased_at FROM pii_keys WHERE subject_id = $1`, [a]));
    expect(row[0]).toMatchObject({ wrapped_key: null });
    expect(row[0]!.erased_at).toBeInstanceOf(Date);
    // An event written later for an erased subject carries no ciphertext at all.
    const [late] = await run((tx) => codec.encode(tx, [registered(a)]));
    expect(JSON.stringify(late)).not.toContain('Petra');
    expect((late as { name: { c?: string } }).name.c).toBeUndefined();
  });

  it('one subject per element of an array (contacts): erasing one contact leaves the others', async () => {
    const [c1, c2] = [randomUUID(), randomUUID()];
    const event = { type: 'CustomerCreated', data: { customerId: randomUUID(), name: 'Acme', contacts: [{ id: c1, name: 'Ann', email: 'ann@acme.test' }, { id: c2, name: 'Bob', email: null }] } };
    const [stored] = await run((tx) => codec.encode(tx, [event]));
    expect(JSON.stringify(stored)).not.toMatch(/Ann|Bob|ann@acme/);
    expect(JSON.stringify(stored)).toContain('Acme');
    await run((tx) => codec.erase(tx, [c1]));
    const [opened] = await run((tx) => codec.decode(tx, [{ type: 'CustomerCreated', data: stored }]));
    expect(opened!.data).toEqual({ ...event.data, contacts: [{ id: c1, name: ERASED, email: null }, { id: c2, name: 'Bob', email: null }] });
  });

  it('events stored before encryption (plaintext) still load; once their subject is erased they read as placeholders', async () => {
    const userId = randomUUID();
    const legacy = registered(userId);
    const [before] = await run((tx) => codec.decode(tx, [legacy]));
    expect(before!.data).toEqual(legacy.data);
    await run((tx) => codec.erase(tx, [userId]));
    const [after] = await run((tx) => codec.decode(tx, [legacy]));
    expect(after!.data).toEqual({ userId, email: null, name: ERASED });
  });

  it('a ciphertext copied to another subject does not open (the subject is the additional data)', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const [sa, sb] = (await run((tx) => codec.encode(tx, [registered(a), registered(b)]))) as Array<Record<string, { c: string }>>;
    const forged = { ...sb, name: { ...sa!.name, s: b } };
    const [opened] = await run((tx) => codec.decode(tx, [{ type: 'UserRegistered', data: forged }]));
    expect((opened!.data as unknown as { name: string }).name).toBe(ERASED);
  });

  it('master key rotation: old data keys open with the previous key, pii:rotate re-wraps them, then the old key can go', async () => {
    const oldKey = randomBytes(32).toString('hex');
    const newKey = randomBytes(32).toString('base64');
    configureMasterKeys(oldKey);
    const rot = createPiiCodec(codec.rules, { table: 'rotation_keys' });
    const userId = randomUUID();
    const [stored] = await run((tx) => rot.encode(tx, [registered(userId)]));
    const decode = () => run((tx) => rot.decode(tx, [{ type: 'UserRegistered', data: stored }]));

    configureMasterKeys(newKey);
    await expect(decode()).rejects.toThrow(/not configured \(PII_PREVIOUS_MASTER_KEYS\?\)/);
    const ring = configureMasterKeys(newKey, [oldKey]);
    expect((await decode())[0]!.data).toEqual(registered(userId).data);
    expect(await run((tx) => rewrapKeys(tx, 'rotation_keys'))).toBe(1);
    expect(await run((tx) => rewrapKeys(tx, 'rotation_keys'))).toBe(0);
    const ids = await run((tx) => tx.query<{ master_key_id: string }>(`SELECT DISTINCT master_key_id FROM rotation_keys WHERE wrapped_key IS NOT NULL`));
    expect(ids.map((r) => r.master_key_id)).toEqual([ring.current.id]);
    configureMasterKeys(newKey);
    expect((await decode())[0]!.data).toEqual(registered(userId).data);
  });

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => configureMasterKeys('too-short')).toThrow(/32 bytes/);
  });
});
