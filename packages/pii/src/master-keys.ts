import { createHash } from 'node:crypto';

/** A key-encryption key: wraps the per-subject data keys stored in a service's `pii_keys` table. */
export interface MasterKey {
  /** Stored next to each wrapped data key so the right master unwraps it after a rotation. */
  id: string;
  key: Buffer;
}

/** The master key that wraps new data keys and the older ones still able to unwrap (rotation). */
export interface MasterKeyRing {
  current: MasterKey;
  previous: MasterKey[];
}

/**
 * The development master key: used when PII_MASTER_KEY is unset outside production (a checkout, the tests), so the
 * stack runs without setup. Production refuses to start without PII_MASTER_KEY (service-kit's env).
 */
const DEV_MASTER_KEY = createHash('sha256').update('company-os-graph development PII master key, never for production').digest();

export const masterKeyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 16);

/**
 * Parses a master key: 32 bytes as 64 hex characters or as base64 (44 characters). Throws a message naming what
 * is wrong (never the key itself).
 */
export function parseMasterKey(text: string): MasterKey {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== 32) throw new Error('a PII master key must be 32 bytes, as 64 hex characters or base64');
  return { id: masterKeyId(key), key };
}

let ring: MasterKeyRing = { current: { id: masterKeyId(DEV_MASTER_KEY), key: DEV_MASTER_KEY }, previous: [] };
let configured = false;

/**
 * Sets the process's master keys (service-kit calls it from PII_MASTER_KEY and PII_PREVIOUS_MASTER_KEYS at startup;
 * the rebuild and rotation commands from the same env). `previous`: keys that still unwrap data keys wrapped before
 * a rotation, until `pnpm pii:rotate` re-wrapped them.
 */
export function configureMasterKeys(current: string | undefined, previous: string[] = []): MasterKeyRing {
  const dev = { id: masterKeyId(DEV_MASTER_KEY), key: DEV_MASTER_KEY };
  const cur = current ? parseMasterKey(current) : dev;
  const prev = previous.filter((p) => p.trim() !== '').map(parseMasterKey);
  ring = { current: cur, previous: prev.filter((p) => p.id !== cur.id) };
  configured = current !== undefined;
  return ring;
}

export const masterKeys = (): MasterKeyRing => ring;
/** True when a real (non-development) master key was configured. */
export const hasConfiguredMasterKey = () => configured;

export function masterKeyById(id: string): MasterKey | undefined {
  if (ring.current.id === id) return ring.current;
  return ring.previous.find((k) => k.id === id);
}
