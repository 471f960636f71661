import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientIpResolver, parseTrustedProxies } from '../src/auth/client-ip';
import { gatewayEnvSchema } from '../src/env';

const req = (peer: string | undefined, xff?: string) =>
  ({ socket: { remoteAddress: peer }, connection: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('clientIpResolver', () => {
  it('without trusted proxies: the socket peer, whatever X-Forwarded-For says', () => {
    const ip = clientIpResolver([]);
    expect(ip(req('198.51.100.9', '203.0.113.7'))).toBe('198.51.100.9');
    expect(ip(req('198.51.100.9'))).toBe('198.51.100.9');
    expect(ip(undefined)).toBeUndefined();
  });

  it('behind a trusted proxy: the first untrusted address from the right', () => {
    const ip = clientIpResolver(['10.0.0.0/8']);
    // ingress 10.1.2.3 appended the client it saw.
    expect(ip(req('10.1.2.3', '203.0.113.7'))).toBe('203.0.113.7');
    // Two trusted hops (ingress → mesh sidecar).
    expect(ip(req('10.1.2.3', '203.0.113.7, 10.9.9.9'))).toBe('203.0.113.7');
    // The client forged an address at the left: the proxy's own entry (its peer) is to the right of it and wins.
    expect(ip(req('10.1.2.3', '1.2.3.4, 203.0.113.7'))).toBe('203.0.113.7');
    // The header is read only when the peer is trusted: a direct caller cannot pick its address.
    expect(ip(req('198.51.100.9', '1.2.3.4'))).toBe('198.51.100.9');
    // No header from a trusted peer: the peer itself.
    expect(ip(req('10.1.2.3'))).toBe('10.1.2.3');
  });

  it('refuses a malformed TRUSTED_PROXIES (the gateway does not start)', () => {
    expect(parseTrustedProxies(' loopback, 10.0.0.0/8 ,')).toEqual(['loopback', '10.0.0.0/8']);
    expect(parseTrustedProxies(undefined)).toEqual([]);
    expect(() => parseTrustedProxies('10.0.0.0/99')).toThrow();
    expect(() => parseTrustedProxies('not-an-ip')).toThrow();
    const env = gatewayEnvSchema.safeParse({ INTERNAL_SECRET: 'x'.repeat(32), TRUSTED_PROXIES: 'nope' });
    expect(env.success).toBe(false);
    expect(JSON.stringify(env.error?.issues)).toContain('TRUSTED_PROXIES');
  });
});
