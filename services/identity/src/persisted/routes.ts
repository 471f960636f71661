import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal } from '@cos/auth';
import { isUuid } from '@cos/db';
import { clientNameSchema } from '@cos/persisted';
import type { ServerDeps } from '../deps';
import { findPersistedOperation } from './store';

export const PERSISTED_LOOKUP_PATH = '/internal/persisted-operations/lookup';

const json = (body: unknown, status = 200) => Response.json(body, { status, headers: { 'cache-control': 'no-store' } });

/**
 * `POST /internal/persisted-operations/lookup {orgId, client, id}` → `{id, name, body}` or 404: how the gateway
 * resolves a trusted document (it caches answers in Redis). Only the gateway (a signed service principal) may ask.
 */
export function persistedRoutes(deps: ServerDeps): Record<string, (req: Request) => Promise<Response>> {
  return {
    [PERSISTED_LOOKUP_PATH]: async (req) => {
      if (req.method !== 'POST') return json({ error: 'method not allowed' }, 405);
      const verdict = verifyPrincipal(req.headers.get(PRINCIPAL_HEADER), req.headers.get(SIGNATURE_HEADER), deps.config.internalSecret);
      if (!verdict.ok || verdict.principal.kind !== 'service') return json({ error: 'Requests must come from the gateway' }, 401);
      if (Number(req.headers.get('content-length') ?? 0) > 4096) return json({ error: 'body too large' }, 413);
      let body: { orgId?: unknown; client?: unknown; id?: unknown } | null;
      try {
        body = (await req.json()) as typeof body;
      } catch {
        return json({ error: 'body must be JSON' }, 400);
      }
      const orgId = body?.orgId;
      const id = body?.id;
      const client = body?.client ?? null;
      if (!isUuid(orgId) || typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return json({ error: 'orgId and id required' }, 400);
      if (client !== null && !clientNameSchema.safeParse(client).success) return json({ error: 'bad client' }, 400);
      const doc = await findPersistedOperation(deps.systemDb, { orgId, client: client as string | null, id });
      return doc ? json(doc) : json({ error: 'not registered' }, 404);
    },
  };
}
