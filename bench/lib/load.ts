/**
 * Closed-loop HTTP load generator, run as its OWN process (so its CPU never counts as the gateway's):
 * `tsx bench/lib/load.ts '<json LoadConfig>'` prints one JSON LoadResult line on stdout.
 * Each of `clients` loops sends the next request as soon as the previous answered, with its own Authorization
 * header (client i uses tokens[i % tokens.length]). undici Pool, one keep-alive socket per client, no pipelining.
 * A response counts as ok only with HTTP 200, a JSON body with `data` and no `errors`.
 */
import { Pool } from 'undici';

export interface LoadConfig {
  url: string;
  query: string;
  variables?: Record<string, unknown>;
  tokens: string[];
  clients: number;
  durationMs: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  failed: number;
  firstFailure: string | null;
  elapsedMs: number;
  rps: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  bytesPerResponse: number;
}

export async function runLoad(cfg: LoadConfig): Promise<LoadResult> {
  const u = new URL(cfg.url);
  const pool = new Pool(u.origin, { connections: cfg.clients, pipelining: 1, keepAliveTimeout: 60_000 });
  const body = JSON.stringify({ query: cfg.query, variables: cfg.variables ?? {} });
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let bytes = 0;
  let firstFailure: string | null = null;
  const start = performance.now();
  const end = start + cfg.durationMs;
  const client = async (i: number) => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${cfg.tokens[i % cfg.tokens.length]}`,
    };
    while (performance.now() < end) {
      const t0 = performance.now();
      let good = false;
      let text: string;
      let status = 0;
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers, body });
        status = res.statusCode;
        text = await res.body.text();
        // Cheap check on every response; the bench parses and compares full bodies separately.
        good = status === 200 && text.startsWith('{"data":') && !text.includes('"errors":');
      } catch (err) {
        text = String(err);
      }
      latencies.push(performance.now() - t0);
      bytes += text.length;
      if (good) ok++;
      else {
        failed++;
        firstFailure ??= `HTTP ${status}: ${text.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: cfg.clients }, (_, i) => client(i)));
  const elapsedMs = performance.now() - start;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  const n = latencies.length;
  return {
    requests: n,
    ok,
    failed,
    firstFailure,
    elapsedMs,
    rps: (n / elapsedMs) * 1000,
    latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: latencies[n - 1] ?? 0, mean: latencies.reduce((a, b) => a + b, 0) / (n || 1) },
    bytesPerResponse: n ? bytes / n : 0,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
  runLoad(cfg).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
