import { randomUUID } from 'node:crypto';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import { signPrincipal, type Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { Logger } from '@cos/logger';
import type { GatewayContext } from './context';
import { isTimeoutError } from './http';

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
}

/**
 * Calls one subgraph for @apollo/gateway: signs the caller's principal (HMAC, @cos/auth) into every request,
 * forwards x-request-id / x-correlation-id / traceparent, and turns transport failures into a GraphQL error for the
 * fields of this subgraph (the rest of the operation still resolves) instead of an exception or a hang.
 */
export class CosDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly opts: CosDataSourceOptions;

  constructor(opts: CosDataSourceOptions) {
    super({ url: opts.url, fetcher: opts.fetcher });
    this.opts = opts;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = options.request.http?.headers;
    if (!headers) return;
    const ctx = contextOf(options);
    const principal: Principal = ctx?.principal ?? { kind: 'anonymous' };
    for (const [name, value] of Object.entries(signPrincipal(principal, this.opts.secret))) headers.set(name, value);
    const requestId = ctx?.requestId ?? randomUUID();
    headers.set('x-request-id', requestId);
    headers.set('x-correlation-id', ctx?.correlationId ?? requestId);
    if (ctx?.traceparent) headers.set('traceparent', ctx.traceparent);
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<ProcessResult> {
    try {
      return await super.process(options);
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

/** The client request's context; health checks and schema loads have none. */
const contextOf = (o: GraphQLDataSourceProcessOptions<GatewayContext>): GatewayContext | undefined =>
  'incomingRequestContext' in o ? o.context : undefined;

const subgraphError = (message: string): GraphQLFormattedError => ({
  message,
  extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
});
