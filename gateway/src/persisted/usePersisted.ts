import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import { appError, ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { DocumentStore } from './documents';
import { principalIn } from '../context';

/**
 * - `open`: first-party callers (people, agent workers, anonymous) may send any operation and register APQ;
 * - `safelist`: they too may only run trusted documents (first-party manifests or their organization's registered
 *   ones), as partners always must.
 */
export type FirstPartyPolicy = 'open' | 'safelist';

export interface UsePersistedOptions {
  store: DocumentStore;
  firstParty: FirstPartyPolicy;
  /** max-age of GET-by-hash responses (Cache-Control public for anonymous callers, private otherwise). */
  getMaxAgeS: number;
  log: Logger;
}

const HASH = /^[0-9a-f]{64}$/;
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** yoga refuses unknown top-level body keys; `documentId` (GraphQL over HTTP trusted documents) is ours. */
function withoutDocumentId<P extends object>(params: P): P {
  const { documentId: _drop, ...rest } = params as P & { documentId?: unknown };
  return rest as P;
}

const notFound = () => appError(ErrorCode.PERSISTED_QUERY_NOT_FOUND, 'PersistedQueryNotFound', {}, { withHttpStatus: true });
const notAllowed = (why: string) => appError(ErrorCode.OPERATION_NOT_ALLOWED, why, {}, { withHttpStatus: true });

/**
 * The persisted-document id a request names: `extensions.persistedQuery` (APQ, version 1 only) or a `documentId`
 * (`<hex>` or `sha256:<hex>`). Throws PERSISTED_QUERY_NOT_SUPPORTED / BAD_USER_INPUT for malformed ones.
 */
export function persistedIdOf(apq: unknown, rawDocumentId: unknown): { id?: string; viaApq: boolean } {
  if (apq !== undefined && apq !== null) {
    const ext = apq as { version?: unknown; sha256Hash?: unknown };
    if (typeof apq !== 'object' || ext.version !== 1) {
      throw appError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED, 'PersistedQueryNotSupported', {}, { withHttpStatus: true });
    }
    if (typeof ext.sha256Hash !== 'string' || !HASH.test(ext.sha256Hash.toLowerCase())) {
      throw appError(ErrorCode.BAD_USER_INPUT, 'persistedQuery.sha256Hash must be a sha256 hex digest', {
        field: 'extensions.persistedQuery.sha256Hash',
      }, { withHttpStatus: true });
    }
    return { id: ext.sha256Hash.toLowerCase(), viaApq: true };
  }
  if (rawDocumentId !== undefined && rawDocumentId !== null) {
    const s = typeof rawDocumentId === 'string' ? rawDocumentId.replace(/^sha256:/, '').toLowerCase() : '';
    if (!HASH.test(s)) throw appError(ErrorCode.BAD_USER_INPUT, 'documentId must be a sha256 hex digest', { field: 'documentId' }, { withHttpStatus: true });
    return { id: s, viaApq: false };
  }
  return { viaApq: false };
}

/**
 * What a caller may run, given the persisted-document id it sent (APQ hash or documentId, if any) and the query
 * text (if any): the query text to execute, or undefined for a plain request that brings none (yoga then answers
 * "must provide query"). Throws the contract's errors (see usePersisted). Shared by the HTTP plugin and the
 * subscription bridge (graphql-ws, graphql-sse), so a partner subscribes to its registered documents only.
 */
export async function resolvePersisted(
  opts: Pick<UsePersistedOptions, 'store' | 'firstParty'>,
  principal: Principal,
  req: { id?: string; query?: string; viaApq: boolean },
): Promise<string | undefined> {
  const { id, query, viaApq } = req;
  const partner = principal.kind === 'apiKey' ? principal : null;
  const safelist = partner !== null || opts.firstParty === 'safelist';
  const orgId = principal.kind === 'anonymous' ? null : principal.orgId;
  const trusted = async (docId: string): Promise<string | null> => {
    if (partner) return opts.store.registered(partner.orgId, partner.clientName, docId);
    return opts.store.firstParty(docId) ?? (orgId ? await opts.store.registered(orgId, null, docId) : null);
  };

  if (id === undefined) {
    // A plain GraphQL request.
    if (!safelist) return query;
    throw notAllowed(
      partner
        ? `Client ${partner.clientName} may only run its registered operations (send extensions.persistedQuery.sha256Hash or documentId)`
        : 'Only registered operations may run here (send extensions.persistedQuery.sha256Hash or documentId)',
    );
  }
  if (query !== undefined) {
    if (sha256(query) !== id) {
      throw appError(ErrorCode.BAD_USER_INPUT, 'provided sha does not match query', { field: 'extensions.persistedQuery.sha256Hash' }, { withHttpStatus: true });
    }
    if (safelist) {
      if ((await trusted(id)) === null) throw notAllowed(partner ? `Operation is not registered for client ${partner.clientName}` : 'Operation is not registered');
    } else if (viaApq) {
      await opts.store.apqSet(id, query);
    }
    return query;
  }
  let body = await trusted(id);
  if (body === null && !safelist && viaApq) body = await opts.store.apqGet(id);
  if (body === null) {
    if (safelist) throw notAllowed(partner ? `Operation is not registered for client ${partner.clientName}` : 'Operation is not registered');
    throw notFound();
  }
  return body;
}

/**
 * Automatic persisted queries (Apollo's protocol, POST and GET) and trusted documents, in one `onParams` step that
 * knows the caller. Written here rather than with @graphql-yoga/plugin-apq because that plugin ignores versions other
 * than 1 (Apollo answers PERSISTED_QUERY_NOT_SUPPORTED), reports a mismatch with a non-contract code, and has no
 * notion of who registers: partners (API keys) are safelist-only, so an APQ registration by a partner must be
 * refused before it reaches the store.
 *
 * Decisions, per request:
 * - `extensions.persistedQuery` with a version other than 1 → PERSISTED_QUERY_NOT_SUPPORTED (HTTP 200).
 * - hash + query whose sha256 differs → BAD_USER_INPUT, HTTP 400 (`provided sha does not match query`).
 * - partner (apiKey): runs only documents registered for its client (`clientName`) in its organization, by hash or
 *   `documentId` (also `sha256:<hex>`); anything else — raw query, APQ registration of an unregistered document,
 *   unknown id — → OPERATION_NOT_ALLOWED (HTTP 403).
 * - first-party, `open`: hash → first-party manifests, then the organization's registered documents, then APQ
 *   (Redis); unknown → PERSISTED_QUERY_NOT_FOUND (HTTP 200, so Apollo's link re-sends with the query); hash + query
 *   registers it in Redis.
 * - first-party, `safelist`: as open without APQ and without raw queries (→ OPERATION_NOT_ALLOWED).
 * GET responses of a query sent by hash/id without errors get `Cache-Control: public, max-age=N` when the request
 * carries no credentials, `private, max-age=N` otherwise, with `Vary: Authorization, X-API-Key`.
 */
export function usePersisted(opts: UsePersistedOptions): Plugin {
  const byId = new WeakMap<Request, true>();
  const withErrors = new WeakMap<Request, true>();

  return {
    async onParams({ request, params, context, setParams }) {
      const principal: Principal = principalIn(context);
      const extensions = (params.extensions ?? {}) as Record<string, unknown>;
      const apq = extensions.persistedQuery;
      const url = request.method === 'GET' ? new URL(request.url) : null;
      const rawDocumentId =
        (params as { documentId?: unknown }).documentId ?? extensions.documentId ?? url?.searchParams.get('documentId') ?? undefined;

      const { id, viaApq } = persistedIdOf(apq, rawDocumentId);
      if (id !== undefined) byId.set(request, true);
      const query = typeof params.query === 'string' && params.query.length > 0 ? params.query : undefined;
      const resolved = await resolvePersisted(opts, principal, { id, query, viaApq });
      if (resolved === query) {
        if (rawDocumentId !== undefined) setParams(withoutDocumentId(params));
        return;
      }
      setParams({ ...withoutDocumentId(params), query: resolved });
    },

    onResultProcess({ request, result }) {
      const r = result as { errors?: unknown[] } | AsyncIterable<unknown>;
      if (!(Symbol.asyncIterator in (r as object)) && (r as { errors?: unknown[] }).errors?.length) withErrors.set(request, true);
    },

    onResponse({ request, response }) {
      if (request.method !== 'GET' || !byId.get(request)) return;
      if (response.status !== 200 || withErrors.get(request)) {
        response.headers.set('cache-control', 'no-store');
        return;
      }
      const credentialed = request.headers.has('authorization') || request.headers.has('x-api-key');
      response.headers.set('cache-control', `${credentialed ? 'private' : 'public'}, max-age=${opts.getMaxAgeS}`);
      response.headers.append('vary', 'Authorization, X-API-Key');
    },
  };
}
