import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret, hintOf, parseKeyRing, rewrap } from '../src/connections/secrets';
import { mapWebhook, severityOf, verifySignature } from '../src/connections/providers';
import { retryAfterMs } from '../src/connections/pullers';
import { signStripe } from './support/providers';

const k = () => randomBytes(32).toString('base64');

describe('envelope encryption', () => {
  it('round-trips, and refuses a ciphertext moved to another connection (associated data) or tampered with', () => {
    const ring = parseKeyRing(`a:${k()}`);
    const e = encryptSecret(ring, 'whsec_secret_value', 'connection:1:WEBHOOK_SECRET');
    expect(decryptSecret(ring, e, 'connection:1:WEBHOOK_SECRET')).toBe('whsec_secret_value');
    expect(() => decryptSecret(ring, e, 'connection:2:WEBHOOK_SECRET')).toThrow();
    const flipped = Buffer.from(e.ciphertext);
    flipped[0] = flipped[0]! ^ 1;
    const tampered = { ...e, ciphertext: flipped };
    expect(() => decryptSecret(ring, tampered, 'connection:1:WEBHOOK_SECRET')).toThrow();
    expect(() => decryptSecret(parseKeyRing(`a:${k()}`), e, 'connection:1:WEBHOOK_SECRET')).toThrow();
  });

  it('re-wraps only the data key, with the active master key', () => {
    const old = `old:${k()}`;
    const e = encryptSecret(parseKeyRing(old), 'tok', 'x');
    const ring = parseKeyRing(`new:${k()},${old}`);
    const r = rewrap(ring, e, 'x')!;
    expect(r.keyId).toBe('new');
    expect(r.ciphertext.equals(e.ciphertext)).toBe(true);
    expect(decryptSecret(ring, r, 'x')).toBe('tok');
    expect(rewrap(ring, r, 'x')).toBeNull();
  });

  it('key ring syntax errors name the problem', () => {
    expect(() => parseKeyRing('')).toThrow(/at least one/);
    expect(() => parseKeyRing('a:' + randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
    expect(() => parseKeyRing(`a:${k()},a:${k()}`)).toThrow(/twice/);
    expect(() => parseKeyRing(k())).toThrow(/id:base64/);
  });

  it('hints show the last 4 characters and a fingerprint, never the secret', () => {
    expect(hintOf('whsec_abcdefgh')).toEqual({ last4: 'efgh', fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});

describe('providers', () => {
  const now = new Date();
  const opts = { now, toleranceS: 300, bodyToleranceS: 86_400 };
  const headers = (h: Record<string, string>) => new Headers(h);

  it('Stripe: any of several v1 signatures may match (secret rollover); a malformed header is MISSING_SIGNATURE', () => {
    const body = Buffer.from('{"id":"evt_1"}');
    const good = signStripe('whsec_1', body.toString());
    const multi = `${good},v1=${'0'.repeat(64)}`;
    expect(verifySignature('BILLING_STRIPE', headers({ 'stripe-signature': multi }), body, 'whsec_1', opts)).toEqual({ ok: true });
    expect(verifySignature('BILLING_STRIPE', headers({ 'stripe-signature': 'v1=abc' }), body, 'whsec_1', opts)).toMatchObject({ ok: false, code: 'MISSING_SIGNATURE' });
    expect(verifySignature('BILLING_STRIPE', headers({ 'stripe-signature': good.replace(/v1=../, 'v1=zz') }), body, 'whsec_1', opts)).toMatchObject({ ok: false, code: 'INVALID_SIGNATURE' });
    // a timestamp in the future beyond the window is refused too
    const future = signStripe('whsec_1', body.toString(), Math.floor(now.getTime() / 1000) + 3_600);
    expect(verifySignature('BILLING_STRIPE', headers({ 'stripe-signature': future }), body, 'whsec_1', opts)).toMatchObject({ ok: false, code: 'TIMESTAMP_OUT_OF_TOLERANCE' });
  });

  it('maps ticket priorities to severities and ignores events without a signal', () => {
    expect(['low', 'normal', 'high', 'urgent', null, 'URGENT'].map(severityOf)).toEqual([1, 2, 3, 4, 2, 4]);
    expect(mapWebhook('USAGE_SEGMENT', { type: 'identify', messageId: 'm1', traits: { email: 'a@b.co' } }, now)).toMatchObject({ ok: true, signal: null, ignoreReason: 'no_signal_for_event' });
    expect(mapWebhook('USAGE_SEGMENT', { type: 'track', event: 'Usage Reported' }, now)).toMatchObject({ ok: false });
  });

  it('Retry-After in seconds or as an HTTP date, bounded', () => {
    expect(retryAfterMs('120')).toBe(120_000);
    expect(retryAfterMs(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(28_000);
    expect(retryAfterMs(undefined)).toBe(60_000);
    expect(retryAfterMs('99999999')).toBe(86_400_000);
  });
});
