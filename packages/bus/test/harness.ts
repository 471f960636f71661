import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, Db, migrate } from '@cos/db';
import { eventStoreMigrations } from '@cos/event-store';
import { createTestDatabase, type TestDatabase, testSubjectPrefix } from '@cos/testing';
import { createLogger } from '@cos/logger';
import { connectBus, inboxMigrations, type Bus } from '../src';

export const log = createLogger('bus-test', process.env.LOG_LEVEL ?? 'silent');

export interface Harness {
  tdb: TestDatabase;
  /** SYSTEM-role Db (BYPASSRLS) on schema `bus`, with an events table (the outbox) and an inbox. */
  db: Db;
  prefix: string;
  bus: Bus;
  /** Extra buses (a "second process"); closed by teardown. */
  connect(): Promise<Bus>;
  teardown(): Promise<void>;
}

/**
 * A fresh database (events + inbox tables, exactly the shared DDL) and a random subject prefix, so test files run in
 * parallel without seeing each other's rows or messages.
 */
export async function createHarness(): Promise<Harness> {
  const tdb = await createTestDatabase('cos_bus_test');
  const dir = await mkdtemp(path.join(tmpdir(), 'cos-bus-mig-'));
  await writeFile(
    path.join(dir, '0001_init.sql'),
    `-- What the test handlers "do": one row per effect, so a double effect is visible.
CREATE TABLE effects (consumer text NOT NULL, event_id uuid NOT NULL, stream_id text NOT NULL, version int NOT NULL,
  seq bigserial PRIMARY KEY);
`,
  );
  // The events table (the outbox) and the inbox exactly as every service gets them: the packages' own migrations.
  await migrate({
    adminUrl: tdb.adminUrl,
    schema: 'bus',
    dir,
    packages: [eventStoreMigrations, inboxMigrations],
    runtimeRole: 'cos_bustest',
    systemRole: 'cos_bustest_system',
  });
  await rm(dir, { recursive: true, force: true });
  const url = new URL(tdb.adminUrl);
  url.username = 'cos_bustest_system';
  const db = new Db(createPool({ connectionString: url.toString(), schema: 'bus', applicationName: 'bus-test', max: 8, statementTimeoutMs: 5_000 }));
  const prefix = testSubjectPrefix();
  const buses: Bus[] = [];
  const connect = async () => {
    const b = await connectBus({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222', subjectPrefix: prefix, name: 'bus-test', log });
    buses.push(b);
    return b;
  };
  const bus = await connect();
  return {
    tdb,
    db,
    prefix,
    bus,
    connect,
    async teardown() {
      await bus.jsm.streams.delete(bus.streamName).catch(() => {});
      await bus.jsm.streams.delete(bus.dlqStreamName).catch(() => {});
      for (const b of buses) await b.close();
      await db.close();
      await tdb.drop();
    },
  };
}

/** Appends events directly (what the event store does), tenant set, RLS applies via the row's org_id. */
export async function appendEvents(
  db: Db,
  orgId: string,
  streamId: string,
  types: string[],
  fromVersion = 0,
): Promise<string[]> {
  const ids: string[] = [];
  await db.tx({ orgId }, async (tx) => {
    let v = fromVersion;
    for (const type of types) {
      v += 1;
      const id = randomUUID();
      ids.push(id);
      await tx.query(
        `INSERT INTO events (id, org_id, stream_id, stream_type, version, type, data, metadata)
         VALUES ($1, $2, $3, 'Task', $4, $5, $6, $7)`,
        [id, orgId, streamId, v, type, JSON.stringify({ n: v }), JSON.stringify({ actor: 'system', correlationId: randomUUID(), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })],
      );
    }
    await tx.query(`SELECT pg_notify('bus_events', 'x')`);
  });
  return ids;
}

export async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`waitFor timed out; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const effects = (db: Db, consumer?: string) =>
  db.tx({ orgId: null }, (tx) =>
    tx.query<{ consumer: string; event_id: string; stream_id: string; version: number }>(
      `SELECT consumer, event_id, stream_id, version FROM effects ${consumer ? 'WHERE consumer = $1' : ''} ORDER BY seq`,
      consumer ? [consumer] : [],
    ),
  );
