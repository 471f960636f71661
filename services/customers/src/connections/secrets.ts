/**
 * Envelope encryption of connection credentials (node:crypto, AES-256-GCM).
 *
 * Each secret gets its own random 256-bit data key; the secret is encrypted with the data key, and the data key is
 * wrapped (AES-256-GCM again) by a master key from the key ring, whose id is stored next to the ciphertext. Rotating
 * the master key is: put the new key first in the ring (CONNECTIONS_MASTER_KEYS), keep the old one after it until
 * `rewrapAll` (run by the connector runner at start and by `pnpm --filter @cos/customers rewrap-secrets`) has
 * re-wrapped every data key, then drop it. Only the data keys are re-wrapped; the secrets' ciphertexts stay as they are.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { SecretHint } from '@cos/events';

export interface MasterKey {
  id: string;
  key: Buffer;
}

/** The master keys, the first one active (wraps new data keys); the others only unwrap. */
export interface KeyRing {
  active: MasterKey;
  byId: Map<string, MasterKey>;
}

export interface EncryptedSecret {
  keyId: string;
  wrappedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,40}$/;

/**
 * Parses `id:base64key,id:base64key` (each key 32 bytes). Throws a message naming what is wrong (env.ts reports it).
 */
export function parseKeyRing(spec: string): KeyRing {
  const keys: MasterKey[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const sep = part.indexOf(':');
    const id = sep > 0 ? part.slice(0, sep) : '';
    if (!KEY_ID.test(id)) throw new Error('each key is `id:base64` with an id of letters, digits, _ . -');
    const key = Buffer.from(part.slice(sep + 1), 'base64');
    if (key.length !== 32) throw new Error(`key ${id} must be 32 bytes (base64 of 32 random bytes)`);
    if (keys.some((k) => k.id === id)) throw new Error(`key id ${id} appears twice`);
    keys.push({ id, key });
  }
  if (keys.length === 0) throw new Error('at least one key is needed');
  return { active: keys[0]!, byId: new Map(keys.map((k) => [k.id, k])) };
}

/**
 * The development key ring when no master key is configured (never in production, see env.ts): derived from the
 * internal secret, so a local stack keeps decrypting across restarts.
 */
export function developmentKeyRing(internalSecret: string): KeyRing {
  const key = Buffer.from(hkdfSync('sha256', internalSecret, 'cos-connections', 'connections master key (development)', 32));
  const k = { id: 'dev', key };
  return { active: k, byId: new Map([[k.id, k]]) };
}

function seal(key: Buffer, plaintext: Buffer, aad: string) {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

function open(key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

// The wrapped data key is iv(12) | tag(16) | ciphertext(32).
function wrap(master: MasterKey, dataKey: Buffer, aad: string): Buffer {
  const s = seal(master.key, dataKey, `wrap:${aad}`);
  return Buffer.concat([s.iv, s.tag, s.ciphertext]);
}

function unwrap(ring: KeyRing, keyId: string, wrapped: Buffer, aad: string): Buffer {
  const master = ring.byId.get(keyId);
  if (!master) throw new Error(`master key ${keyId} is not in the key ring`);
  return open(master.key, wrapped.subarray(0, 12), wrapped.subarray(28), wrapped.subarray(12, 28), `wrap:${aad}`);
}

/**
 * Encrypts `secret`; `aad` binds the ciphertext to its owner (connection id and kind), so a row copied onto another
 * connection does not decrypt.
 */
export function encryptSecret(ring: KeyRing, secret: string, aad: string): EncryptedSecret {
  const dataKey = randomBytes(32);
  const s = seal(dataKey, Buffer.from(secret, 'utf8'), aad);
  const wrappedKey = wrap(ring.active, dataKey, aad);
  dataKey.fill(0);
  return { keyId: ring.active.id, wrappedKey, ...s };
}

export function decryptSecret(ring: KeyRing, e: EncryptedSecret, aad: string): string {
  const dataKey = unwrap(ring, e.keyId, e.wrappedKey, aad);
  try {
    return open(dataKey, e.iv, e.ciphertext, e.tag, aad).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/** The same secret with its data key wrapped by the active master key (null when it already is). */
export function rewrap(ring: KeyRing, e: EncryptedSecret, aad: string): EncryptedSecret | null {
  if (e.keyId === ring.active.id) return null;
  const dataKey = unwrap(ring, e.keyId, e.wrappedKey, aad);
  try {
    return { ...e, keyId: ring.active.id, wrappedKey: wrap(ring.active, dataKey, aad) };
  } finally {
    dataKey.fill(0);
  }
}

/** What may be shown of a secret. */
export function hintOf(secret: string): SecretHint {
  return { last4: secret.slice(-4), fingerprint: createHash('sha256').update(secret).digest('hex').slice(0, 16) };
}

/** A fresh webhook signing secret (shown once). */
export const generateWebhookSecret = () => `whsec_${randomBytes(24).toString('base64url')}`;
