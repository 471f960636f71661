/**
 * A mailer wired like the process (consumers + sender) against a fresh database, a random subject
 * prefix and a local SMTP server (smtp-server) the test controls: it can refuse recipients or fail DATA.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { connectBus, type Bus, type RunningConsumer } from '@cos/bus';
import { createPool, Db, migrate } from '@cos/db';
import type { StoredEvent } from '@cos/event-store';
import { createLogger } from '@cos/logger';
import { createTestDatabase, repoRoot, testSubjectPrefix, type TestDatabase } from '@cos/testing';
import { Registry } from 'prom-client';
import { startMailerConsumers } from '../src/consumers';
import { createMailerMetrics } from '../src/metrics';
import { startSender, type Sender } from '../src/sender';
import { smtpTransport } from '../src/transport';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

export { startSmtpSink, type ReceivedMail, type SmtpSink } from './smtp-sink';

export const log = createLogger('mailer-test', process.env.LOG_LEVEL ?? 'silent');
export const SECRET = 'test-unsubscribe-secret-0123456789abcdef';
export const PUBLIC_BASE_URL = 'http://cos.test';

export interface MailerHarness {
  tdb: TestDatabase;
  db: Db;
  bus: Bus;
  smtp: SmtpSink;
  sender: Sender;
  /** Publishes an event as the owning service's relay would (msgID = event id unless given). */
  publish(service: string, streamType: string, e: Partial<StoredEvent> & { type: string; orgId: string; data: unknown }, msgId?: string): Promise<StoredEvent>;
  sql<R extends Record<string, unknown> = Record<string, unknown>>(q: string, params?: unknown[]): Promise<R[]>;
  teardown(): Promise<void>;
}

export async function createMailerHarness(opts: { maxAttempts?: number } = {}): Promise<MailerHarness> {
  const tdb = await createTestDatabase('cos_mailer_test');
  const cfg = tdb.service('mailer' as never);
  await migrate({ adminUrl: tdb.adminUrl, schema: cfg.schema, runtimeRole: cfg.runtimeRole, systemRole: cfg.systemRole, dir: path.join(repoRoot, 'mailer/migrations') });
  const db = new Db(createPool({ connectionString: cfg.systemUrl, schema: cfg.schema, applicationName: 'mailer-test', max: 6, statementTimeoutMs: 5_000 }));
  const prefix = testSubjectPrefix();
  const bus = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'mailer-test', log });
  const smtp = await startSmtpSink();
  const links = { publicBaseUrl: PUBLIC_BASE_URL, unsubscribeSecret: SECRET };
  const consumers: RunningConsumer[] = await startMailerConsumers({ bus, db, log, links, backoffMs: [50] });
  const metrics = createMailerMetrics(new Registry(), db);
  const sender = startSender({
    db,
    transport: smtpTransport(smtp.url, 2_000),
    from: 'Company OS <no-reply@cos.test>',
    links,
    log,
    maxAttempts: opts.maxAttempts ?? 3,
    retryBaseMs: 50,
    retryMaxMs: 200,
    pollMs: 50,
    leaseMs: 10_000,
    listenUrl: cfg.systemUrl,
    metrics,
  });
  let position = 0;
  return {
    tdb,
    db,
    bus,
    smtp,
    sender,
    async publish(service, streamType, e, msgId) {
      const event: StoredEvent = {
        id: e.id ?? randomUUID(),
        globalPosition: ++position,
        orgId: e.orgId,
        streamId: e.streamId ?? `${streamType}-${randomUUID()}`,
        streamType,
        version: e.version ?? 1,
        type: e.type,
        schemaVersion: 1,
        data: e.data as never,
        metadata: e.metadata ?? { actor: 'user:00000000-0000-4000-8000-000000000000', correlationId: randomUUID(), causationId: null },
        occurredAt: new Date().toISOString(),
      };
      await bus.js.publish(`${prefix}.${event.orgId}.${service}.${streamType}.${event.type}`, JSON.stringify(event), { msgID: msgId ?? event.id });
      return event;
    },
    sql: (q, params) => db.tx({ orgId: null }, (tx) => tx.query(q, params)) as never,
    async teardown() {
      await sender.stop();
      await Promise.allSettled(consumers.map((c) => c.stop()));
      await bus.jsm.streams.delete(bus.streamName).catch(() => {});
      await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
      await bus.close();
      await smtp.close();
      await db.close();
      await tdb.drop();
    },
  };
}

/** Polls until `fn` returns a truthy value (or throws with the last value after `timeoutMs`). */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
