/**
 * Signed tokens of the attachments flow, HMAC-SHA256 with keys derived from the internal secret (one key per
 * purpose, so a blob reference is never accepted as a download URL or the other way round):
 * - blob references: the gateway stored an upload and hands the subgraph `{sha256, size, type, name, orgId}` in place
 *   of the file; the tasks subgraph accepts only references it can verify, for the caller's organization, fresh.
 * - download URLs: `/files/<token>` on the gateway's port, bound to an organization and a blob, expiring.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const key = (secret: string, purpose: string) => createHmac('sha256', secret).update(`cos-files:${purpose}:v1`).digest();
const mac = (secret: string, purpose: string, payload: string) => createHmac('sha256', key(secret, purpose)).update(payload).digest();

function sign(secret: string, purpose: string, body: object): string {
  const payload = b64(JSON.stringify(body));
  return `${payload}.${b64(mac(secret, purpose, payload))}`;
}

function verify(secret: string, purpose: string, token: string): Record<string, unknown> | null {
  if (typeof token !== 'string' || token.length > 4096) return null;
  const parts = token.split('.');
  if (parts.length !== 2) return null;
  const [payload, sig] = parts as [string, string];
  const expected = mac(secret, purpose, payload);
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export interface BlobRef {
  sha256: string;
  size: number;
  /** The sniffed (= declared) content type. */
  type: string;
  /** The client's file name, sanitized. */
  name: string;
  /** The organization of the caller who uploaded it. */
  orgId: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A reference the gateway puts in the variables in place of an uploaded file (valid `ttlMs`, default 10 minutes). */
export function signBlobRef(ref: BlobRef, secret: string, now = Date.now(), ttlMs = 10 * 60_000): string {
  return `blob:${sign(secret, 'blob-ref', { ...ref, exp: now + ttlMs })}`;
}

/** The reference, or why it is refused ('invalid' covers tampering and foreign secrets; 'expired'). */
export function verifyBlobRef(token: string, secret: string, now = Date.now()): { ok: true; ref: BlobRef } | { ok: false; reason: 'invalid' | 'expired' } {
  if (typeof token !== 'string' || !token.startsWith('blob:')) return { ok: false, reason: 'invalid' };
  const b = verify(secret, 'blob-ref', token.slice(5));
  if (
    !b ||
    typeof b.sha256 !== 'string' || !SHA256.test(b.sha256) ||
    typeof b.size !== 'number' || !Number.isInteger(b.size) || b.size < 0 ||
    typeof b.type !== 'string' || typeof b.name !== 'string' ||
    typeof b.orgId !== 'string' || !UUID.test(b.orgId) || typeof b.exp !== 'number'
  ) {
    return { ok: false, reason: 'invalid' };
  }
  if (b.exp < now) return { ok: false, reason: 'expired' };
  return { ok: true, ref: { sha256: b.sha256, size: b.size, type: b.type, name: b.name, orgId: b.orgId } };
}

export interface DownloadGrant {
  orgId: string;
  sha256: string;
  name: string;
  type: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

/** The path of a short-lived download URL (`/files/<token>`), served by the gateway. */
export function signDownloadPath(grant: DownloadGrant, secret: string): string {
  return `/files/${sign(secret, 'download', { o: grant.orgId, s: grant.sha256, n: grant.name, t: grant.type, e: grant.exp })}`;
}

export function verifyDownloadToken(token: string, secret: string, now = Date.now()): { ok: true; grant: DownloadGrant } | { ok: false; reason: 'invalid' | 'expired' } {
  const b = verify(secret, 'download', token);
  if (!b || typeof b.o !== 'string' || typeof b.s !== 'string' || !SHA256.test(b.s) || typeof b.n !== 'string' || typeof b.t !== 'string' || typeof b.e !== 'number') {
    return { ok: false, reason: 'invalid' };
  }
  if (b.e < now) return { ok: false, reason: 'expired' };
  return { ok: true, grant: { orgId: b.o, sha256: b.s, name: b.n, type: b.t, exp: b.e } };
}

/** A file name safe to store and to put in Content-Disposition: no path, no control characters, at most 200 characters. */
export function sanitizeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim().slice(0, 200);
  return clean.length > 0 && clean !== '.' && clean !== '..' ? clean : 'file';
}

/** `attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>` (RFC 6266). */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
