/** identity's durable consumers: the audit log of tasks, customers and agents (one consumer per source service). */
import { startConsumer, type Bus, type RunningConsumer } from '@cos/bus';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { AUDITED_SERVICES, auditReactor } from './reactors/audit-entries';

/** `${prefix}.<org>.<service>.<StreamType>.<EventType>`: everything one service publishes. */
export const auditSubject = (prefix: string, service: string) => `${prefix}.*.${service}.>`;

export async function startIdentityConsumers(opts: { bus: Bus; systemDb: Db; log: Logger }): Promise<RunningConsumer[]> {
  const running: RunningConsumer[] = [];
  try {
    for (const service of AUDITED_SERVICES) {
      running.push(
        await startConsumer({
          bus: opts.bus,
          db: opts.systemDb,
          service: 'identity',
          name: `audit-${service}`,
          filterSubject: auditSubject(opts.bus.prefix, service),
          handle: auditReactor(service),
          log: opts.log,
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled(running.map((c) => c.stop()));
    throw err;
  }
  return running;
}
