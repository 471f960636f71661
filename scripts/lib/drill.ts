/**
 * `pnpm drill`: the backup and restore drill (docs/backup-restore.md). A throwaway stack (own database and subject
 * prefix) is seeded through the gateway and kept busy by concurrent writers; `pnpm backup` runs WHILE they write;
 * the stack, its database and its JetStream streams are destroyed; `pnpm restore` brings the backup back into a
 * fresh database and rebuilds the stream from the events tables. Then it checks, per service:
 * - every table equals the backup's snapshot (row counts and sha256 of contents; restore itself fails otherwise);
 * - a rebuild of the read models from the restored events equals the restored read models;
 * - the rebuilt JetStream stream holds exactly the restored events, once each (message id = event id).
 * and prints the restore time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { connectBus, streamNames } from '@cos/bus';
import { dropDatabase, quoteIdent } from '@cos/db';
import { createLogger } from '@cos/logger';
import { startTestStack } from '../../e2e/support/test-stack';
import { loadProjections, rebuild } from '../rebuild';
import { backup, compareStats, restore, schemaStats, type BackupManifest } from './backup';
import { gql, gqlOk } from './graphql-client';
import { SERVICES } from './paths';

export interface DrillOptions {
  /** Organizations signed up (each with an owner). */
  orgs?: number;
  /** Concurrent writers during the busy phase. */
  writers?: number;
  /** Write operations done before the backup starts (the writers keep going during the backup). */
  opsBeforeBackup?: number;
  log?: (m: string) => void;
  /** Keep the backup folder (default: deleted). */
  keepBackup?: boolean;
}

export interface DrillReport {
  manifest: BackupManifest;
  backupDir: string;
  traffic: { ok: number; failed: number; duringBackup: number };
  restoreMs: { verifyFiles: number; pgRestore: number; verifyTables: number; republish: number; total: number };
  backupMs: number;
  events: Record<string, number>;
  streamMessages: Record<string, number>;
  rebuildDiffs: string[];
  streamDiffs: string[];
  ok: boolean;
}

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

export async function runDrill(opts: DrillOptions = {}): Promise<DrillReport> {
  const log = opts.log ?? console.log;
  const orgs = opts.orgs ?? 2;
  const writers = opts.writers ?? 4;
  const opsBeforeBackup = opts.opsBeforeBackup ?? 120;
  log(`starting a throwaway stack ...`);
  const t = await startTestStack();
  const restoredUrl = (() => {
    const u = new URL(t.db.adminUrl);
    u.pathname = `${u.pathname}_restored`;
    return u.toString();
  })();
  const backupDir = await mkdtemp(path.join(tmpdir(), 'cos-backup-'));
  let stackStopped = false;
  try {
    // ---- seed and keep busy ----
    const owners: Array<{ token: string; customers: string[] }> = [];
    for (let i = 0; i < orgs; i++) {
      const s = await gqlOk<any>(t.gatewayUrl, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
        i: { email: `owner${i}@drill.test`, password: 'correct horse battery', name: `Owner ${i}`, organizationName: `Drill Org ${i}` },
      });
      const token = s.signUp.accessToken as string;
      const customers: string[] = [];
      for (const name of ['Globex', 'Initech']) {
        const c = await gqlOk<any>(t.gatewayUrl, `mutation($n: String!) { createCustomer(input: { name: $n, plan: "growth", mrr: 1200 }) { id } }`, { n: `${name} ${i}` }, { token });
        customers.push(c.createCustomer.id);
      }
      owners.push({ token, customers });
    }
    log(`seeded ${orgs} organizations; ${writers} writers start`);
    const traffic = { ok: 0, failed: 0, duringBackup: 0 };
    let backingUp = false;
    let stop = false;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const o = owners[(w + n) % owners.length]!;
        try {
          const c = await gqlOk<any>(
            t.gatewayUrl,
            `mutation($i: CreateTaskInput!) { createTask(input: $i) { id version } }`,
            { i: { title: `Drill task ${w}-${n}`, priority: 'MEDIUM', customerId: o.customers[n % 2] } },
            { token: o.token },
          );
          const id = c.createTask.id as string;
          await gqlOk(t.gatewayUrl, `mutation($id: ID!) { updateTask(id: $id, expectedVersion: 1, input: { title: "Drill task ${w}-${n} (edited)" }) { version } }`, { id }, { token: o.token });
          await gqlOk(t.gatewayUrl, `mutation($id: ID!) { addComment(taskId: $id, body: "progress ${n}") { id } }`, { id }, { token: o.token });
          await gqlOk(t.gatewayUrl, `mutation($id: ID!) { changeTaskStatus(id: $id, expectedVersion: 3, status: IN_PROGRESS) { version } }`, { id }, { token: o.token });
          await gqlOk(t.gatewayUrl, `mutation($c: ID!) { recordSignal(customerId: $c, input: { kind: PRODUCT_USAGE, value: 0.5 }) { score } }`, { c: o.customers[n % 2] }, { token: o.token });
          const r = await gql(t.gatewayUrl, `{ tasks(first: 5) { totalCount } }`, {}, { token: o.token });
          if (r.errors?.length) throw new Error(JSON.stringify(r.errors));
          traffic.ok += 6;
          if (backingUp) traffic.duringBackup += 6;
        } catch (err) {
          traffic.failed++;
          log(`writer ${w}: ${(err as Error).message}`);
        }
      }
    };
    const running = Array.from({ length: writers }, (_, w) => writer(w));
    while (traffic.ok < opsBeforeBackup && traffic.failed === 0) await new Promise((r) => setTimeout(r, 100));

    // ---- back up the busy stack ----
    backingUp = true;
    const b0 = Date.now();
    const manifest = await backup({ adminUrl: t.db.adminUrl, outDir: backupDir, log });
    const backupMs = Date.now() - b0;
    backingUp = false;
    stop = true;
    await Promise.all(running);
    log(`traffic: ${traffic.ok} operations ok (${traffic.duringBackup} while the backup ran), ${traffic.failed} failed`);

    // ---- destroy ----
    await t.stack.stop();
    stackStopped = true;
    await t.db.drop();
    await deleteStreams(t.prefix);
    log(`destroyed: stack stopped, database ${t.db.name} dropped, JetStream streams of prefix ${t.prefix} deleted`);

    // ---- restore into a fresh database ----
    const restored = await restore({ backupDir, targetAdminUrl: restoredUrl, jetstream: { natsUrl: NATS_URL, subjectPrefix: t.prefix }, log });

    // ---- verify: read models rebuilt from the events equal the restored ones ----
    const rebuildDiffs: string[] = [];
    for (const svc of SERVICES) {
      const { READ_MODEL_TABLES } = await loadProjections(svc);
      await rebuild(svc, restoredUrl);
      const c = new pg.Client({ connectionString: restoredUrl });
      await c.connect();
      try {
        rebuildDiffs.push(...compareStats(svc, manifest.services[svc]!.tables, await schemaStats(c, svc), READ_MODEL_TABLES).map((d) => `rebuild ${d}`));
      } finally {
        await c.end();
      }
    }

    // ---- verify: the stream holds every restored event once ----
    const { streamDiffs, streamMessages, events } = await compareStream(restoredUrl, t.prefix);

    const ok = rebuildDiffs.length === 0 && streamDiffs.length === 0 && traffic.failed === 0;
    const report: DrillReport = { manifest, backupDir, traffic, restoreMs: restored.ms, backupMs, events, streamMessages, rebuildDiffs, streamDiffs, ok };
    printReport(report, log);
    return report;
  } finally {
    if (!stackStopped) await t.stack.stop().catch(() => {});
    await t.db.drop().catch(() => {});
    await dropDatabase(restoredUrl).catch(() => {});
    await deleteStreams(t.prefix).catch(() => {});
    if (!opts.keepBackup) await rm(backupDir, { recursive: true, force: true });
  }
}

async function deleteStreams(prefix: string): Promise<void> {
  const bus = await connectBus({ servers: NATS_URL, subjectPrefix: prefix, name: 'cos-drill', log: createLogger('drill', 'silent') });
  try {
    const names = streamNames(prefix);
    for (const s of [names.events, names.dlq]) await bus.jsm.streams.delete(s).catch(() => false);
  } finally {
    await bus.close();
  }
}

/** Every message of the events stream, by service: its Nats-Msg-Id set must equal the service's event ids. */
async function compareStream(adminUrl: string, prefix: string) {
  const bus = await connectBus({ servers: NATS_URL, subjectPrefix: prefix, name: 'cos-drill', log: createLogger('drill', 'silent') });
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  const streamDiffs: string[] = [];
  const streamMessages: Record<string, number> = {};
  const events: Record<string, number> = {};
  try {
    const info = await bus.jsm.streams.info(bus.streamName);
    const bySvc = new Map<string, string[]>();
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await bus.jsm.streams.getMessage(bus.streamName, { seq });
      if (!m) continue;
      const svc = m.subject.split('.')[2]!;
      const id = m.header.get('Nats-Msg-Id');
      bySvc.set(svc, [...(bySvc.get(svc) ?? []), id]);
    }
    for (const svc of SERVICES) {
      const ids = (await c.query<{ id: string }>(`SELECT id FROM ${quoteIdent(svc)}.events ORDER BY global_position`)).rows.map((r) => r.id);
      const got = bySvc.get(svc) ?? [];
      events[svc] = ids.length;
      streamMessages[svc] = got.length;
      if (got.length !== ids.length) streamDiffs.push(`${svc}: ${got.length} messages in the stream, ${ids.length} events`);
      else if (got.join() !== ids.join()) streamDiffs.push(`${svc}: the stream's message ids are not the events' ids in global order`);
    }
  } finally {
    await c.end();
    await bus.close();
  }
  return { streamDiffs, streamMessages, events };
}

function printReport(r: DrillReport, log: (m: string) => void) {
  log('');
  log('service     events  stream  tables  rows       dump bytes');
  for (const svc of SERVICES) {
    const s = r.manifest.services[svc]!;
    const rows = Object.values(s.tables).reduce((n, t) => n + t.rows, 0);
    log(
      `${svc.padEnd(10)} ${String(r.events[svc]).padStart(7)} ${String(r.streamMessages[svc]).padStart(7)} ${String(Object.keys(s.tables).length).padStart(7)}  ${String(rows).padEnd(10)} ${s.bytes}`,
    );
  }
  log('');
  log(`backup (while ${r.traffic.duringBackup} operations ran): ${r.backupMs} ms`);
  log(
    `RESTORE TIME: ${r.restoreMs.total} ms (checksums ${r.restoreMs.verifyFiles} ms, pg_restore ${r.restoreMs.pgRestore} ms, ` +
      `table verification ${r.restoreMs.verifyTables} ms, JetStream rebuild ${r.restoreMs.republish} ms)`,
  );
  log(`tables equal to the backup: yes (verified by restore)`);
  log(`read models rebuilt from the events equal the restored ones: ${r.rebuildDiffs.length === 0 ? 'yes' : `NO\n  ${r.rebuildDiffs.join('\n  ')}`}`);
  log(`JetStream stream rebuilt, every event once in order: ${r.streamDiffs.length === 0 ? 'yes' : `NO\n  ${r.streamDiffs.join('\n  ')}`}`);
  log(`drill ${r.ok ? 'PASSED' : 'FAILED'}`);
}
