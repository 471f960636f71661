/**
 * `pnpm pii:seal <identity|customers>`: seals the personal fields of events stored before encryption (in place,
 * batches; an erased subject's become tombstones). Run once after upgrading; safe to repeat (prints 0).
 * `pnpm pii:rotate <identity|customers>`: after a master-key rotation (the new key in PII_MASTER_KEY, the former ones
 * in PII_PREVIOUS_MASTER_KEYS), re-wraps every data key of the service still wrapped by a former key, in batches.
 * Then the former key can be dropped from PII_PREVIOUS_MASTER_KEYS. Safe to run again (nothing left: 0).
 * As the admin (COS_PG_ADMIN_URL), search_path = the service schema.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPool, Db, serviceDatabase } from '@cos/db';
import { rewrapKeys } from '@cos/pii';
import { loadProjections } from './rebuild';
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

/** Seals the plaintext personal fields of a service's old events with its codec (the event store's). */
export async function seal(service: (typeof PII_SERVICES)[number], adminUrl: string): Promise<number> {
  const { eventStore } = (await loadProjections(service)) as unknown as { eventStore: { codec?: { sealStoredEvents(q: unknown): Promise<number> } } };
  if (!eventStore.codec) throw new Error(`${service} has no personal-data codec`);
  const { schema } = serviceDatabase(service, adminUrl);
  const db = new Db(createPool({ connectionString: adminUrl, schema, applicationName: `cos-pii-seal-${service}`, max: 1, statementTimeoutMs: 10 * 60_000 }));
  try {
    return await db.tx({ orgId: null }, (tx) => eventStore.codec!.sealStoredEvents(tx));
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, service] = argv as ['rotate' | 'seal', (typeof PII_SERVICES)[number]];
  if (!['rotate', 'seal'].includes(command) || !PII_SERVICES.includes(service) || argv.length !== 2) {
    console.error(`usage: pnpm pii:rotate|pii:seal <${PII_SERVICES.join('|')}>   (env PII_MASTER_KEY, PII_PREVIOUS_MASTER_KEYS, COS_PG_ADMIN_URL)`);
    return 2;
  }
  try {
    const ring = configurePiiFromEnv();
    const adminUrl = process.env.COS_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/cos';
    if (command === 'rotate') {
      const n = await rotate(service, adminUrl);
      console.log(`${service}: re-wrapped ${n} data keys with master key ${ring.current.id}`);
    } else {
      const n = await seal(service, adminUrl);
      console.log(`${service}: sealed the personal fields of ${n} events stored in plaintext`);
    }
    return 0;
  } catch (err) {
    console.error(`pii:${command} ${service} failed (nothing changed): ${(err as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
