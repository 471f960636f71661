/**
 * `pnpm pii:rotate <identity|customers>`: after a master-key rotation (the new key in PII_MASTER_KEY, the former ones
 * in PII_PREVIOUS_MASTER_KEYS), re-wraps every data key of the service still wrapped by a former key, in batches.
 * Then the former key can be dropped from PII_PREVIOUS_MASTER_KEYS. Safe to run again (nothing left: 0).
 * As the admin (COS_PG_ADMIN_URL), search_path = the service schema.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPool, Db, serviceDatabase } from '@cos/db';
import { rewrapKeys } from '@cos/pii';
import { configurePiiFromEnv } from './lib/pii-env';

export const PII_SERVICES = ['identity', 'customers'] as const;

export async function rotate(service: (typeof PII_SERVICES)[number], adminUrl: string): Promise<number> {
  const { schema } = serviceDatabase(service, adminUrl);
  const db = new Db(createPool({ connectionString: adminUrl, schema, applicationName: `cos-pii-rotate-${service}`, max: 1, statementTimeoutMs: 60_000 }));
  try {
    return await db.tx({ orgId: null }, (tx) => rewrapKeys(tx));
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const service = argv[0] as (typeof PII_SERVICES)[number];
  if (!PII_SERVICES.includes(service) || argv.length !== 1) {
    console.error(`usage: pnpm pii:rotate <${PII_SERVICES.join('|')}>   (env PII_MASTER_KEY, PII_PREVIOUS_MASTER_KEYS, COS_PG_ADMIN_URL)`);
    return 2;
  }
  try {
    const ring = configurePiiFromEnv();
    const n = await rotate(service, process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos');
    console.log(`${service}: re-wrapped ${n} data keys with master key ${ring.current.id}`);
    return 0;
  } catch (err) {
    console.error(`pii:rotate ${service} failed (nothing changed): ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
