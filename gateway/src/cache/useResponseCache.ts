import { createHash } from 'node:crypto';
import { getOperationAST, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import type { GatewayContext } from '../context';
import type { CacheTicket, ResponseCache } from './response-cache';
import { principalIn } from '../context';

/**
 * Fields whose data changes WITHOUT an event of the subgraph that serves them, so event invalidation cannot see the
 * change: an answer selecting one is never cached.
 * - Query.auditLog: identity projects other services' events into it (their event invalidates their own
 *   subgraph's answers, and identity's projection commits after the gateway saw the event).
 * - AgentRun.lastHeartbeatAt: the runner's lease extension updates it in place (no event per heartbeat).
 * - ApiKey.lastUsedAt: touched by key verification, not by a command.
 * - Connection.sync, Connection.deliveries: the connector runner's state and the webhook audit trail are written
 *   without events (a rejected delivery or a run that found nothing appends none).
 * A test checks each coordinate exists in the supergraph, so a rename cannot silently make it cacheable.
 */
export const UNCACHEABLE_FIELDS: readonly string[] = [
  'Query.auditLog',
  'AgentRun.lastHeartbeatAt',
  'AgentRun.leaseExpiresAt',
  'ApiKey.lastUsedAt',
  'Connection.sync',
  'Connection.deliveries',
];

/**
 * Response header saying what the cache did: `hit`, `miss` (computed, stored if it could be), `bypass` (the client
 * asked for a fresh answer with `Cache-Control: no-cache` or `no-store`) or absent (not applicable).
 */
export const CACHE_STATUS_HEADER = 'x-cos-cache';

/**
 * What the client's request `Cache-Control` asks of the cache (RFC 9111 §5.2.1): `no-cache` = do not answer from the
 * cache, but the fresh answer may replace the stored one; `no-store` = neither read nor store.
 */
export function clientCacheDirective(header: string | null): 'default' | 'no-cache' | 'no-store' {
  if (!header) return 'default';
  const directives = header.toLowerCase().split(',').map((d) => d.replace(/\s+/g, ''));
  if (directives.includes('no-store')) return 'no-store';
  if (directives.includes('no-cache') || directives.includes('max-age=0')) return 'no-cache';
  return 'default';
}

interface RequestState {
  ticket: CacheTicket;
  principalKey: string;
  subgraphs: Set<string>;
  operation?: 'query' | 'mutation' | 'subscription';
  operationName?: string;
  startedMs: number;
  cacheable?: boolean;
  status?: 'hit' | 'miss' | 'bypass' | undefined;
  /** The client sent `Cache-Control: no-store`: the answer is not stored either. */
  noStore?: boolean;
}

/** Who the answer is for: everything the gateway's authorization decisions read from the principal. */
function principalKey(p: Principal): { key: string; orgId: string } | null {
  const scopes = (s: string[]) => [...s].sort().join(',');
  switch (p.kind) {
    case 'user':
      return { key: `user:${p.userId}:${p.orgId}:${p.role}:${scopes(p.scopes)}`, orgId: p.orgId };
    case 'apiKey':
      return { key: `key:${p.keyId}:${p.orgId}:${p.clientName}:${scopes(p.scopes)}`, orgId: p.orgId };
    case 'service':
      return { key: `svc:${p.serviceId}:${p.orgId}:${scopes(p.scopes)}`, orgId: p.orgId };
    default:
      // Anonymous callers can read almost nothing; not worth a cache entry per IP.
      return null;
  }
}

function isCacheableDocument(document: DocumentNode, schema: GraphQLSchema, uncacheable: ReadonlySet<string>): boolean {
  const typeInfo = new TypeInfo(schema);
  let ok = true;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const name = node.name.value;
        const parent = typeInfo.getParentType();
        if (name === '__schema' || name === '__type' || (parent && uncacheable.has(`${parent.name}.${name}`))) {
          ok = false;
          return false;
        }
        return undefined;
      },
    }),
  );
  return ok;
}

/**
 * Per-principal response cache for queries (hits skip parsing, validation, planning, every subgraph call and JSON
 * serialisation: the stored JSON is sent as is). Invalidation is event-driven per (tenant, subgraph) — see
 * `ResponseCache` — plus this gateway's own mutations, which drop their tenant's answers from the subgraphs they
 * wrote to as soon as they return (read-your-writes on this instance; other instances follow with the event).
 *
 * Placed after authentication, rate limiting and persisted-operation resolution (a hit is still counted, refused or
 * resolved like any request), keyed by the operation text, name, variables and the principal's identity, role and
 * scopes — an answer is never served to a principal other than the one it was computed for. Only error-free answers
 * are stored. Why not @envelop/response-cache: its invalidation is by entity id found in answers, which misses new
 * list members and derived values; events here name tenants and services, not the ids an answer happened to show.
 */
export function useResponseCache(opts: {
  cache: ResponseCache;
  uncacheableFields?: readonly string[];
  /** Also cache the subgraph answers of cacheable queries (default on; see CosDataSource). */
  subgraphAnswers?: boolean;
}): Plugin<GatewayContext> {
  const { cache } = opts;
  const subgraphAnswers = opts.subgraphAnswers !== false;
  const uncacheable = new Set(opts.uncacheableFields ?? UNCACHEABLE_FIELDS);
  const states = new WeakMap<Request, RequestState>();
  const verdicts = new WeakMap<DocumentNode, boolean>();
  const stateOf = (ctx: unknown) => {
    const request = (ctx as { request?: Request } | undefined)?.request;
    return request ? states.get(request) : undefined;
  };

  return {
    onParams({ request, params, context, setResult }) {
      const who = principalKey(principalIn(context));
      if (!who || typeof params.query !== 'string') return;
      const key = createHash('sha256')
        .update(who.key)
        .update('\u0000')
        .update(params.operationName ?? '')
        .update('\u0000')
        .update(params.query)
        .update('\u0000')
        .update(params.variables ? JSON.stringify(params.variables) : '')
        .digest('base64url');
      const state: RequestState = { ticket: cache.ticket(key, who.orgId), principalKey: who.key, subgraphs: new Set(), startedMs: performance.now() };
      states.set(request, state);
      if (!cache.enabled) return;
      const directive = clientCacheDirective(request.headers.get('cache-control'));
      if (directive !== 'default') {
        state.status = 'bypass';
        state.noStore = directive === 'no-store';
        return;
      }
      const hit = cache.get(key);
      if (hit) {
        state.status = 'hit';
        state.operationName = hit.operation;
        const json = hit.json;
        setResult({ ...hit.result, stringify: () => json } as ExecutionResult);
      } else {
        state.status = 'miss';
      }
    },
    onContextBuilding({ context, extendContext }) {
      const state = stateOf(context);
      if (state) extendContext({ subgraphsTouched: state.subgraphs } as Partial<GatewayContext>);
    },
    onExecute({ args }) {
      const state = stateOf(args.contextValue);
      if (!state) return;
      const op = getOperationAST(args.document, args.operationName);
      state.operation = op?.operation as RequestState['operation'];
      state.operationName = (op?.name?.value ?? 'anonymous').slice(0, 64);
      if (state.operation !== 'query') return;
      let ok = verdicts.get(args.document);
      if (ok === undefined) {
        ok = isCacheableDocument(args.document, args.schema, uncacheable);
        verdicts.set(args.document, ok);
      }
      state.cacheable = ok;
      // The plan's subgraph fetches may be answered from (and stored in) the cache too: same principal, same rules.
      if (ok && subgraphAnswers && cache.enabled && !state.noStore) {
        (args.contextValue as GatewayContext).subgraphCache = {
          cache,
          principalKey: state.principalKey,
          orgId: state.ticket.orgId,
          read: state.status !== 'bypass',
        };
      }
    },
    onExecutionResult({ request, result, setResult }) {
      const state = states.get(request);
      if (!state) return;
      if (state.status === 'hit') {
        cache.onHit?.(state.operationName ?? 'anonymous', (performance.now() - state.startedMs) / 1000);
        return;
      }
      if (state.operation === 'mutation') {
        state.status = undefined;
        // Whatever it wrote, even with errors (a partial write is a write).
        for (const s of state.subgraphs) cache.invalidate(state.ticket.orgId, s);
        return;
      }
      if (!state.cacheable || state.noStore || (state.status !== 'miss' && state.status !== 'bypass')) return;
      if (!result || Array.isArray(result) || Symbol.asyncIterator in result) return;
      const r = result as ExecutionResult;
      if (r.errors?.length || !r.data || r.extensions) return;
      const json = JSON.stringify(r);
      if (cache.store(state.ticket, state.subgraphs, { result: r, json, operation: state.operationName ?? 'anonymous' })) setResult({ ...r, stringify: () => json } as ExecutionResult);
    },
    onResponse({ request, response }) {
      const status = states.get(request)?.status;
      if (status) response.headers.set(CACHE_STATUS_HEADER, status);
    },
  };
}
