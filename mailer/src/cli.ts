/**
 * Dead mails (DEAD after MAIL_MAX_ATTEMPTS): `pnpm dlq mail list [--json]`, `pnpm dlq mail retry <id|all>` (back to
 * PENDING with fresh attempts; a running mailer picks them up at once). Env: COS_PG_ADMIN_URL, or
 * MAILER_DATABASE_URL (the mailer's system role).
 */
import { parseArgs } from 'node:util';
import { createPool, Db, serviceDatabase } from '@cos/db';
import { envFields, parseEnv, z } from '@cos/config';
import { listDeadMails, retryDeadMails } from './store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const usage = 'usage: pnpm dlq mail list [--json] | pnpm dlq mail retry <mail id|all>';

/** Runs the `mail` subcommand of `pnpm dlq`; returns the exit code. */
export async function mailDlq(argv: string[]): Promise<number> {
  const env = parseEnv(
    z.object({
      COS_PG_ADMIN_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/cos'),
      MAILER_DATABASE_URL: envFields.url().optional(),
    }),
  );
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const [command, target] = positionals;
  if (command !== 'list' && !(command === 'retry' && target && (target === 'all' || UUID.test(target)))) {
    console.error(usage);
    return 2;
  }
  const cfg = serviceDatabase('mailer', env.COS_PG_ADMIN_URL, { systemUrl: env.MAILER_DATABASE_URL });
  const db = new Db(createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, applicationName: 'cos-dlq-mail', max: 1, statementTimeoutMs: 10_000 }));
  try {
    if (command === 'list') {
      const dead = await db.tx({ orgId: null }, (tx) => listDeadMails(tx, 1_000));
      if (values.json) console.log(JSON.stringify(dead.map(({ template: _t, ...m }) => m), null, 2));
      else if (dead.length === 0) console.log('no dead mails');
      else {
        console.log(`${'mail id'.padEnd(36)}  ${'created at'.padEnd(24)}  ${'kind'.padEnd(18)} attempts  last error`);
        for (const m of dead) console.log(`${m.id}  ${m.createdAt.toISOString()}  ${m.kind.padEnd(18)} ${String(m.attempts).padStart(8)}  ${m.lastError ?? ''}`);
      }
    } else {
      const ids = await db.tx({ orgId: null }, (tx) => retryDeadMails(tx, target!));
      for (const id of ids) console.log(`retrying ${id}`);
      console.log(`${ids.length} dead mail(s) queued again`);
    }
    return 0;
  } catch (err) {
    console.error(`dlq mail ${command} failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}
