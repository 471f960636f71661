/**
 * `pnpm restore <backup-dir> [--target <admin-url>] [--no-jetstream]`: verifies the manifest's checksums, restores
 * every service schema into a FRESH database (default: COS_PG_ADMIN_URL's; it must not hold the schemas yet),
 * verifies every table's row count and content hash, and rebuilds the JetStream events stream (NATS_URL,
 * COS_SUBJECT_PREFIX) from the events tables. Prints the time of each step. docs/backup-restore.md.
 */
import { parseArgs } from 'node:util';
import { restore } from './lib/backup';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { target: { type: 'string' }, 'no-jetstream': { type: 'boolean', default: false } },
});
if (positionals.length !== 1) {
  console.error('usage: pnpm restore <backup-dir> [--target postgres://…/db] [--no-jetstream]');
  process.exit(2);
}
const target = values.target ?? process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';
try {
  const r = await restore({
    backupDir: positionals[0]!,
    targetAdminUrl: target,
    jetstream: values['no-jetstream'] ? undefined : { natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: process.env.COS_SUBJECT_PREFIX ?? 'cos' },
  });
  console.log(
    `restored backup of ${r.manifest.database} (${r.manifest.createdAt}) in ${r.ms.total} ms: checksums ${r.ms.verifyFiles} ms, ` +
      `pg_restore ${r.ms.pgRestore} ms, verification ${r.ms.verifyTables} ms, JetStream rebuild ${r.ms.republish} ms (${r.republished} events)`,
  );
} catch (err) {
  console.error(`restore failed: ${(err as Error).message}`);
  process.exit(1);
}
