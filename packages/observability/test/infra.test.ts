import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createAgentMetrics, createMetrics, observeResponseCache, observeSubgraphTransport } from '../src';
// The mailer process registers its own series (mailer/src/metrics.ts); its DB is only read on scrape.
import { createMailerMetrics } from '../../../mailer/src/metrics';

const infra = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../infra');
const read = (p: string) => readFileSync(path.join(infra, p), 'utf8');

/** Every metric name the processes export (observePool adds the pool gauges by pool name; the gateway its cache and transport counters; agents its worker-protocol counters; the mailer its mail series). */
function exportedNames(): Set<string> {
  const m = createMetrics('test');
  observeResponseCache(m, () => ({ hits: 0, misses: 0, stores: 0, subgraphHits: 0, subgraphMisses: 0, subgraphStores: 0, raced: 0, invalidations: 0, entries: 0, bytes: 0 }));
  observeSubgraphTransport(m, () => ({ entityFetches: 0, entityRequests: 0, representationsDeduplicated: 0, inflightJoined: 0 }));
  createAgentMetrics(m.registry);
  createMailerMetrics(m.registry, {} as Parameters<typeof createMailerMetrics>[1]);
  for (const pool of ['runtime', 'system']) {
    new Gauge({ name: `cos_pg_pool_${pool}_connections`, help: 'x', registers: [m.registry] });
  }
  const names = new Set<string>();
  for (const metric of m.registry.getMetricsAsArray()) {
    names.add(metric.name);
    for (const suffix of ['_bucket', '_count', '_sum']) names.add(metric.name + suffix);
  }
  return names;
}

const referenced = (text: string) => new Set([...text.matchAll(/\b(cos_[a-z0-9_]+)/g)].map((x) => x[1]!));

describe('infra dashboards and alert rules use the metrics the code exports', () => {
  const names = exportedNames();

  it('alerts.yml references only exported metrics and covers the SLOs', () => {
    const text = read('prometheus/alerts.yml');
    for (const n of referenced(text)) expect(names.has(n), n).toBe(true);
    for (const alert of ['GraphQLLatencyP95High', 'GraphQLLatencyP99High', 'GraphQLServerErrorRateHigh', 'EventLagHigh', 'DeadLetters', 'PgPoolSaturated']) {
      expect(text).toContain(`alert: ${alert}`);
    }
    expect(text).toMatch(/p95_5m > 0\.5/);
    expect(text).toMatch(/p99_5m > 2\b/);
    expect(text).toMatch(/> 0\.001/);
  });

  it('the Grafana dashboard is valid JSON whose queries reference only exported metrics', () => {
    const dash = JSON.parse(read('grafana/dashboards/company-os.json')) as { uid: string; panels: Array<{ type: string; targets?: Array<{ expr: string }> }> };
    expect(dash.uid).toBe('company-os');
    const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(15);
    for (const e of exprs) for (const n of referenced(e)) expect(names.has(n), `${n} in ${e}`).toBe(true);
  });
});
