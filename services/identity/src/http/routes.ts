import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal } from '@cos/auth';
import type { ServerDeps } from '../deps';
import { verifyApiKeySecret } from '../commands/api-keys';
import { UNSUBSCRIBE_PATH, unsubscribeRoute } from './unsubscribe';

export const JWKS_PATH = '/.well-known/jwks.json';
export const VERIFY_API_KEY_PATH = '/internal/api-keys/verify';

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store', ...headers } });

/**
 * identity's extra HTTP routes. service-kit serves `routes` before its signature gate, so the internal route checks
 * the gateway's signature itself.
 */
export function identityRoutes(deps: ServerDeps): Record<string, (req: Request) => Promise<Response>> {
  return {
    /** Unsubscribe links from mails (public through the gateway; the signed token is the credential). */
    [UNSUBSCRIBE_PATH]: unsubscribeRoute(deps),

    /** Public keys for access-token verification (active + recently retired). Verifiers may cache briefly. */
    [JWKS_PATH]: async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json({ error: 'method not allowed' }, 405, { allow: 'GET' });
      return json(await deps.keys.jwks(), 200, { 'cache-control': 'public, max-age=60' });
    },

    /** The gateway resolves `ApiKey <secret>` to a principal. Only callers holding the internal secret may ask. */
    [VERIFY_API_KEY_PATH]: async (req) => {
      if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405, { allow: 'POST' });
      const verdict = verifyPrincipal(req.headers.get(PRINCIPAL_HEADER), req.headers.get(SIGNATURE_HEADER), deps.config.internalSecret);
      if (!verdict.ok || verdict.principal.kind !== 'service') {
        deps.log.warn({ reason: verdict.ok ? 'not a service principal' : verdict.reason }, 'refused API key verification');
        return json({ error: 'Requests must come from the gateway' }, 401);
      }
      if (Number(req.headers.get('content-length') ?? 0) > 4096) return json({ error: 'body too large' }, 413);
      let secret: unknown;
      try {
        secret = ((await req.json()) as { secret?: unknown } | null)?.secret;
      } catch {
        return json({ error: 'body must be JSON {"secret": "..."}' }, 400);
      }
      if (typeof secret !== 'string' || secret.length > 200) return json({ error: 'body must be JSON {"secret": "..."}' }, 400);
      const key = await verifyApiKeySecret(deps.systemDb, secret);
      if (!key) return json({ error: 'Unknown or revoked API key' }, 401);
      return json(key);
    },
  };
}
