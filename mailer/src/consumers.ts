/** The mailer's durable consumers: one per source service (one filter subject each, NATS 2.9). */
import { startConsumer, type Bus, type BusMetrics, type RunningConsumer } from '@cos/bus';
import type { Db } from '@cos/db';
import { eventSubject } from '@cos/events';
import type { Logger } from '@cos/logger';
import { createCustomersReactor, createIdentityReactor, createTasksReactor } from './reactors';
import type { MailLinks } from './store';

export const MAILER_SERVICE = 'mailer';

export async function startMailerConsumers(opts: {
  bus: Bus;
  db: Db;
  log: Logger;
  links: MailLinks;
  metrics?: BusMetrics;
  maxDeliver?: number;
  backoffMs?: number[];
}): Promise<RunningConsumer[]> {
  const p = opts.bus.prefix;
  const defs = [
    { name: 'identity', filterSubject: `${p}.*.${eventSubject('identity')}`, handle: createIdentityReactor() },
    { name: 'tasks', filterSubject: `${p}.*.${eventSubject('tasks')}`, handle: createTasksReactor(opts.links) },
    { name: 'customers', filterSubject: `${p}.*.${eventSubject('customers', 'Customer')}`, handle: createCustomersReactor(opts.links) },
  ];
  const running: RunningConsumer[] = [];
  try {
    for (const d of defs) {
      running.push(
        await startConsumer({
          bus: opts.bus,
          db: opts.db,
          service: MAILER_SERVICE,
          log: opts.log,
          metrics: opts.metrics,
          maxDeliver: opts.maxDeliver,
          backoffMs: opts.backoffMs,
          ...d,
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled(running.map((c) => c.stop()));
    throw err;
  }
  return running;
}
