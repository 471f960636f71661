/**
 * `pnpm test`: every check CI runs, in order, stopping at the first failure.
 *   backing services → generated code fresh → supergraph fresh → typecheck → unit, integration, e2e tests.
 * Prints a closing "N passed, N failed, N skipped" line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './lib/paths';

const steps: Array<[string, string, string[]]> = [
  ['backing services', 'bash', ['infra/local/ensure-services.sh']],
  ['generated resolver types are fresh', 'pnpm', ['-s', 'codegen', '--check']],
  ['supergraph composes and is fresh', 'pnpm', ['-s', 'compose', '--check']],
  ['persisted-query manifests are fresh', 'pnpm', ['-s', 'persisted:manifests', '--check']],
  ['schema check (no breaking change, registered operations valid)', 'pnpm', ['-s', 'schema:check']],
  ['typecheck', 'pnpm', ['-s', 'typecheck']],
];
for (const [name, cmd, args] of steps) {
  console.log(`\n» ${name}`);
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    console.error(`✗ ${name} failed`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

console.log('\n» tests (unit, integration, e2e)');
mkdirSync(path.join(repoRoot, '.data'), { recursive: true });
const report = path.join(repoRoot, '.data/vitest-report.json');
const extra = process.argv.slice(2);
const r = spawnSync(
  'pnpm',
  ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra],
  { cwd: repoRoot, stdio: 'inherit', env: process.env },
);
try {
  const j = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
  console.log(`\n${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + j.numTodoTests} skipped`);
} catch {
  console.log('\n0 passed, 1 failed (no test report)');
}
process.exit(r.status ?? 1);
