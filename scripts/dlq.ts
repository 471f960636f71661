/**
 * `pnpm dlq list [--service <svc>] [--json]`      dead letters, oldest first
 * `pnpm dlq replay <seq|all> [--service <svc>]`    republish to the original subject, then remove from the DLQ
 *
 * `pnpm dlq mail list [--json]` / `pnpm dlq mail retry <id|all>`   the mailer's dead mails (README "Email")
 *
 * Env: NATS_URL (default nats://127.0.0.1:4222), COS_SUBJECT_PREFIX (default cos).
 */
import { parseArgs } from 'node:util';
// @cos/config is not a root dependency (only the one script line may change in the root package.json): import its source.
import { parseEnv, z } from '../packages/config/src/index';
import { createLogger } from '@cos/logger';
import { connectBus, listDeadLetters, replayDeadLetter, type DeadLetter } from '@cos/bus';

const cliArgs = process.argv.slice(2).filter((a) => a !== '--');
if (cliArgs[0] === 'mail') {
  const { mailDlq } = await import('../mailer/src/cli');
  process.exit(await mailDlq(cliArgs.slice(1)));
}

const env = parseEnv(
  z.object({
    NATS_URL: z.string().default('nats://127.0.0.1:4222'),
    COS_SUBJECT_PREFIX: z.string().regex(/^[a-z][a-z0-9]*$/).default('cos'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  }),
);

const usage = 'usage: pnpm dlq list [--service <svc>] [--json] | pnpm dlq replay <seq|all> [--service <svc>] | pnpm dlq mail list|retry <id|all>';
const { values, positionals } = parseArgs({
  args: cliArgs,
  allowPositionals: true,
  options: { service: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
});
const [command, target] = positionals;
if (values.help || !command || !['list', 'replay'].includes(command) || (command === 'replay' && !target)) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
let seq: number | 'all' = 'all';
if (command === 'replay' && target !== 'all') {
  seq = Number(target);
  if (!Number.isInteger(seq) || seq <= 0) {
    console.error(`not a DLQ sequence: ${target}\n${usage}`);
    process.exit(2);
  }
}

const line = (d: DeadLetter) =>
  `${String(d.seq).padStart(6)}  ${d.deadAt}  ${d.consumer.padEnd(28)} ${(d.eventType ?? '?').padEnd(24)} ${d.eventId ?? '?'}  x${d.deliveryCount}  ${d.error}`;

const bus = await connectBus({ servers: env.NATS_URL, subjectPrefix: env.COS_SUBJECT_PREFIX, name: 'cos-dlq-cli', log: createLogger('dlq', env.LOG_LEVEL) });
try {
  if (command === 'list') {
    const list = await listDeadLetters(bus, { service: values.service });
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else if (list.length === 0) console.log(`no dead letters in ${bus.dlqStreamName}${values.service ? ` for ${values.service}` : ''}`);
    else {
      console.log(`${'seq'.padStart(6)}  ${'dead at'.padEnd(24)}  ${'consumer'.padEnd(28)} ${'event type'.padEnd(24)} event id  deliveries  error`);
      for (const d of list) console.log(line(d));
    }
  } else {
    const done = await replayDeadLetter(bus, seq, { service: values.service });
    for (const d of done) console.log(`replayed ${d.seq} (${d.eventType ?? '?'} ${d.eventId ?? '?'}) -> ${d.originalSubject}`);
    console.log(`${done.length} dead letter(s) replayed`);
  }
} catch (err) {
  console.error(`dlq ${command} failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await bus.close();
}
