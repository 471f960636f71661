import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { contextFromTraceparent, initTracing, withSpan, type Tracing } from '../src';

/**
 * Sampling follows the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG variables: with
 * `parentbased_traceidratio` at 0 a process starts no trace of its own, yet continues every trace its caller sampled
 * (the gateway decides, subgraphs and consumers follow the `traceparent` flag).
 */
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
const saved = { s: process.env.OTEL_TRACES_SAMPLER, a: process.env.OTEL_TRACES_SAMPLER_ARG };

beforeAll(() => {
  process.env.OTEL_TRACES_SAMPLER = 'parentbased_traceidratio';
  process.env.OTEL_TRACES_SAMPLER_ARG = '0';
  tracing = initTracing({ service: 'sampling-test', exporter });
});

afterAll(async () => {
  await tracing.shutdown();
  for (const [k, v] of [
    ['OTEL_TRACES_SAMPLER', saved.s],
    ['OTEL_TRACES_SAMPLER_ARG', saved.a],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

it('starts no root trace at ratio 0 but continues a sampled caller, and not an unsampled one', async () => {
  await withSpan('root', {}, async () => {});
  expect(exporter.getFinishedSpans()).toHaveLength(0);

  const traceId = 'a'.repeat(32);
  await withSpan('continued', { parent: contextFromTraceparent(`00-${traceId}-${'b'.repeat(16)}-01`) }, async () => {});
  await withSpan('not sampled upstream', { parent: contextFromTraceparent(`00-${'c'.repeat(32)}-${'d'.repeat(16)}-00`) }, async () => {});
  const spans = exporter.getFinishedSpans();
  expect(spans.map((s) => s.name)).toEqual(['continued']);
  expect(spans[0]!.spanContext().traceId).toBe(traceId);
});
