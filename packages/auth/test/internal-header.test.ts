import { describe, expect, it } from 'vitest';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, signPrincipal, verifyPrincipal } from '../src/internal-header';
import { scopesForRole, roleAtLeast, ROLE_SCOPES } from '../src/permissions';
import type { Principal } from '../src/principal';

const secret = 'a'.repeat(40);
const principal: Principal = { kind: 'user', userId: 'u1', orgId: 'o1', role: 'ADMIN', scopes: ['tasks:read'] };

describe('signed principal header', () => {
  it('round-trips a principal', () => {
    const h = signPrincipal(principal, secret);
    const r = verifyPrincipal(h[PRINCIPAL_HEADER], h[SIGNATURE_HEADER], secret);
    expect(r).toEqual({ ok: true, principal });
  });

  it('refuses a tampered payload (privilege escalation attempt)', () => {
    const h = signPrincipal(principal, secret);
    const forged = Buffer.from(JSON.stringify({ ...principal, role: 'OWNER', orgId: 'o2' })).toString('base64url');
    expect(verifyPrincipal(forged, h[SIGNATURE_HEADER], secret)).toEqual({ ok: false, reason: 'bad signature' });
  });

  it('refuses a signature made with another secret', () => {
    const h = signPrincipal(principal, 'b'.repeat(40));
    expect(verifyPrincipal(h[PRINCIPAL_HEADER], h[SIGNATURE_HEADER], secret).ok).toBe(false);
  });

  it('refuses a replayed (stale) header', () => {
    const h = signPrincipal(principal, secret, Date.now() - 10 * 60_000);
    expect(verifyPrincipal(h[PRINCIPAL_HEADER], h[SIGNATURE_HEADER], secret)).toEqual({ ok: false, reason: 'stale signature' });
  });

  it('refuses missing and malformed headers', () => {
    expect(verifyPrincipal(undefined, undefined, secret).ok).toBe(false);
    expect(verifyPrincipal('x', 'v2,1,ab', secret).ok).toBe(false);
    expect(verifyPrincipal('x', 'v1,notanumber,ab', secret).ok).toBe(false);
    expect(verifyPrincipal('x', `v1,${Math.floor(Date.now() / 1000)},zz`, secret).ok).toBe(false);
  });
});

describe('permission matrix', () => {
  it('gives finance only to OWNER and ADMIN', () => {
    expect(scopesForRole('OWNER')).toContain('customers:finance');
    expect(scopesForRole('ADMIN')).toContain('customers:finance');
    expect(scopesForRole('MEMBER')).not.toContain('customers:finance');
    expect(scopesForRole('VIEWER')).not.toContain('customers:finance');
  });

  it('keeps VIEWER read-only', () => {
    expect(ROLE_SCOPES.VIEWER.every((s) => s.endsWith(':read'))).toBe(true);
    expect(scopesForRole('MEMBER')).toContain('approvals:decide');
  });

  it('orders roles', () => {
    expect(roleAtLeast('OWNER', 'ADMIN')).toBe(true);
    expect(roleAtLeast('VIEWER', 'MEMBER')).toBe(false);
  });
});
