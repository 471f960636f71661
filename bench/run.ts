/**
 * `pnpm bench [name ...]`: runs every bench/<name>.bench.ts (or the named ones) one after another, each in its own
 * process so one bench's memory and event loop never colour another's figures, and prints their reports.
 * Benchmarks print figures; they never assert timings (targets are compared in the report, not in tests).
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
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  console.error(`unknown bench: ${unknown.join(', ')} (have: ${all.join(', ')})`);
  process.exit(2);
}
const names = wanted.length ? wanted : all;
console.log(`Company OS graph benchmarks — ${new Date().toISOString()} — node ${process.version}, ${names.length} bench(es)\n`);
let failed = 0;
for (const name of names) {
  console.log(`\n## ${name}\n`);
  const r = spawnSync(path.join(dir, '../node_modules/.bin/tsx'), [path.join(dir, `${name}.bench.ts`)], {
    stdio: 'inherit',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${name} failed (exit ${r.status})`);
  }
}
process.exit(failed ? 1 : 0);
