import { randomUUID } from 'node:crypto';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import { PRINCIPAL_HEADER, signPrincipal, type Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { GatewayContext } from './context';
import { isTimeoutError, type LeanResponse } from './http';
import { InFlight, isSharableOperation } from './perf/inflight';

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
}

/** One subgraph answer as shared between deduplicated callers: immutable (text, not a parsed object). */
interface SubgraphAnswer {
  text: string;
  cacheControl: string | null;
}

/**
 * Calls one subgraph for @apollo/gateway: signs the caller's principal (HMAC, @cos/auth) into every request,
 * forwards x-request-id / x-correlation-id / traceparent, and turns transport failures into a GraphQL error for the
 * fields of this subgraph (the rest of the operation still resolves) instead of an exception or a hang.
 */
export class CosDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly opts: CosDataSourceOptions;

  /** Identical read requests in flight (same principal, same operation and variables) share one round trip. */
  readonly inflight: InFlight<SubgraphAnswer> | undefined;

  constructor(opts: CosDataSourceOptions) {
    super({ url: opts.url, fetcher: opts.fetcher });
    this.opts = opts;
    this.inflight = opts.dedupe === false ? undefined : new InFlight<SubgraphAnswer>();
  }

  /**
   * RemoteGraphQLDataSource.process without its per-call node-fetch Request/Headers objects and with in-flight
   * deduplication: the body is serialised once, headers are a plain object, the answer is read as text (shared
   * between joined callers) and parsed per caller — @apollo/gateway merges entity results into the parsed objects,
   * so callers must never share them. Mutations are never deduplicated (isSharableOperation).
   */
  private async send(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<ProcessResult> {
    const { request } = options;
    if (!request.query) throw new Error('Missing query');
    const headers = this.headersFor(contextOf(options));
    const { http: _http, ...payload } = request;
    const body = JSON.stringify(payload);
    const answer =
      this.inflight && isSharableOperation(request.query)
        ? await this.inflight.run(`${headers[PRINCIPAL_HEADER]}\n${body}`, () => this.roundTrip(headers, body))
        : await this.roundTrip(headers, body);
    const parsed: unknown = JSON.parse(answer.text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Expected a JSON object from the subgraph');
    restrictCachePolicy(options, answer.cacheControl);
    return parsed as ProcessResult;
  }

  private async roundTrip(headers: Record<string, string>, body: string): Promise<SubgraphAnswer> {
    const res = (await this.opts.fetcher(this.opts.url, { method: 'POST', headers, body })) as unknown as LeanResponse;
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

/** The client request's context; health checks and schema loads have none. */
const contextOf = (o: GraphQLDataSourceProcessOptions<GatewayContext>): GatewayContext | undefined =>
  'incomingRequestContext' in o ? o.context : undefined;

const subgraphError = (message: string): GraphQLFormattedError => ({
  message,
  extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
});
