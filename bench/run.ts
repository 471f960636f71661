/**
 * `pnpm bench [name ...]`: runs every bench/<name>.bench.ts (or the named ones) one after another, each in its own
 * process so one bench's memory and event loop never colour another's figures, and prints their reports.
 * Benchmarks print figures; they never assert timings (targets are compared in the report, not in tests).
 * `soak` and `chaos` run minutes and start their own private Postgres/NATS/Redis: `pnpm bench` without names skips
 * them (name them to run them).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
// `pnpm bench soak --users 100 --minutes 2`: names first, then options, passed on to every bench run.
const firstFlag = process.argv.slice(2).findIndex((a) => a.startsWith('--'));
const wanted = firstFlag < 0 ? process.argv.slice(2) : process.argv.slice(2, 2 + firstFlag);
const flags = firstFlag < 0 ? [] : process.argv.slice(2 + firstFlag);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown bench: ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}
const LONG = new Set(['soak', 'chaos']);
const names = wanted.length ? wanted : all.filter((n) => !LONG.has(n));
console.log(`Company OS graph benchmarks — ${new Date().toISOString()} — node ${process.version}, ${names.length} bench(es)\n`);
let failed = 0;
for (const name of names) {
  console.log(`\n## ${name}\n`);
  const r = spawnSync(path.join(dir, '../node_modules/.bin/tsx'), [path.join(dir, `${name}.bench.ts`), ...flags], {
    stdio: 'inherit',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${name} failed (exit ${r.status})`);
  }
}
process.exit(failed ? 1 : 0);
