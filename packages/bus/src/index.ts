/**
 * @cos/bus — the event backbone on NATS JetStream: stream provisioning, the transactional outbox relay, idempotent
 * durable consumers (inbox) and dead letters. Contract: ./api.md.
 */
import { fileURLToPath } from 'node:url';
import type { PackageMigrations } from '@cos/db';
export { connectBus, ensureStream, streamConfigs, type Bus, type BusConfig } from './connect';
export { startOutboxRelay, eventHeaders, PublishError, type OutboxRelay, type OutboxRelayOptions } from './relay';
export { startConsumer, type ConsumerOptions, type RunningConsumer } from './consumer';
export { listDeadLetters, replayDeadLetter, type DeadLetter } from './dead-letters';
export type { BusMetrics } from './metrics';
export { subjectFor, dlqSubjectFor, durableName, streamNames, BusHeaders, backoffFor, headerValue } from './subjects';

/**
 * The `inbox` table of durable consumers (index, row-level security): this package's migrations, applied by
 * `migrate()` before a service's own to every schema whose migrations/packages.json names @cos/bus.
 */
export const inboxMigrations: PackageMigrations = { name: '@cos/bus', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };
