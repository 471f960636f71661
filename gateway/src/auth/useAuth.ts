import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import { InvalidTokenError } from './jwt';
import type { ClientIp } from './client-ip';
import { jsonError } from '../transport/responses';

export interface UseAuthOptions {
  verifyAccessToken: (token: string) => Promise<Principal>;
  verifyApiKey: (secret: string) => Promise<Principal | null>;
  /** Paths that carry operations (auth applies); everything else (health, metrics) is public. */
  paths: ReadonlySet<string>;
  log: Logger;
  /** The caller's address (socket peer, or through TRUSTED_PROXIES); default: the socket peer. */
  clientIp?: ClientIp;
}

/**
 * Authenticates every operation request before it is parsed: no credentials → anonymous principal (each field
 * decides what anonymous may see); a bad, expired or unknown credential → HTTP 401 UNAUTHENTICATED for the whole
 * request. `Authorization: Bearer <jwt>` for people and agent workers, `Authorization: ApiKey <secret>` or
 * `X-API-Key` for partners. The principal lands in the context as `principal`.
 */
/** The principal authenticated for a request, for plugins that run before the context exists (trusted documents). */
const principalByRequest = new WeakMap<Request, Principal>();
export const principalOf = (request: Request): Principal | undefined => principalByRequest.get(request);

export function useAuth(opts: UseAuthOptions): Plugin<{ principal: Principal }> {
  const principals = principalByRequest;

  const refuse = (message: string) => {
    const res = jsonError(401, ErrorCode.UNAUTHENTICATED, message);
    res.headers.set('www-authenticate', 'Bearer, ApiKey');
    return res;
  };

  return {
    async onRequest({ request, url, endResponse }) {
      if (!opts.paths.has(url.pathname)) return;
      const authorization = request.headers.get('authorization')?.trim();
      const apiKeyHeader = request.headers.get('x-api-key')?.trim();
      try {
        if (authorization) {
          const [scheme = '', ...rest] = authorization.split(/\s+/);
          const credential = rest.join(' ');
          if (!credential) return endResponse(refuse('Malformed Authorization header'));
          if (scheme.toLowerCase() === 'bearer') {
            principals.set(request, await opts.verifyAccessToken(credential));
            return;
          }
          if (scheme.toLowerCase() === 'apikey') {
            const p = await opts.verifyApiKey(credential);
            if (!p) return endResponse(refuse('Invalid API key'));
            principals.set(request, p);
            return;
          }
          return endResponse(refuse('Unsupported Authorization scheme (use Bearer or ApiKey)'));
        }
        if (apiKeyHeader) {
          const p = await opts.verifyApiKey(apiKeyHeader);
          if (!p) return endResponse(refuse('Invalid API key'));
          principals.set(request, p);
        }
      } catch (err) {
        if (err instanceof InvalidTokenError) {
          opts.log.info({ reason: err.message }, 'refused access token');
          return endResponse(refuse('Invalid or expired access token'));
        }
        opts.log.error({ err }, 'credential verification failed');
        return endResponse(jsonError(503, ErrorCode.SERVICE_UNAVAILABLE, 'Authentication is temporarily unavailable: retry shortly'));
      }
    },
    onContextBuilding({ context, extendContext }) {
      const request = (context as { request?: Request }).request;
      const principal: Principal = (request && principals.get(request)) ?? { kind: 'anonymous' };
      // The client's address travels signed inside the principal (identity throttles sign-ins per IP): the socket
      // peer, or X-Forwarded-For read through TRUSTED_PROXIES only (a client can write that header).
      const req = (context as { req?: IncomingMessage }).req;
      const ip = opts.clientIp ? opts.clientIp(req) : req?.socket?.remoteAddress;
      extendContext({ principal: ip ? { ...principal, ip } : principal });
    },
  };
}
