/**
 * Runs a trusted document through the gateway with the caller's own credential, so the gateway's authentication,
 * per-field authorization, tenant scoping, limits, rate limits and audit apply exactly as for any other client.
 * The document goes by id (`extensions.persistedQuery.sha256Hash`): partner keys are safelist-only and may run
 * nothing else. A first-party caller whose gateway does not know the document (PERSISTED_QUERY_NOT_FOUND: the
 * gateway loads other first-party manifests) gets it registered once with the body, as Apollo's APQ link does;
 * for a partner key that answer cannot occur (unregistered → OPERATION_NOT_ALLOWED).
 */
import type { ManifestOperation } from '@cos/persisted';

/** The caller's credential, forwarded unchanged: a partner API key or a person's access token. */
export type Credential = { kind: 'apiKey'; secret: string } | { kind: 'bearer'; token: string };

/** One GraphQL error as the gateway answers it (API.md: `extensions.code` is a contract code). */
export interface GraphQLErrorJson {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: Record<string, unknown>;
}

/** What the gateway answered: a GraphQL response (any HTTP status), with Retry-After when it sent one. */
export interface GatewayAnswer {
  httpStatus: number;
  data?: Record<string, unknown> | null;
  errors?: GraphQLErrorJson[];
  retryAfterS?: number;
  requestId?: string;
}

/** No GraphQL answer: the gateway was unreachable, too slow, or answered something that is not GraphQL. */
export class GatewayUnavailableError extends Error {
  constructor(
    message: string,
    /** True when the request may have reached the gateway (a timeout): a mutation may have been applied. */
    readonly outcomeUnknown: boolean,
  ) {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

export interface GatewayClientOptions {
  /** The gateway's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql */
  url: string;
  /** Longest wait for one gateway answer. */
  timeoutMs: number;
  /** Sent as User-Agent (gateway logs show where a call came from). */
  userAgent?: string;
}

export interface ExecuteOptions {
  /** The MCP request's cancellation (client cancelled, transport closed). */
  signal?: AbortSignal;
  /** Forwarded as x-request-id (the gateway keeps well-formed ones and logs them). */
  requestId?: string;
}

export interface GatewayClient {
  execute(op: ManifestOperation, variables: Record<string, unknown>, credential: Credential, opts?: ExecuteOptions): Promise<GatewayAnswer>;
  /** The gateway answers its /readyz (for this process's own /readyz). */
  ready(): Promise<boolean>;
}

export function credentialHeader(c: Credential): string {
  return c.kind === 'apiKey' ? `ApiKey ${c.secret}` : `Bearer ${c.token}`;
}

export function createGatewayClient(opts: GatewayClientOptions): GatewayClient {
  const readyUrl = new URL('/readyz', opts.url).toString();

  async function post(body: Record<string, unknown>, credential: Credential, eo: ExecuteOptions): Promise<GatewayAnswer> {
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const signal = eo.signal ? AbortSignal.any([eo.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: credentialHeader(credential),
          'user-agent': opts.userAgent ?? 'cos-mcp',
          ...(eo.requestId ? { 'x-request-id': eo.requestId } : {}),
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (eo.signal?.aborted) throw new GatewayUnavailableError('The call was cancelled', true);
      if (timeout.aborted) {
        throw new GatewayUnavailableError(`The gateway did not answer within ${opts.timeoutMs} ms`, true);
      }
      throw new GatewayUnavailableError(`The gateway is unreachable (${(err as Error).message})`, false);
    }
    let text: string;
    try {
      text = await res.text();
    } catch {
      throw new GatewayUnavailableError(`The gateway's answer did not arrive within ${opts.timeoutMs} ms`, true);
    }
    let json: { data?: unknown; errors?: unknown };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw new GatewayUnavailableError(`The gateway answered HTTP ${res.status} without a GraphQL response`, res.status >= 500);
    }
    if (json === null || typeof json !== 'object' || (!('data' in json) && !Array.isArray(json.errors))) {
      throw new GatewayUnavailableError(`The gateway answered HTTP ${res.status} without a GraphQL response`, res.status >= 500);
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      httpStatus: res.status,
      data: (json.data ?? null) as GatewayAnswer['data'],
      ...(Array.isArray(json.errors) ? { errors: json.errors as GraphQLErrorJson[] } : {}),
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}),
      ...(res.headers.get('x-request-id') ? { requestId: res.headers.get('x-request-id')! } : {}),
    };
  }

  return {
    async execute(op, variables, credential, eo = {}) {
      const byId = { operationName: op.name, variables, extensions: { persistedQuery: { version: 1, sha256Hash: op.id } } };
      const answer = await post(byId, credential, eo);
      const notFound = answer.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND');
      return notFound ? post({ ...byId, query: op.body }, credential, eo) : answer;
    },
    async ready() {
      try {
        const res = await fetch(readyUrl, { signal: AbortSignal.timeout(Math.min(opts.timeoutMs, 2_000)) });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    },
  };
}
