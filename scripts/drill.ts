/**
 * `pnpm drill [--orgs N] [--writers N] [--ops N] [--keep]`: the backup and restore drill on a throwaway stack
 * (scripts/lib/drill.ts). `pnpm drill --pitr`: the point-in-time recovery drill on a scratch Postgres cluster
 * (scripts/lib/pitr.ts). Exit 0 only when every check passed. docs/backup-restore.md explains both.
 */
import { parseArgs } from 'node:util';
import { runDrill } from './lib/drill';
import { runPitrDrill } from './lib/pitr';

const { values } = parseArgs({
  options: {
    pitr: { type: 'boolean', default: false },
    orgs: { type: 'string' },
    writers: { type: 'string' },
    ops: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
try {
  if (values.pitr) {
    const r = await runPitrDrill();
    process.exitCode = r.ok ? 0 : 1;
  } else {
    const r = await runDrill({ orgs: num(values.orgs), writers: num(values.writers), opsBeforeBackup: num(values.ops), keepBackup: values.keep });
    if (values.keep) console.log(`backup kept in ${r.backupDir}`);
    process.exitCode = r.ok ? 0 : 1;
  }
} catch (err) {
  console.error(`drill failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
}
