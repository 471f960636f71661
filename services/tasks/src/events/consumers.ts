/** The tasks service's durable consumers (one per source service, one filter subject each). */
import { startConsumer, type Bus, type RunningConsumer } from '@cos/bus';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createAgentsReactor } from './reactors/agents';
import { handleCustomersEvent } from './reactors/customers';
import { handleIdentityEvent } from './reactors/identity';
import { createBlobsReactor } from './reactors/blobs';
import type { BlobStore } from '@cos/files';
import { consumedSubjects } from './subjects';

export async function startTasksConsumers(opts: { bus: Bus; systemDb: Db; log: Logger; blobs: BlobStore }): Promise<RunningConsumer[]> {
  const subjects = consumedSubjects(opts.bus.prefix);
  const defs = [
    { name: 'identity', filterSubject: subjects.identity, handle: handleIdentityEvent },
    { name: 'agents', filterSubject: subjects.agents, handle: createAgentsReactor(opts.log) },
    { name: 'customers', filterSubject: subjects.customers, handle: handleCustomersEvent },
    { name: 'blobs', filterSubject: subjects.attachmentRemoved, handle: createBlobsReactor(opts.blobs, opts.log) },
  ];
  const running: RunningConsumer[] = [];
  try {
    for (const d of defs) {
      running.push(await startConsumer({ bus: opts.bus, db: opts.systemDb, service: 'tasks', log: opts.log, ...d }));
    }
  } catch (err) {
    await Promise.allSettled(running.map((c) => c.stop()));
    throw err;
  }
  return running;
}
