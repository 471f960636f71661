import { createHash, randomUUID } from 'node:crypto';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { BrokenCircuitError, ExponentialBackoff, handleWhen, IsolatedCircuitError, retry, type RetryPolicy } from 'cockatiel';
import type { GraphQLFormattedError } from 'graphql';
import { PRINCIPAL_HEADER, signPrincipal, type Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { GatewayContext } from '../context';
import { isConnectionError, isTimeoutError, withCircuitBreaker, type CircuitStateName, type LeanResponse } from './http';
import { EntityBatcher, takeText, type EntityBatchStats, type SubgraphAnswer, type SubgraphPayload } from './entity-batcher';
import { InFlight, isSharableOperation } from './inflight';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;
type ProcessResult = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

/** A non-2xx subgraph answer; keeps the GraphQL errors of its body so their codes reach the client unchanged. */
class SubgraphHttpError extends Error {
  constructor(
    readonly status: number,
    readonly graphqlErrors: GraphQLFormattedError[],
  ) {
    super(`subgraph answered HTTP ${status}`);
  }
}

export interface CosDataSourceOptions {
  name: string;
  url: string;
  secret: string;
  fetcher: Fetcher;
  timeoutMs: number;
  log: Logger;
  /** In-flight deduplication of identical read requests for the same principal (default on). */
  dedupe?: boolean;
  /**
   * One HTTP request for all `_entities` fetches of a client request issued in the same tick (a plan's Parallel
   * node), representations de-duplicated (default on; execution/entity-batcher.ts).
   */
  batchEntities?: boolean;
  /** Circuit breaker and read retries around every subgraph request (defaults: DEFAULT_RESILIENCE). */
  resilience?: Partial<ResilienceOptions>;
  /** Called when this subgraph's breaker changes state (metrics, logs). */
  onCircuitChange?: (subgraph: string, state: CircuitStateName) => void;
}

export interface ResilienceOptions {
  /** Consecutive failures (transport error, timeout, HTTP 5xx) that open the breaker. */
  failureThreshold: number;
  /** An open breaker lets one trial request through after this long; its success closes it. */
  halfOpenAfterMs: number;
  /** Extra attempts for READS whose connection failed before anything was exchanged (jittered backoff). */
  readRetries: number;
}

export const DEFAULT_RESILIENCE: ResilienceOptions = { failureThreshold: 5, halfOpenAfterMs: 5_000, readRetries: 1 };

/**
 * Calls one subgraph for @apollo/gateway: signs the caller's principal (HMAC, @cos/auth) into every request,
 * forwards x-request-id / x-correlation-id / traceparent, and turns transport failures into a GraphQL error for the
 * fields of this subgraph (the rest of the operation still resolves) instead of an exception or a hang.
 */
export class CosDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly opts: CosDataSourceOptions;
  /** The subgraph's name in lower case: the response cache's tag for it. */
  private readonly tag: string;

  /** Identical read requests in flight (same principal, same operation and variables) share one round trip. */
  readonly inflight: InFlight<SubgraphAnswer> | undefined;

  /** Entity fetches of one client request merged into one HTTP request; its `stats` feed metrics and the bench. */
  readonly entityBatcher: EntityBatcher<GatewayContext> | undefined;

  /** The subgraph fetcher behind its circuit breaker: fails fast while the subgraph is down (withCircuitBreaker). */
  private readonly fetch: Fetcher;
  private readonly readRetry: RetryPolicy;

  constructor(opts: CosDataSourceOptions) {
    super({ url: opts.url, fetcher: opts.fetcher });
    this.opts = opts;
    this.tag = opts.name.toLowerCase();
    const r = { ...DEFAULT_RESILIENCE, ...opts.resilience };
    this.fetch = withCircuitBreaker(opts.fetcher, {
      name: `subgraph ${opts.name}`,
      log: opts.log,
      failureThreshold: r.failureThreshold,
      halfOpenAfterMs: r.halfOpenAfterMs,
      onStateChange: (state) => opts.onCircuitChange?.(opts.name, state),
    });
    this.readRetry = retry(handleWhen(isConnectionError), {
      maxAttempts: r.readRetries,
      backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 250 }),
    });
    this.inflight = opts.dedupe === false ? undefined : new InFlight<SubgraphAnswer>();
    this.entityBatcher =
      opts.batchEntities === false ? undefined : new EntityBatcher<GatewayContext>((ctx, payload) => this.exchange(ctx, payload));
  }

  /** The entity batcher's counters (zeros when batching is off). */
  get entityBatchStats(): EntityBatchStats {
    return this.entityBatcher?.stats ?? { fetches: 0, requests: 0, merged: 0, representationsDeduplicated: 0, retried: 0 };
  }

  /**
   * RemoteGraphQLDataSource.process without its per-call node-fetch Request/Headers objects, with entity-fetch
   * batching and in-flight deduplication: the body is serialised once, headers are a plain object, the answer is read
   * as text (shared between joined callers) and parsed per caller — @apollo/gateway merges entity results into the
   * parsed objects, so callers must never share them. Mutations are never batched or deduplicated.
   */
  private async send(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<ProcessResult> {
    const { request } = options;
    if (!request.query) throw new Error('Missing query');
    const ctx = contextOf(options);
    // The response cache tags the answer with every subgraph it was read from (its invalidation unit).
    ctx?.subgraphsTouched?.add(this.tag);
    // The request without `http` (what RemoteGraphQLDataSource adds), built field by field: no object rest per fetch.
    const payload: { query: string; variables?: Record<string, unknown>; operationName?: string; extensions?: Record<string, unknown> } = { query: request.query };
    if (request.operationName !== undefined) payload.operationName = request.operationName;
    if (request.variables !== undefined) payload.variables = request.variables;
    if (request.extensions !== undefined) payload.extensions = request.extensions;
    // Only fetches of a client request are batched (its context keys the batch); health checks and schema loads are not.
    const batched =
      ctx && this.entityBatcher && payload.variables && isPlainPayload(payload)
        ? this.entityBatcher.load(ctx, payload as SubgraphPayload)
        : null;
    if (batched) {
      const { result, cacheControl } = await batched;
      restrictCachePolicy(options, cacheControl);
      return result as ProcessResult;
    }
    const answer = await this.exchange(ctx, payload);
    const parsed: unknown = JSON.parse(takeText(answer));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Expected a JSON object from the subgraph');
    restrictCachePolicy(options, answer.cacheControl);
    return parsed as ProcessResult;
  }

  /**
   * One subgraph answer for a read: from the response cache's subgraph answers when the client request is a cacheable
   * query (`ctx.subgraphCache`, same principal key, invalidated per (tenant, this subgraph) like client answers), else
   * one HTTP request, shared with identical reads of the same principal already in flight. Error-free answers of
   * cacheable queries are stored, unless an event of this subgraph for the tenant passed during the round trip.
   *
   * Tagging a subgraph answer with this subgraph alone relies on an invariant of the services: what a subgraph's
   * QUERIES return changes only with its own service's events. Cross-service projections exist only for checks
   * (tasks' members/agents directory, agents' known_tasks); identity's audit log, projected from every service, is in
   * UNCACHEABLE_FIELDS, so no query selecting it reaches here with a cache; the directory's identity events
   * (Organization) drop the whole tenant anyway.
   */
  private async exchange(ctx: GatewayContext | undefined, payload: { query?: string }): Promise<SubgraphAnswer> {
    const headers = this.headersFor(ctx);
    const body = JSON.stringify(payload);
    if (!isSharableOperation(payload.query)) return this.roundTrip(headers, body, false);
    const sc = ctx?.subgraphCache;
    const subgraph = this.tag;
    const key = sc ? `sg:${createHash('sha256').update(sc.principalKey).update('\u0000').update(subgraph).update('\u0000').update(body).digest('base64url')}` : '';
    if (sc?.read) {
      const hit = sc.cache.get(key, 'subgraph');
      if (hit) return { text: hit.json, cacheControl: hit.cacheControl ?? null };
    }
    // With a cache, the ticket is taken when the round trip starts, by whoever starts it: callers joining it get an
    // answer exactly as old as the ticket says, so an event during the round trip keeps it out of the cache for all.
    const start = sc
      ? async (): Promise<SubgraphAnswer> => {
          const ticket = sc.cache.ticket(key, sc.orgId);
          const answer = await this.roundTrip(headers, body, true);
          // A field error anywhere makes the answer uncacheable (a data value containing the text only costs a store).
          if (!answer.text.includes('"errors"')) sc.cache.store(ticket, [subgraph], { json: answer.text, cacheControl: answer.cacheControl }, 'subgraph');
          return answer;
        }
      : () => this.roundTrip(headers, body, true);
    return this.inflight ? this.inflight.run(sc ? key : `${headers[PRINCIPAL_HEADER]}\n${body}`, start).then(ownAnswer) : start();
  }

  /**
   * One HTTP exchange through the circuit breaker; a read whose connection failed before anything was exchanged is
   * tried once more (mutations never: they may have been applied).
   */
  private roundTrip(headers: Record<string, string>, body: string, read: boolean): Promise<SubgraphAnswer> {
    const once = () => this.exchangeOnce(headers, body);
    return read ? this.readRetry.execute(once) : once();
  }

  private async exchangeOnce(headers: Record<string, string>, body: string): Promise<SubgraphAnswer> {
    const res = (await this.fetch(this.opts.url, { method: 'POST', headers, body })) as unknown as LeanResponse;
    if (!res.ok) throw await this.errorFromResponse(res as unknown as FetcherResponse);
    return { text: await res.text(), cacheControl: res.headers.get('cache-control') };
  }

  /**
   * The caller's principal signed (HMAC, @cos/auth) plus x-request-id / x-correlation-id / traceparent. The signature
   * is computed once per client request and reused for all its subgraph fetches (it is valid for two minutes).
   */
  private headersFor(ctx: GatewayContext | undefined): Record<string, string> {
    let signed = ctx ? signedByContext.get(ctx) : undefined;
    if (!signed) {
      const principal: Principal = ctx?.principal ?? { kind: 'anonymous' };
      signed = signPrincipal(principal, this.opts.secret);
      if (ctx) signedByContext.set(ctx, signed);
    }
    const requestId = ctx?.requestId ?? randomUUID();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...signed,
      'x-request-id': requestId,
      'x-correlation-id': ctx?.correlationId ?? requestId,
    };
    if (ctx?.traceparent) headers.traceparent = ctx.traceparent;
    return headers;
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<ProcessResult> {
    try {
      return await this.send(options);
    } catch (err) {
      const ctx = contextOf(options);
      const log = this.opts.log.child({ subgraph: this.opts.name, requestId: ctx?.requestId });
      if (err instanceof SubgraphHttpError && err.status !== 401 && err.graphqlErrors.length > 0) {
        return { errors: err.graphqlErrors };
      }
      if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
        // Logged once when it opened; every request meanwhile answers at once.
        return { errors: [subgraphError(`The ${this.opts.name} service is unavailable`)] };
      }
      if (err instanceof SubgraphHttpError && err.status === 401) {
        // The subgraph refused our signature: INTERNAL_SECRET differs between gateway and subgraph. Not the caller's fault.
        log.error({ status: err.status }, 'subgraph refused the gateway signature (INTERNAL_SECRET mismatch?)');
      } else if (isTimeoutError(err)) {
        log.warn({ timeoutMs: this.opts.timeoutMs }, 'subgraph fetch timed out');
        return { errors: [subgraphError(`The ${this.opts.name} service did not answer in time`)] };
      } else {
        log.error({ err }, 'subgraph fetch failed');
      }
      return { errors: [subgraphError(`The ${this.opts.name} service is unavailable`)] };
    }
  }

  override async errorFromResponse(response: FetcherResponse) {
    let errors: GraphQLFormattedError[] = [];
    try {
      const body = (await response.json()) as { errors?: unknown };
      if (Array.isArray(body.errors)) {
        errors = body.errors.filter(
          (e): e is GraphQLFormattedError => !!e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string',
        );
      }
    } catch {
      // not JSON: only the status is known
    }
    // RemoteGraphQLDataSource throws what this returns; process() above turns it into GraphQL errors.
    return new SubgraphHttpError(response.status, errors) as never;
  }
}

const signedByContext = new WeakMap<GatewayContext, Record<string, string>>();

/** What RemoteGraphQLDataSource does with a subgraph's Cache-Control when the incoming operation tracks a cache policy. */
function restrictCachePolicy(options: GraphQLDataSourceProcessOptions<GatewayContext>, header: string | null): void {
  if (!('incomingRequestContext' in options)) return;
  const policy = options.incomingRequestContext.overallCachePolicy as { restrict?: (hint: { maxAge?: number; scope?: 'PUBLIC' | 'PRIVATE' }) => void } | undefined;
  if (!policy || typeof policy.restrict !== 'function') return;
  const maxAge = header ? /(?:^|,)\s*max-age=(\d+)/i.exec(header)?.[1] : undefined;
  const scope = header && /(?:^|,)\s*private\b/i.test(header) ? 'PRIVATE' : header && /(?:^|,)\s*public\b/i.test(header) ? 'PUBLIC' : undefined;
  policy.restrict({ maxAge: maxAge ? Number(maxAge) : 0, ...(scope ? { scope } : {}) });
}

/** A request with nothing the batcher would drop on merging (e.g. `extensions`): query, variables, operationName. */
const isPlainPayload = (p: { extensions?: unknown }): boolean => p.extensions === undefined;

/**
 * A caller's own copy of an answer shared by in-flight callers (each then hands its text over with takeText). The
 * shared answer lets go of its text once every caller has its copy: all callers joined before the round trip settled
 * (the entry is dropped as it settles), so their copies are queued ahead of the microtask that empties it.
 */
const emptied = new WeakSet<SubgraphAnswer>();
function ownAnswer(shared: SubgraphAnswer): SubgraphAnswer {
  const own = { text: shared.text, cacheControl: shared.cacheControl };
  if (!emptied.has(shared)) {
    emptied.add(shared);
    queueMicrotask(() => {
      shared.text = '';
    });
  }
  return own;
}

/** The client request's context; health checks and schema loads have none. */
const contextOf = (o: GraphQLDataSourceProcessOptions<GatewayContext>): GatewayContext | undefined =>
  'incomingRequestContext' in o ? o.context : undefined;

const subgraphError = (message: string): GraphQLFormattedError => ({
  message,
  extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
});
