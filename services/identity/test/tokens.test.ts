import { describe, expect, it } from 'vitest';
import { apiKeyPrefix, newApiKeySecret, newOpaqueToken, sameDigest, sha256Hex } from '../src/auth/secrets';

describe('token helpers', () => {
  it('makes 32-byte base64url opaque tokens, all different', () => {
    const a = newOpaqueToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(new Set(Array.from({ length: 100 }, newOpaqueToken)).size).toBe(100);
  });
  it('hashes with sha256 hex and compares digests in constant time', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sameDigest(sha256Hex('a'), sha256Hex('a'))).toBe(true);
    expect(sameDigest(sha256Hex('a'), sha256Hex('b'))).toBe(false);
    expect(sameDigest('', '')).toBe(false);
  });
  it('formats API key secrets as cos_<8 hex>_<random> and reads the prefix back', () => {
    const { secret, prefix } = newApiKeySecret();
    expect(secret).toMatch(/^cos_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    expect(apiKeyPrefix(secret)).toBe(prefix);
    expect(apiKeyPrefix('cos_nothex!!_x')).toBeNull();
    expect(apiKeyPrefix(`${secret}x`)).toBeNull();
  });
});
