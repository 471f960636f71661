import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { ROLES, scopesForRole, type Principal, type Role } from '@cos/auth';

export interface JwtVerifierOptions {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** Least time between two JWKS fetches triggered by an unknown kid (default 30 s). */
  cooldownMs?: number;
  /** A cached JWKS older than this is re-fetched on the next verification (default 10 min). */
  cacheMaxAgeMs?: number;
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
  return async function verifyAccessToken(token: string): Promise<Extract<Principal, { kind: 'user' }>> {
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
    return { kind: 'user', userId: sub, orgId: org, role: role as Role, scopes: scopesForRole(role as Role) };
  };
}
