/**
 * `pnpm backup [--out <dir>] [--service <name>]...`: one pg_dump per service schema (and the mailer's) from one snapshot, plus
 * manifest.json (versions, files, sha256, row counts and content hashes per table). docs/backup-restore.md.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { backup } from './lib/backup';
import { SCHEMAS, repoRoot, type SchemaName } from './lib/paths';

const { values } = parseArgs({ options: { out: { type: 'string' }, service: { type: 'string', multiple: true } } });
const services = (values.service ?? [...SCHEMAS]) as SchemaName[];
const bad = services.find((s) => !SCHEMAS.includes(s));
if (bad) {
  console.error(`unknown service ${bad} (one of ${SCHEMAS.join(', ')})`);
  process.exit(2);
}
const adminUrl = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';
const outDir = values.out ?? path.join(repoRoot, 'backups', new Date().toISOString().replace(/[:.]/g, '-'));
try {
  await backup({ adminUrl, outDir, services });
  console.log(outDir);
} catch (err) {
  console.error(`backup failed: ${(err as Error).message}`);
  process.exit(1);
}
