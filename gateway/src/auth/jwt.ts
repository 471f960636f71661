import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { ROLES, scopesForRole, type Principal, type Role } from '@cos/auth';

export interface JwtVerifierOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** Least time between two JWKS fetches triggered by an unknown kid (default 30 s). */
  cooldownMs?: number;
  /** A cached JWKS older than this is re-fetched on the next verification (default 10 min). */
  cacheMaxAgeMs?: number;
  /**
   * How long a verified token's principal is reused without checking its signature again (default 60 s; 0 = never),
   * never past the token's own `exp`. Keyed by the whole token, signature included.
   */
  verifiedTtlMs?: number;
  /** Verified tokens kept (LRU, default 10,000). */
  verifiedMax?: number;
}

const OUTAGE_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID']);

/** Why a token was refused; logged, never shown beyond "invalid or expired token". */
export class InvalidTokenError extends Error {}

/**
 * Verifies identity's access tokens: EdDSA only (alg pinned, so `none`/HS256 confusion is impossible), issuer and
 * audience checked, 30 s clock tolerance. Claims: sub = userId, org = orgId, role. The JWKS is fetched lazily and
 * cached by jose (re-fetched on an unknown `kid`, at most every 30 s), so identity's key rotation needs no restart.
 * Rotation has no 401 window because identity publishes its NEXT key before signing with it: by the time a token
 * carries the new kid, the cached JWKS already holds it; the unknown-kid re-fetch is the fallback.
 */
export function createJwtVerifier(opts: JwtVerifierOptions) {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl), {
    timeoutDuration: 2_000,
    cooldownDuration: opts.cooldownMs ?? 30_000,
    cacheMaxAge: opts.cacheMaxAgeMs ?? 10 * 60_000,
  });
  // An Ed25519 verification was ~0.4 ms of the ~8 CPU-ms a Guild-bench request cost the gateway; clients resend the
  // same token for its whole life. The TTL is far below the JWKS cache's own (a key dropped from the JWKS is noticed
  // by jose only on its next fetch anyway); revocation is checked after this, per request (core/authenticate.ts).
  const ttlMs = opts.verifiedTtlMs ?? 60_000;
  const verified = ttlMs > 0 ? new LRUCache<string, UserPrincipal>({ max: opts.verifiedMax ?? 10_000, ttl: ttlMs }) : undefined;
  return async function verifyAccessToken(token: string): Promise<UserPrincipal> {
    const hit = verified?.get(token);
    // A copy: callers own the principal they get.
    if (hit) return { ...hit };
    const { principal, expiresAt } = await verifySignature(token);
    const ttl = Math.min(ttlMs, expiresAt - Date.now());
    if (verified && ttl > 0) verified.set(token, principal, { ttl });
    return principal;
  };

  async function verifySignature(token: string): Promise<{ principal: UserPrincipal; expiresAt: number }> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: ['EdDSA', 'Ed25519'],
        issuer: opts.issuer,
        audience: opts.audience,
        clockTolerance: 30,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      // JWKS unreachable, timed out or malformed: an outage of identity, not a bad token.
      if (err instanceof joseErrors.JOSEError && !OUTAGE_CODES.has(err.code)) throw new InvalidTokenError(err.code);
      throw err;
    }
    const { sub, org, role } = payload as { sub?: unknown; org?: unknown; role?: unknown };
    if (typeof sub !== 'string' || typeof org !== 'string' || !ROLES.includes(role as Role)) {
      throw new InvalidTokenError('missing sub/org/role claims');
    }
    const principal: UserPrincipal = { kind: 'user', userId: sub, orgId: org, role: role as Role, scopes: scopesForRole(role as Role) };
    // requiredClaims has `exp`, and jose checked it is a number.
    return { principal, expiresAt: (payload.exp as number) * 1000 };
  }
}

type UserPrincipal = Extract<Principal, { kind: 'user' }>;
