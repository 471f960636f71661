/**
 * `pnpm test`: every check CI runs, in order, stopping at the first failure.
 *   backing services → generated code fresh → supergraph fresh → typecheck → lint → unit, integration, e2e tests.
 * Prints a closing "N passed, N failed, N skipped" line.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connectBus } from '@cos/bus';
import { createLogger } from '@cos/logger';
import { repoRoot } from './lib/paths';

const steps: Array<[string, string, string[]]> = [
  ['backing services', 'bash', ['infra/local/ensure-services.sh']],
  ['generated resolver types are fresh', 'pnpm', ['-s', 'codegen', '--check']],
  ['supergraph composes and is fresh', 'pnpm', ['-s', 'compose', '--check']],
  ['persisted-query manifests are fresh', 'pnpm', ['-s', 'persisted:manifests', '--check']],
  ['schema check (no breaking change, registered operations valid)', 'pnpm', ['-s', 'schema:check']],
  ['typecheck', 'pnpm', ['-s', 'typecheck']],
  ['lint (ESLint)', 'pnpm', ['-s', 'lint']],
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

// Test files provision JetStream streams under their own random prefixes, each carrying this run's tag
// (@cos/testing testSubjectPrefix): the run deletes the new streams with its tag only, so another run against the
// same NATS server keeps its streams (test databases are dropped by the files themselves).
const runTag = `r${randomBytes(3).toString('hex')}`;
process.env.COS_TEST_RUN = runTag;
const streamsBefore = await listStreams().catch(() => null);

console.log('\n» tests (unit, integration, e2e)');
mkdirSync(path.join(repoRoot, '.data'), { recursive: true });
const report = path.join(repoRoot, '.data/vitest-report.json');
const extra = process.argv.slice(2);
const r = spawnSync(
  'pnpm',
  ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra],
  { cwd: repoRoot, stdio: 'inherit', env: process.env },
);
let summary: string;
try {
  const j = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
  summary = `${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + j.numTodoTests} skipped`;
} catch {
  summary = '0 passed, 1 failed';
}
if (streamsBefore) {
  // Stream names are `<PREFIX>_EVENTS` / `<PREFIX>_DLQ`, prefixes `t|e<run tag><random>`.
  const ours = new RegExp(`^[TE]${runTag.toUpperCase()}[0-9A-F]+_`);
  const created = ((await listStreams().catch(() => [])) ?? []).filter((n) => !streamsBefore.includes(n) && ours.test(n));
  await deleteStreams(created).catch((err: Error) => console.warn(`could not delete test streams: ${err.message}`));
  if (created.length) console.log(`deleted ${created.length} JetStream streams created by the tests`);
}
console.log(`\n${summary}`);
process.exit(r.status ?? 1);

async function withJsm<T>(fn: (jsm: Awaited<ReturnType<typeof connectBus>>['jsm']) => Promise<T>): Promise<T> {
  const bus = await connectBus({
    servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    subjectPrefix: process.env.COS_SUBJECT_PREFIX ?? 'cos',
    name: 'test-runner',
    log: createLogger('test-runner', 'silent'),
  });
  try {
    return await fn(bus.jsm);
  } finally {
    await bus.close();
  }
}

async function listStreams(): Promise<string[]> {
  return withJsm(async (jsm) => {
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    return names;
  });
}

async function deleteStreams(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withJsm(async (jsm) => {
    for (const n of names) await jsm.streams.delete(n).catch(() => false);
  });
}
