import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from './principal';

export const PRINCIPAL_HEADER = 'x-cos-principal';
export const SIGNATURE_HEADER = 'x-cos-signature';

/** How long a signed header stays valid: covers clock skew between hosts and slow subgraph queues. */
const MAX_AGE_SECONDS = 120;

/**
 * Signs the principal for the gateway -> subgraph hop. The header value is `<base64url json>` and the signature
 * `v1,<unix seconds>,<hex hmac-sha256 over "v1.<ts>.<payload>">`, keyed with the shared internal secret.
 */
export function signPrincipal(principal: Principal, secret: string, now = Date.now()): Record<string, string> {
  const payload = Buffer.from(JSON.stringify(principal)).toString('base64url');
  const ts = Math.floor(now / 1000);
  const mac = createHmac('sha256', secret).update(`v1.${ts}.${payload}`).digest('hex');
  return { [PRINCIPAL_HEADER]: payload, [SIGNATURE_HEADER]: `v1,${ts},${mac}` };
}

export type VerifyResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Verifies what signPrincipal produced; anything else (missing, tampered, stale) is refused. */
export function verifyPrincipal(
  payload: string | null | undefined,
  signature: string | null | undefined,
  secret: string,
  now = Date.now(),
): VerifyResult {
  if (!payload || !signature) return { ok: false, reason: 'missing internal signature' };
  const [v, tsRaw, mac] = signature.split(',');
  const ts = Number(tsRaw);
  if (v !== 'v1' || !mac || !Number.isInteger(ts)) return { ok: false, reason: 'malformed signature' };
  if (Math.abs(now / 1000 - ts) > MAX_AGE_SECONDS) return { ok: false, reason: 'stale signature' };
  const expected = createHmac('sha256', secret).update(`v1.${ts}.${payload}`).digest();
  const given = Buffer.from(mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' };
  try {
    const principal = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Principal;
    if (!principal || typeof principal !== 'object' || typeof principal.kind !== 'string') {
      return { ok: false, reason: 'malformed principal' };
    }
    return { ok: true, principal };
  } catch {
    return { ok: false, reason: 'malformed principal' };
  }
}
