import { startConsumer, type Bus, type RunningConsumer } from '@cos/bus';
import type { Db } from '@cos/db';
import type { Logger } from '@cos/logger';
import { createIdentityReactor, IDENTITY_CONSUMER } from './reactors/identity';
import { createTasksReactor, TASKS_CONSUMER } from './reactors/tasks';
import { identitySubjects, SERVICE, tasksSubjects } from './subjects';

/**
 * Starts the agents service's durable consumers (durables `agents-identity`, `agents-tasks`): each handler runs in
 * one system-role transaction with the inbox insert, so redeliveries are no-ops.
 */
export async function startAgentsConsumers(deps: { bus: Bus; systemDb: Db; log: Logger; maxAttempts: number }): Promise<RunningConsumer[]> {
  const { bus, systemDb, log } = deps;
  return [
    await startConsumer({
      bus,
      db: systemDb,
      service: SERVICE,
      name: IDENTITY_CONSUMER,
      filterSubject: identitySubjects(bus.prefix),
      handle: createIdentityReactor({ log }),
      log,
    }),
    await startConsumer({
      bus,
      db: systemDb,
      service: SERVICE,
      name: TASKS_CONSUMER,
      filterSubject: tasksSubjects(bus.prefix),
      handle: createTasksReactor({ log, maxAttempts: deps.maxAttempts }),
      log,
    }),
  ];
}
