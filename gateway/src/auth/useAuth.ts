import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { ClientIp } from './client-ip';
import type { GatewayServerContext } from '../context';
import { AuthenticationError, type Authenticate } from '../core/authenticate';
import { jsonError } from '../transport/responses';

export interface UseAuthOptions {
  /** The gateway's one credential reader (core/authenticate.ts). */
  authenticate: Authenticate;
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
 * `X-API-Key` for partners. The principal lands in the typed server context (`GatewayServerContext.principal`), which
 * yoga turns into the GraphQL context, so later hooks (rate limit, persisted documents, validation rules) read it there.
 */
export function useAuth(opts: UseAuthOptions): Plugin<{ principal: Principal }, GatewayServerContext> {
  const refuse = (message: string) => {
    const res = jsonError(401, ErrorCode.UNAUTHENTICATED, message);
    res.headers.set('www-authenticate', 'Bearer, ApiKey');
    return res;
  };

  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      if (!opts.paths.has(url.pathname)) return;
      try {
        const auth = await opts.authenticate({ authorization: request.headers.get('authorization'), apiKey: request.headers.get('x-api-key') });
        if (auth) serverContext.principal = auth.principal;
      } catch (err) {
        if (err instanceof AuthenticationError) return endResponse(refuse(err.message));
        opts.log.error({ err }, 'credential verification failed');
        return endResponse(jsonError(503, ErrorCode.SERVICE_UNAVAILABLE, 'Authentication is temporarily unavailable: retry shortly'));
      }
    },
    onContextBuilding({ context, extendContext }) {
      const { principal = { kind: 'anonymous' }, req } = context as GatewayServerContext;
      // The client's address travels signed inside the principal (identity throttles sign-ins per IP): the socket
      // peer, or X-Forwarded-For read through TRUSTED_PROXIES only (a client can write that header).
      const ip = opts.clientIp ? opts.clientIp(req) : req?.socket?.remoteAddress;
      extendContext({ principal: ip ? { ...principal, ip } : principal });
    },
  };
}
