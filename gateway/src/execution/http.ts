import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel';
import { setMaxListeners } from 'node:events';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { Logger } from '@cos/logger';

type Fetcher = RemoteGraphQLDataSource['fetcher'];

export interface SubgraphHttp {
  /** Fetch for RemoteGraphQLDataSource: pooled, with a hard per-fetch deadline. */
  fetcher: Fetcher;
  /**
   * The same contract for the query-plan fetches (CosDataSource), on undici's `Dispatcher.dispatch` instead of WHATWG
   * `fetch`: no Request/Response/web-stream objects and no body stream per call, the answer is a {@link LeanResponse}
   * (status, headers.get, text/json) over the body's chunks (dispatchText). Typed as a Fetcher so observability can
   * wrap it like the other one; only CosDataSource consumes it.
   */
  subgraphFetcher: Fetcher;
  /** GET with a short deadline over the same pool (readiness probes). */
  probe(url: string, timeoutMs: number): Promise<number>;
  /** POST `{ __typename }` with a short deadline: true when the subgraph answers `data.__typename`. */
  probeGraphQL(url: string, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * One undici keep-alive pool for all subgraph traffic. `connections` caps sockets per origin; idle sockets are
 * dropped after 30 s, below the subgraphs' 65 s keepAliveTimeout (service-kit runService) so the gateway never
 * writes to a socket the subgraph just closed. Each fetch carries a deadline signal that fires timeoutMs after it
 * started (AbortSignal.timeout, or for the query-plan fetches a {@link sharedDeadlines} signal), which covers
 * connect + headers + body, so a stuck subgraph turns into an error instead of a hung client request.
 */
export function createSubgraphHttp(opts: { connections: number; timeoutMs: number }): SubgraphHttp {
  const deadline = sharedDeadlines(opts.timeoutMs);
  const agent = new Agent({
    connections: opts.connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 30_000,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { timeout: Math.min(opts.timeoutMs, 5_000) },
  });
  const fetcher = (async (url, init) =>
    undiciFetch(url, {
      method: init?.method,
      headers: init?.headers,
      body: init?.body,
      dispatcher: agent,
      signal: AbortSignal.timeout(opts.timeoutMs),
    })) as Fetcher;
  const subgraphFetcher = ((url: string, init?: { method?: string; headers?: unknown; body?: unknown }) =>
    dispatchText(agent, url, {
      method: init?.method ?? 'POST',
      headers: init?.headers as Record<string, string> | undefined,
      body: init?.body as string | undefined,
      signal: deadline(),
    })) as unknown as Fetcher;
  return {
    fetcher,
    subgraphFetcher,
    async probe(url, timeoutMs) {
      const res = await undiciFetch(url, { dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.status;
    },
    async probeGraphQL(url, timeoutMs) {
      const res = await undiciFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: '{"query":"{ __typename }"}',
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.status !== 200) {
        await res.arrayBuffer();
        return false;
      }
      const body = (await res.json().catch(() => null)) as { data?: { __typename?: unknown } } | null;
      return typeof body?.data?.__typename === 'string';
    },
    close: () => agent.close(),
  };
}

/** Fetches started within this long of each other share one deadline signal (sharedDeadlines). */
export const DEADLINE_GRANULARITY_MS = 10;

/**
 * The abort reason of every shared deadline: one error, made once. A window's timer fires whether or not a fetch is
 * still waiting on it (most ended long before), and a DOMException per window (100 a second under load) was 0.3 % of
 * the gateway's CPU, capturing a stack trace nobody reads; a fetch that does time out reports its own context.
 */
const DEADLINE_REASON = new DOMException('The operation was aborted due to timeout', 'TimeoutError');

/**
 * Deadline signals for per-fetch timeouts at a fraction of AbortSignal.timeout's cost: each of those is an AbortSignal
 * plus a timer, a WeakRef and a FinalizationRegistry entry that live for the whole timeout (10 s by default) — at
 * thousands of subgraph fetches per second, tens of thousands of live timers and old-generation garbage. Here the
 * fetches started within one DEADLINE_GRANULARITY_MS window share one AbortController and one timer, which aborts
 * them `timeoutMs + DEADLINE_GRANULARITY_MS` after the window opened: every fetch still gets at least `timeoutMs`
 * (at most DEADLINE_GRANULARITY_MS more), and fails with the same `TimeoutError` AbortSignal.timeout gives.
 */
export function sharedDeadlines(timeoutMs: number, granularityMs = DEADLINE_GRANULARITY_MS): () => AbortSignal {
  let signal: AbortSignal | undefined;
  let openUntil = 0;
  return () => {
    const now = Date.now();
    if (signal && now < openUntil) return signal;
    const controller = new AbortController();
    // One listener per fetch of the window (undici removes its own when the fetch ends): not a leak.
    setMaxListeners(0, controller.signal);
    setTimeout(() => controller.abort(DEADLINE_REASON), timeoutMs + granularityMs).unref();
    signal = controller.signal;
    openUntil = now + granularityMs;
    return signal;
  };
}

/** True for the deadline errors of the fetch above (abort timeout or undici's own header/body timeouts). */
export function isTimeoutError(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const { name, code } = e as { name?: string; code?: string };
    if (name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return true;
    }
  }
  return false;
}

export type CircuitStateName = 'closed' | 'open' | 'half-open';

/**
 * A fetcher that fails fast while its target is down (cockatiel): `failureThreshold` consecutive failures (thrown
 * errors — refused, reset, timed out — or HTTP 5xx; a 4xx is about the request) open the circuit, calls then throw
 * BrokenCircuitError at once instead of waiting for the timeout, and one trial after `halfOpenAfterMs` closes it
 * again. Wraps each subgraph's fetcher (CosDataSource) and the gateway's own calls to identity (API-key
 * verification, persisted-document lookups, org members), whose callers turn a thrown error into "unavailable".
 */
export function withCircuitBreaker(
  fetcher: Fetcher,
  opts: { name: string; log: Logger; failureThreshold?: number; halfOpenAfterMs?: number; onStateChange?: (state: CircuitStateName) => void },
): Fetcher & { breaker: CircuitBreakerPolicy } {
  const breaker = circuitBreaker(handleAll.orWhenResult((r) => (r as { status?: number }).status! >= 500), {
    halfOpenAfter: opts.halfOpenAfterMs ?? 5_000,
    breaker: new ConsecutiveBreaker(opts.failureThreshold ?? 5),
  });
  breaker.onStateChange((state) => {
    const name: CircuitStateName = state === CircuitState.Open ? 'open' : state === CircuitState.HalfOpen ? 'half-open' : 'closed';
    if (name === 'open') opts.log.warn({ target: opts.name, failures: opts.failureThreshold ?? 5 }, 'circuit open: failing fast');
    else opts.log.info({ target: opts.name, state: name }, 'circuit state');
    opts.onStateChange?.(name);
  });
  const wrapped = ((url, init) => breaker.execute(() => fetcher(url, init))) as Fetcher & { breaker: CircuitBreakerPolicy };
  wrapped.breaker = breaker;
  return wrapped;
}

/** Nothing was exchanged with the subgraph (refused, reset, closed socket): a read may safely go out again. */
export function isConnectionError(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const { code } = e as { code?: string };
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return true;
  }
  return false;
}

/** What CosDataSource reads of a subgraph answer (a structural subset of the Fetch API's Response). */
export interface LeanResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** Origin and path of a subgraph URL, parsed once per URL (there are a handful). */
const targets = new Map<string, { origin: string; path: string }>();
function targetOf(url: string): { origin: string; path: string } {
  let t = targets.get(url);
  if (!t) {
    const u = new URL(url);
    t = { origin: u.origin, path: `${u.pathname}${u.search}` };
    if (targets.size < 1_000) targets.set(url, t);
  }
  return t;
}

/**
 * One request over undici's dispatcher API with a handler of our own that keeps the body's chunks and decodes them
 * once at the end (UTF-8, a BOM skipped, as undici's `body.text()` does). `request()` would build a RequestHandler,
 * a Readable body stream, its events and a consume promise for every subgraph answer: that machinery was most of
 * undici's ~10 % of the gateway's CPU on the Guild workload. The abort signal (the fetch's deadline) aborts the
 * request at any stage with its reason, as `request()` does.
 */
export function dispatchText(
  agent: Dispatcher,
  url: string,
  init: { method: string; headers: Record<string, string> | undefined; body: string | undefined; signal: AbortSignal },
): Promise<LeanResponse> {
  const { origin, path } = targetOf(url);
  const { signal } = init;
  return new Promise<LeanResponse>((resolve, reject) => {
    let status = 0;
    let statusText = '';
    let rawHeaders: Buffer[] | string[] | null = null;
    const chunks: Buffer[] = [];
    let length = 0;
    let abort: ((reason?: Error) => void) | undefined;
    let settled = false;
    const onAbort = () => abort?.(signal.reason as Error);
    const done = () => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
    };
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abortRequest) {
        abort = abortRequest;
        if (signal.aborted) abortRequest(signal.reason as Error);
      },
      onHeaders(statusCode, headers, _resume, message) {
        if (statusCode < 200) return true; // 1xx: the answer follows
        status = statusCode;
        statusText = message ?? '';
        rawHeaders = headers as Buffer[] | string[];
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        length += chunk.length;
        return true;
      },
      onComplete() {
        if (settled) return;
        done();
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
        const start = body.length > 2 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
        resolve(leanResponse(url, status, statusText, rawHeaders ?? [], body.toString('utf8', start)));
      },
      onError(err) {
        if (settled) return;
        done();
        reject(err);
      },
    };
    try {
      agent.dispatch({ origin, path, method: init.method as Dispatcher.HttpMethod, headers: init.headers, body: init.body }, handler);
    } catch (err) {
      done();
      reject(err);
    }
  });
}

function leanResponse(url: string, status: number, statusText: string, raw: Buffer[] | string[], text: string): LeanResponse {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    url,
    headers: {
      // Looked up on demand (CosDataSource reads one header per answer): raw is [name, value, name, value, ...].
      get(name) {
        const wanted = name.toLowerCase();
        let found: string[] | undefined;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          if (raw[i]!.toString().toLowerCase() === wanted) (found ??= []).push(raw[i + 1]!.toString());
        }
        return found ? found.join(', ') : null;
      },
    },
    text: () => Promise.resolve(text),
    json: () => Promise.resolve().then(() => JSON.parse(text) as unknown),
  };
}
