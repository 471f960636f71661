import { decodeJwt } from 'jose';
import { GraphQLError } from 'graphql';
import type { AuthenticatedPrincipal, Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import { InvalidTokenError } from '../auth/jwt';

/** What a caller presented: the `Authorization` value (`Bearer <jwt>` / `ApiKey <secret>`) and/or an `X-API-Key`. */
export interface Credential {
  authorization?: string | null;
  apiKey?: string | null;
}

/** An authenticated caller and how its credential can be re-checked (connection-level expiry and revocation). */
export interface Authentication {
  principal: AuthenticatedPrincipal;
  kind: 'jwt' | 'apiKey';
  /** ms epoch when the credential stops being valid (the JWT's exp), or null. */
  expiresAt: number | null;
  /** The JWT's iat (seconds), compared with later revocations of its person (auth/token-revocations.ts); null for keys. */
  issuedAt: number | null;
  /** The raw JWT or key secret, for re-verification of long-lived connections (API-key revocation). */
  secret: string;
}

/**
 * A credential was refused (malformed, unsupported scheme, bad signature, expired, revoked token, unknown or revoked key): the
 * transport answers UNAUTHENTICATED (HTTP 401, graphql-ws 4403, SSE 401). Any other error thrown by `authenticate`
 * is an outage of identity (JWKS or key lookup unreachable): HTTP 503, graphql-ws 1011.
 */
export class AuthenticationError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } } });
    this.name = 'AuthenticationError';
  }
}

export interface AuthenticatorOptions {
  verifyAccessToken: (token: string) => Promise<Principal>;
  /** null: unknown or revoked key (identity's ApiKeyRevoked drops the cached verdicts at once, see auth/revocations.ts). */
  verifyApiKey: (secret: string) => Promise<Principal | null>;
  /**
   * Whether a person's access token issued at `issuedAtS` was revoked since (erased, removed from or demoted in the
   * organization: auth/token-revocations.ts). Absent: no revocations.
   */
  isRevoked?: (userId: string, orgId: string, issuedAtS: number | undefined) => boolean;
  log: Logger;
}

/**
 * Turns a credential into a principal (`authenticate(credential) → principal`), the one place that reads credentials:
 * HTTP (useAuth), graphql-ws `connection_init` and SSE all call it. No credential at all answers null (the caller
 * decides whether anonymous is allowed: HTTP yes, subscriptions no).
 */
export function createAuthenticator(opts: AuthenticatorOptions) {
  async function authenticate(credential: Credential): Promise<Authentication | null> {
    const authorization = credential.authorization?.trim();
    const apiKey = credential.apiKey?.trim();
    if (!authorization && !apiKey) return null;
    let scheme = 'apikey';
    let secret = apiKey ?? '';
    if (authorization) {
      const [s = '', ...rest] = authorization.split(/\s+/);
      scheme = s.toLowerCase();
      secret = rest.join(' ');
      if (!secret) throw new AuthenticationError('Malformed Authorization header');
    }
    if (scheme === 'bearer') {
      let principal: Principal;
      try {
        principal = await opts.verifyAccessToken(secret);
      } catch (err) {
        if (!(err instanceof InvalidTokenError)) throw err;
        opts.log.info({ reason: err.message }, 'refused access token');
        throw new AuthenticationError('Invalid or expired access token');
      }
      if (principal.kind === 'anonymous') throw new AuthenticationError('Invalid or expired access token');
      const { exp, iat } = decodeJwt(secret);
      const issuedAt = typeof iat === 'number' ? iat : null;
      if (principal.kind === 'user' && opts.isRevoked?.(principal.userId, principal.orgId, issuedAt ?? undefined)) {
        opts.log.info({ userId: principal.userId, orgId: principal.orgId }, 'refused revoked access token');
        throw new AuthenticationError('Access token revoked');
      }
      return { principal, kind: 'jwt', expiresAt: typeof exp === 'number' ? exp * 1000 : null, issuedAt, secret };
    }
    if (scheme === 'apikey') {
      const principal = await opts.verifyApiKey(secret);
      if (!principal || principal.kind === 'anonymous') throw new AuthenticationError('Invalid API key');
      return { principal, kind: 'apiKey', expiresAt: null, issuedAt: null, secret };
    }
    throw new AuthenticationError('Unsupported Authorization scheme (use Bearer or ApiKey)');
  }
  return authenticate;
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
