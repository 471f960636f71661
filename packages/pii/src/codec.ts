import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { masterKeyById, masterKeys, type MasterKey } from './master-keys';

/** The one thing the codec needs from a database connection (a @cos/db Tx, or a pg client wrapped). */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
}

/**
 * A personal field, stored encrypted: `{ "$pii": 1, "s": subjectId, "c": base64(iv | tag | ciphertext) }`. The
 * plaintext is the JSON of the value; the subject id is the AES-GCM additional data (a ciphertext cannot be moved to
 * another subject). Written for an already erased subject: `{ "$pii": 1, "s": subjectId }` (nothing to decrypt).
 */
export interface SealedValue {
  $pii: 1;
  s: string;
  c?: string;
}

export const isSealed = (v: unknown): v is SealedValue =>
  typeof v === 'object' && v !== null && (v as { $pii?: unknown }).$pii === 1 && typeof (v as { s?: unknown }).s === 'string';

/** What an erased subject's field reads as. Strings that must stay non-empty use ERASED; optional ones null. */
export const ERASED = '[erased]';

/** One personal field of a subject: its key in the subject's object and what it reads as once erased. */
export interface PiiField {
  name: string;
  erased: string | null;
}

/**
 * Where an event type keeps personal data: the subject's id and its personal fields, in `data` itself or in each
 * element of the array `data[each]` (e.g. a customer's contacts, one subject per contact). A null/absent subject id
 * leaves the fields as they are (nobody to erase them for: documented per event in docs/privacy.md).
 */
export interface PiiRule {
  each?: string;
  subject: string;
  fields: PiiField[];
}
export type PiiRules = Record<string, PiiRule[]>;

const IV = 12;
const TAG = 16;

function seal(key: Buffer, subject: string, value: unknown): string {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(subject, 'utf8'));
  const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

function open(key: Buffer, subject: string, sealed: string): unknown {
  const buf = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV));
  decipher.setAAD(Buffer.from(subject, 'utf8'));
  decipher.setAuthTag(buf.subarray(IV, IV + TAG));
  return JSON.parse(Buffer.concat([decipher.update(buf.subarray(IV + TAG)), decipher.final()]).toString('utf8'));
}

/** Wraps a data key with a master key (AES-256-GCM, AAD = subject id). */
const wrap = (master: MasterKey, subject: string, dataKey: Buffer): Buffer => {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', master.key, iv);
  cipher.setAAD(Buffer.from(`pii-key:${subject}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
};

function unwrap(masterKeyId: string, subject: string, wrapped: Buffer): Buffer {
  const master = masterKeyById(masterKeyId);
  if (!master) {
    throw new Error(`PII data key of ${subject} is wrapped by master key ${masterKeyId}, which is not configured (PII_PREVIOUS_MASTER_KEYS?)`);
  }
  const decipher = createDecipheriv('aes-256-gcm', master.key, wrapped.subarray(0, IV));
  decipher.setAAD(Buffer.from(`pii-key:${subject}`, 'utf8'));
  decipher.setAuthTag(wrapped.subarray(IV, IV + TAG));
  return Buffer.concat([decipher.update(wrapped.subarray(IV + TAG)), decipher.final()]);
}

interface KeyRow extends Record<string, unknown> {
  subject_id: string;
  wrapped_key: Buffer | null;
  master_key_id: string | null;
}

/** Data keys of some subjects: a Buffer, or null for an erased (or never keyed) subject. */
type KeyMap = Map<string, Buffer | null>;

async function loadKeys(q: Queryable, table: string, subjects: string[]): Promise<KeyMap> {
  const map: KeyMap = new Map();
  if (subjects.length === 0) return map;
  const rows = await q.query<KeyRow>(
    `/* piiLoadKeys */ SELECT subject_id, wrapped_key, master_key_id FROM ${table} WHERE subject_id = ANY($1::text[])`,
    [subjects],
  );
  for (const r of rows) map.set(r.subject_id, r.wrapped_key && r.master_key_id ? unwrap(r.master_key_id, r.subject_id, r.wrapped_key) : null);
  return map;
}

/** Creates missing data keys (race-safe: a concurrent creator's key wins and is read back). */
async function ensureKeys(q: Queryable, table: string, subjects: string[]): Promise<KeyMap> {
  const unique = [...new Set(subjects)];
  if (unique.length === 0) return new Map();
  const master = masterKeys().current;
  const ids: string[] = [];
  const keys: Buffer[] = [];
  for (const s of unique) {
    ids.push(s);
    keys.push(wrap(master, s, randomBytes(32)));
  }
  await q.query(
    `/* piiEnsureKeys */ INSERT INTO ${table} (subject_id, wrapped_key, master_key_id)
     SELECT s, k, $3 FROM unnest($1::text[], $2::bytea[]) AS t(s, k)
     ON CONFLICT (subject_id) DO NOTHING`,
    [ids, keys, master.id],
  );
  return loadKeys(q, table, unique);
}

const get = (o: unknown, k: string): unknown => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined);

/** Visits every (subject, object holding the fields) pair a rule names in `data`. */
function* targets(rule: PiiRule, data: unknown): Generator<{ subject: string; holder: Record<string, unknown> }> {
  const holders = rule.each ? get(data, rule.each) : [data];
  if (!Array.isArray(holders)) return;
  for (const h of holders) {
    if (!h || typeof h !== 'object') continue;
    const subject = get(h, rule.subject);
    if (typeof subject === 'string' && subject !== '') yield { subject, holder: h as Record<string, unknown> };
  }
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** The minimal event shape the codec works on (DomainEvent and StoredEvent both fit). */
export interface CodecEvent {
  type: string;
  data: unknown;
}

/**
 * Crypto-shredding for one service: the events' personal fields are encrypted with a data key per subject, kept in
 * `table` (wrapped by the master key). Erasing a subject deletes its key; its fields then read as the rule's
 * placeholder everywhere (aggregates, projections, rebuilds, the bus), while the event history stays intact.
 */
export function createPiiCodec(rules: PiiRules, opts: { table?: string } = {}) {
  const table = opts.table ?? 'pii_keys';
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`bad PII key table name: ${table}`);

  /** The `data` of each event as it is stored: personal fields sealed (a data key created per new subject). */
  async function encode(q: Queryable, events: readonly CodecEvent[]): Promise<unknown[]> {
    const subjects: string[] = [];
    for (const e of events) for (const rule of rules[e.type] ?? []) for (const t of targets(rule, e.data)) subjects.push(t.subject);
    if (subjects.length === 0) return events.map((e) => e.data);
    const keys = await ensureKeys(q, table, subjects);
    return events.map((e) => {
      const rs = rules[e.type];
      if (!rs) return e.data;
      const data = clone(e.data);
      for (const rule of rs) {
        for (const { subject, holder } of targets(rule, data)) {
          const key = keys.get(subject);
          for (const f of rule.fields) {
            const v = holder[f.name];
            if (v === undefined || v === null || isSealed(v)) continue;
            holder[f.name] = key ? { $pii: 1, s: subject, c: seal(key, subject, v) } : { $pii: 1, s: subject };
          }
        }
      }
      return data;
    });
  }

  /**
   * Events with their personal fields opened: a sealed field of an erased subject reads as the rule's placeholder;
   * a plaintext field (an event stored before encryption) is kept as it is, unless its subject was erased.
   */
  async function decode<E extends CodecEvent>(q: Queryable, events: readonly E[]): Promise<E[]> {
    const subjects = new Set<string>();
    for (const e of events) for (const rule of rules[e.type] ?? []) for (const t of targets(rule, e.data)) subjects.add(t.subject);
    if (subjects.size === 0) return events as E[];
    const keys = await loadKeys(q, table, [...subjects]);
    return events.map((e) => {
      const rs = rules[e.type];
      if (!rs) return e;
      const data = clone(e.data);
      for (const rule of rs) {
        for (const { subject, holder } of targets(rule, data)) {
          const key = keys.get(subject);
          // A key row without a key is an erased subject; no row at all is a subject from before encryption.
          const erased = keys.has(subject) && key === null;
          for (const f of rule.fields) {
            const v = holder[f.name];
            if (v === undefined || v === null) continue;
            if (isSealed(v)) {
              let opened: unknown = f.erased;
              if (key && v.c) {
                try {
                  opened = open(key, subject, v.c);
                } catch {
                  opened = f.erased;
                }
              }
              holder[f.name] = opened;
            } else if (erased) {
              holder[f.name] = f.erased;
            }
          }
        }
      }
      return { ...e, data };
    });
  }

  /**
   * Crypto-shreds subjects: their data keys are destroyed (the row stays as a tombstone, so later events for them
   * are written without plaintext). Returns how many keys were destroyed now.
   */
  async function erase(q: Queryable, subjects: readonly string[]): Promise<number> {
    if (subjects.length === 0) return 0;
    const rows = await q.query(
      `/* piiErase */ INSERT INTO ${table} (subject_id, wrapped_key, master_key_id, erased_at)
       SELECT s, NULL, NULL, now() FROM unnest($1::text[]) AS t(s)
       ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL, master_key_id = NULL, erased_at = coalesce(${table}.erased_at, now())
       RETURNING subject_id`,
      [[...new Set(subjects)]],
    );
    return rows.length;
  }

  async function isErased(q: Queryable, subject: string): Promise<boolean> {
    const rows = await q.query(`/* piiIsErased */ SELECT 1 FROM ${table} WHERE subject_id = $1 AND erased_at IS NOT NULL`, [subject]);
    return rows.length > 0;
  }

  /**
   * Seals personal fields still stored in plaintext in the `events` table (events appended before encryption), in
   * place, in global order and batches: a field of a live subject gets sealed with its key, one of an erased subject
   * becomes a tombstone without ciphertext. `subjects`: only events mentioning them (erasure scrubs a person's old
   * events at once; it scans the events of these types). The one sanctioned rewrite of stored events: the meaning
   * of every event is unchanged, only its personal fields' storage. Returns how many events were rewritten.
   */
  async function sealStoredEvents(q: Queryable, opts: { subjects?: readonly string[]; batchSize?: number } = {}): Promise<number> {
    const types = Object.keys(rules);
    const batchSize = opts.batchSize ?? 500;
    const subjects = opts.subjects ? [...new Set(opts.subjects)] : null;
    let after = '0';
    let rewritten = 0;
    for (;;) {
      const rows = await q.query<{ global_position: string; type: string; data: unknown }>(
        `/* piiPlaintextEvents */ SELECT global_position, type, data FROM events
         WHERE global_position > $1 AND type = ANY($2::text[])
           AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS s(id) WHERE data::text LIKE '%' || s.id || '%'))
         ORDER BY global_position LIMIT $3`,
        [after, types, batchSize, subjects],
      );
      if (rows.length === 0) return rewritten;
      const sealed = await encode(q, rows.map((r) => ({ type: r.type, data: r.data })));
      for (const [i, r] of rows.entries()) {
        if (JSON.stringify(sealed[i]) === JSON.stringify(r.data)) continue;
        await q.query(`/* piiSealEvent */ UPDATE events SET data = $2 WHERE global_position = $1`, [r.global_position, JSON.stringify(sealed[i])]);
        rewritten++;
      }
      after = rows.at(-1)!.global_position;
      if (rows.length < batchSize) return rewritten;
    }
  }

  return { rules, table, encode, decode, erase, isErased, sealStoredEvents };
}

export type PiiCodec = ReturnType<typeof createPiiCodec>;

/**
 * Re-wraps every data key not wrapped by the current master key (after a rotation: the new key in PII_MASTER_KEY,
 * the old one in PII_PREVIOUS_MASTER_KEYS), in batches. Returns how many were re-wrapped.
 */
export async function rewrapKeys(q: Queryable, table = 'pii_keys', batchSize = 500): Promise<number> {
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`bad PII key table name: ${table}`);
  const current = masterKeys().current;
  let total = 0;
  for (;;) {
    const rows = await q.query<KeyRow>(
      `/* piiKeysToRewrap */ SELECT subject_id, wrapped_key, master_key_id FROM ${table}
       WHERE wrapped_key IS NOT NULL AND master_key_id <> $1 ORDER BY subject_id LIMIT $2`,
      [current.id, batchSize],
    );
    if (rows.length === 0) return total;
    const ids = rows.map((r) => r.subject_id);
    const wrapped = rows.map((r) => wrap(current, r.subject_id, unwrap(r.master_key_id!, r.subject_id, r.wrapped_key!)));
    await q.query(
      `/* piiRewrap */ UPDATE ${table} k SET wrapped_key = t.w, master_key_id = $3
       FROM unnest($1::text[], $2::bytea[]) AS t(s, w) WHERE k.subject_id = t.s`,
      [ids, wrapped, current.id],
    );
    total += rows.length;
  }
}
