import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type * as OtelCore from '@opentelemetry/core';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as OtelResources from '@opentelemetry/resources';
import type * as TraceBase from '@opentelemetry/sdk-trace-base';
import type * as TraceNode from '@opentelemetry/sdk-trace-node';
import type { Plugin } from 'graphql-yoga';
import { getOperationAST, type DocumentNode } from 'graphql';
import type { Db } from '@cos/db';

/**
 * OpenTelemetry tracing, OFF unless configured: with neither an OTLP endpoint nor an exporter, no SDK is registered,
 * every @opentelemetry/api call is the API's no-op, and processes do not even install the tracing plugins.
 *
 * Trace path: gateway request span → one CLIENT span per subgraph fetch (its traceparent is what the subgraph
 * receives) → subgraph SERVER span → one span per SQL statement (from Db.onQuery, parented by the active context)
 * → the event's metadata.traceparent → the outbox relay's PRODUCER span (@cos/bus; the NATS header `traceparent`
 * names it) → the reacting service's CONSUMER span `<filter subject> process` (@cos/bus) → its SQL and the events
 * it appends, whose metadata.traceparent is the consumer span → their PRODUCER spans → and so on.
 */
export interface TracingOptions {
  service: string;
  /** OTLP/HTTP base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT), e.g. http://collector:4318; `/v1/traces` is appended. */
  otlpEndpoint?: string;
  /** An explicit exporter (tests use InMemorySpanExporter); exported synchronously (SimpleSpanProcessor). */
  exporter?: TraceBase.SpanExporter;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Flushes pending spans and unregisters (noop when disabled). */
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

const DISABLED: Tracing = { enabled: false, shutdown: async () => {}, forceFlush: async () => {} };

export const TRACER_NAME = '@cos/observability';
const tracer = () => trace.getTracer(TRACER_NAME);

/**
 * The tracing SDK's packages, loaded only when tracing is on: with it off (no endpoint, the default) a process would
 * otherwise carry ~4.7 MB of heap it never uses, which every mark-compact marks again. Required synchronously
 * (initTracing runs at start-up, before anything is traced); their CommonJS builds share the API's global registry
 * with the ES build this module imports `@opentelemetry/api` from.
 */
const load = createRequire(import.meta.url);

/** Registers a global tracer provider (AsyncLocalStorage context, W3C propagation) when an exporter is configured. */
export function initTracing(opts: TracingOptions): Tracing {
  if (!opts.exporter && !opts.otlpEndpoint) return DISABLED;
  const { BatchSpanProcessor, SimpleSpanProcessor } = load('@opentelemetry/sdk-trace-base') as typeof TraceBase;
  const { NodeTracerProvider } = load('@opentelemetry/sdk-trace-node') as typeof TraceNode;
  const { Resource } = load('@opentelemetry/resources') as typeof OtelResources;
  const { W3CTraceContextPropagator } = load('@opentelemetry/core') as typeof OtelCore;
  let processor: TraceBase.SpanProcessor;
  if (opts.exporter) processor = new SimpleSpanProcessor(opts.exporter);
  else {
    const { OTLPTraceExporter } = load('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp;
    processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.otlpEndpoint!.replace(/\/+$/, '')}/v1/traces` }));
  }
  const provider = new NodeTracerProvider({
    resource: new Resource({ 'service.name': opts.service }),
    spanProcessors: [processor],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    enabled: true,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const headersGetter: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

/** The W3C traceparent of a span (what a downstream hop must receive to continue the trace). */
export function traceparentOf(span: Span | undefined): string | null {
  const sc = span?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1).toString(16).padStart(2, '0')}`;
}

/** The active span's traceparent, or null when tracing is off / no span is active. */
export const currentTraceparent = (): string | null => traceparentOf(trace.getActiveSpan());

/** The context a `traceparent` (and optional `tracestate`) header continues. */
export function contextFromTraceparent(traceparent: string | null | undefined, tracestate?: string | null): Context {
  if (!traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier.tracestate = tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** Runs `fn` in a new active span; records exceptions and ends the span when `fn` settles. */
export async function withSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, opts.parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A SERVER span per HTTP request, continuing the caller's `traceparent`, active for the whole request so subgraph
 * fetches and SQL statements become its children. The span is renamed after the GraphQL operation once known, and
 * the GraphQL context's `traceparent` is set to it (so events appended in this request carry it into NATS).
 */
export function useTracing(opts: { service: string }): Plugin {
  const spans = new WeakMap<Request, Span>();
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const url = new URL(request.url);
        if (url.pathname === '/metrics' || url.pathname === '/healthz' || url.pathname === '/readyz') return wrapped();
        const parent = propagation.extract(ROOT_CONTEXT, request.headers, headersGetter);
        return tracer().startActiveSpan(
          `${opts.service} ${request.method} ${url.pathname}`,
          { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': url.pathname, 'service.name': opts.service } },
          parent,
          async (span) => {
            spans.set(request, span);
            try {
              await wrapped();
            } catch (err) {
              span.recordException(err as Error);
              span.setStatus({ code: SpanStatusCode.ERROR });
              throw err;
            } finally {
              span.end();
            }
          },
        );
      },
    },
    onExecute({ args }) {
      const ctx = args.contextValue as { request?: Request; traceparent?: string | null };
      const span = ctx.request ? spans.get(ctx.request) : trace.getActiveSpan();
      if (!span) return;
      const op = getOperationAST(args.document as DocumentNode, args.operationName ?? undefined);
      const name = op?.name?.value ?? 'anonymous';
      span.updateName(`${op?.operation ?? 'graphql'} ${name}`);
      span.setAttributes({ 'graphql.operation.name': name, 'graphql.operation.type': op?.operation ?? 'unknown' });
      const tp = traceparentOf(span);
      if (tp) ctx.traceparent = tp;
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? (result.errors as readonly unknown[] | undefined) : undefined;
          if (errors?.length) span.setStatus({ code: SpanStatusCode.ERROR, message: `${errors.length} GraphQL error(s)` });
        },
      };
    },
  };
}

/**
 * One span per SQL statement of `db`, created when the statement finishes with its real start time, parented by the
 * active context (the request or consumer span). The span name is the statement's `/* name *\/` comment.
 */
export function traceQueries(db: Db, system: string): () => void {
  return db.onQuery((e) => {
    const parent = context.active();
    if (!trace.getSpan(parent)) return; // no trace to attach to (background polling): no orphan spans
    const end = Date.now();
    const span = tracer().startSpan(
      `sql ${statementName(e.sql)}`,
      {
        kind: SpanKind.CLIENT,
        startTime: end - e.durationMs,
        attributes: { 'db.system': 'postgresql', 'db.namespace': system, 'db.operation.name': statementName(e.sql) },
      },
      parent,
    );
    span.end(end);
  });
}

const NAME = /\/\*\s*([A-Za-z0-9_.:-]{1,64})\s*\*\//;
export function statementName(sql: string): string {
  const m = NAME.exec(sql);
  if (m) return m[1]!;
  return (sql.trim().split(/\s+/, 1)[0] ?? 'query').toUpperCase().slice(0, 16);
}

/**
 * Wraps a fetch-style function used for subgraph calls: a CLIENT span per call whose traceparent replaces the one in
 * the outgoing headers, plus the fetch latency/outcome callback (metrics).
 */
export function instrumentFetch<I extends { headers?: unknown }, R extends { status: number }>(
  subgraph: string,
  fetcher: (url: string, init?: I) => Promise<R>,
  observe?: (subgraph: string, seconds: number, outcome: 'ok' | 'error') => void,
): (url: string, init?: I) => Promise<R> {
  return async (url: string, init?: I): Promise<R> => {
    const start = performance.now();
    const active = trace.getActiveSpan();
    const run = async () => {
      let outcome: 'ok' | 'error' = 'error';
      try {
        const res = await fetcher(url, init);
        outcome = res.status >= 200 && res.status < 300 ? 'ok' : 'error';
        return res;
      } finally {
        observe?.(subgraph, (performance.now() - start) / 1000, outcome);
      }
    };
    if (!active) return run();
    return withSpan(`fetch ${subgraph}`, { kind: SpanKind.CLIENT, attributes: { 'graphql.subgraph': subgraph, 'url.full': url } }, async (span) => {
      const tp = traceparentOf(span);
      if (tp) setHeader(init?.headers, 'traceparent', tp);
      const res = await run();
      span.setAttribute('http.response.status_code', res.status);
      if (res.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      return res;
    });
  };
}

function setHeader(headers: unknown, name: string, value: string) {
  if (!headers) return;
  if (typeof (headers as Headers).set === 'function') (headers as Headers).set(name, value);
  else if (Array.isArray(headers)) {
    const row = (headers as [string, string][]).find(([k]) => k.toLowerCase() === name);
    if (row) row[1] = value;
    else (headers as [string, string][]).push([name, value]);
  } else if (typeof headers === 'object') (headers as Record<string, string>)[name] = value;
}

export { SpanKind };
