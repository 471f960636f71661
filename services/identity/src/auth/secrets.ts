import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** sha256 hex: how refresh tokens, invitation tokens and API key secrets are stored (never in plain text). */
export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

/** An opaque bearer token: 32 random bytes, base64url (43 characters). */
export const newOpaqueToken = (): string => randomBytes(32).toString('base64url');

const API_KEY_RE = /^cos_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

/** A partner API key secret `cos_<8 hex prefix>_<32 random bytes base64url>`; the prefix finds the row. */
export function newApiKeySecret(): { secret: string; prefix: string } {
  const prefix = randomBytes(4).toString('hex');
  return { secret: `cos_${prefix}_${newOpaqueToken()}`, prefix };
}

/** The prefix of a well-formed API key secret, or null. */
export function apiKeyPrefix(secret: string): string | null {
  return API_KEY_RE.exec(secret)?.[1] ?? null;
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
