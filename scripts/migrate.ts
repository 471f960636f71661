/** `pnpm migrate`: creates the project database if needed and applies every service's migrations. */
import { ensureDatabase } from '@cos/db';
import { migrateAll } from './lib/database';

const adminUrl = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';
try {
  if (await ensureDatabase(adminUrl)) console.log(`created database ${new URL(adminUrl).pathname.slice(1)}`);
  await migrateAll(adminUrl);
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exit(1);
}
