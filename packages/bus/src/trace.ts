import { propagation, ROOT_CONTEXT, trace, type Context, type Span } from '@opentelemetry/api';

/**
 * OpenTelemetry helpers of the bus (the API only: with no SDK registered every span is the API's non-recording
 * no-op, and callers skip attribute work when `span.isRecording()` is false). @cos/observability registers the SDK;
 * the bus does not depend on it.
 */
export const busTracer = () => trace.getTracer('@cos/bus');

/** The context a W3C `traceparent` (+ optional `tracestate`) continues; the root context when there is none. */
export function contextOf(traceparent: string | null | undefined, tracestate?: string | null): Context {
  if (!traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent };
  if (tracestate) carrier.tracestate = tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** The W3C traceparent naming `span` as the parent of the next hop. */
export function traceparentOf(span: Span): string {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1).toString(16).padStart(2, '0')}`;
}
