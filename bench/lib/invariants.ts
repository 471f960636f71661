/**
 * After a chaos run (load stopped, everything drained): the event-sourcing guarantees, checked against the data.
 * - every committed event published exactly once: each service's `events` ids vs the Nats-Msg-Id of the stream's
 *   messages on that service's subjects (counts, missing, unexpected, duplicated ids);
 * - every reaction applied exactly once: each durable consumer's inbox vs the events on its filter subject; identity's
 *   audit entries vs the audited services' events; one churn follow-up task per ChurnRiskFlagged episode; agents'
 *   known_tasks vs TaskCreated; nothing dead-lettered;
 * - no read model diverges from a rebuild: a hash of every read-model table, then `rebuild()` from the events, then
 *   the hash again (agents' lease/heartbeat columns are operational state written outside events, so left out).
 */
import { createPool, Db, quoteIdent, serviceDatabase } from '@cos/db';
import type { Bus } from '@cos/bus';
import { loadProjections, rebuild } from '../../scripts/rebuild';
import { SERVICES, type ServiceName } from '../../scripts/lib/paths';
import { scanStream, type ScannedMsg } from './stream-scan';

export interface Check {
  check: string;
  expected: string;
  found: string;
  ok: boolean;
}

/** Columns a rebuild does not own (written by the worker protocol as operational state). */
const NOT_PROJECTED: Partial<Record<ServiceName, Record<string, string[]>>> = {
  agents: { agent_runs: ['last_heartbeat_at', 'lease_until', 'lease_ms'] },
};

/** The consumers each service runs: inbox `consumer` (durable) → the source service whose subjects it reads. */
const CONSUMERS: Record<ServiceName, Record<string, ServiceName>> = {
  identity: { 'identity-audit-tasks': 'tasks', 'identity-audit-customers': 'customers', 'identity-audit-agents': 'agents' },
  tasks: { 'tasks-identity': 'identity', 'tasks-agents': 'agents', 'tasks-customers': 'customers' },
  customers: {},
  agents: { 'agents-identity': 'identity', 'agents-tasks': 'tasks' },
};

function adminDb(adminUrl: string, svc: ServiceName) {
  return new Db(createPool({ connectionString: adminUrl, schema: serviceDatabase(svc, adminUrl).schema, applicationName: `chaos-check-${svc}`, max: 1, statementTimeoutMs: 120_000 }));
}

async function sql<T extends Record<string, unknown>>(adminUrl: string, svc: ServiceName, text: string, params: unknown[] = []): Promise<T[]> {
  const db = adminDb(adminUrl, svc);
  try {
    return await db.withClient((tx) => tx.query<T>(text, params));
  } finally {
    await db.close();
  }
}

const setDiff = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x));

/** Waits until every service's outbox is empty and every durable consumer has nothing pending or unacked. */
export async function waitDrained(adminUrl: string, bus: Bus, timeoutMs: number): Promise<{ drainedMs: number; unpublished: number; pending: number }> {
  const started = Date.now();
  for (;;) {
    let unpublished = 0;
    let pending = 0;
    try {
      for (const svc of SERVICES) {
        const [r] = await sql<{ n: number }>(adminUrl, svc, `SELECT count(*)::int AS n FROM events WHERE published_at IS NULL`);
        unpublished += r!.n;
      }
      for await (const c of bus.jsm.consumers.list(bus.streamName)) if (c.config.durable_name) pending += c.num_pending + c.num_ack_pending;
    } catch {
      unpublished = pending = -1;
    }
    if (unpublished === 0 && pending === 0) return { drainedMs: Date.now() - started, unpublished, pending };
    if (Date.now() - started > timeoutMs) return { drainedMs: Date.now() - started, unpublished, pending };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export async function checkPublishedOnce(adminUrl: string, bus: Bus): Promise<{ checks: Check[]; messages: ScannedMsg[] }> {
  const messages = await scanStream(bus, { timeoutMs: 120_000 });
  const checks: Check[] = [];
  for (const svc of SERVICES) {
    const ids = new Set((await sql<{ id: string }>(adminUrl, svc, `SELECT id::text FROM events`)).map((r) => r.id));
    const mine = messages.filter((m) => m.subject.split('.')[2] === svc);
    const msgIds = mine.map((m) => m.msgId ?? '');
    const unique = new Set(msgIds);
    const missing = setDiff(ids, unique);
    const unexpected = setDiff(unique, ids);
    const dups = msgIds.length - unique.size;
    checks.push({
      check: `${svc}: committed events published exactly once`,
      expected: `${ids.size} events = ${ids.size} messages, 0 duplicates`,
      found: `${mine.length} messages (${unique.size} distinct ids): ${missing.length} missing, ${unexpected.length} unknown, ${dups} duplicated`,
      ok: missing.length === 0 && unexpected.length === 0 && dups === 0 && ids.size > 0,
    });
  }
  return { checks, messages };
}

export async function checkReactionsOnce(adminUrl: string, bus: Bus, messages: ScannedMsg[]): Promise<Check[]> {
  const checks: Check[] = [];
  const bySource = new Map<string, Set<string>>();
  for (const m of messages) {
    const svc = m.subject.split('.')[2]!;
    const s = bySource.get(svc) ?? new Set<string>();
    s.add(m.msgId ?? '');
    bySource.set(svc, s);
  }
  for (const svc of SERVICES) {
    // A service that consumes nothing has no inbox (customers: migrations/packages.json lists only the event store).
    if (Object.keys(CONSUMERS[svc]).length === 0) continue;
    const inbox = await sql<{ consumer: string; event_id: string }>(adminUrl, svc, `SELECT consumer, event_id::text FROM inbox`);
    for (const [consumer, source] of Object.entries(CONSUMERS[svc])) {
      const got = new Set(inbox.filter((r) => r.consumer === consumer).map((r) => r.event_id));
      const want = bySource.get(source) ?? new Set<string>();
      const missing = setDiff(want, got);
      const extra = setDiff(got, want);
      checks.push({
        check: `${consumer}: every ${source} event handled once (inbox)`,
        expected: `${want.size}`,
        found: `${got.size} (${missing.length} missing, ${extra.length} not in the stream)`,
        ok: missing.length === 0 && extra.length === 0,
      });
    }
  }
  // identity's audit log: one entry per event of the audited services (the entry's id is the event's id).
  for (const source of ['tasks', 'customers', 'agents'] as const) {
    const entries = await sql<{ id: string }>(adminUrl, 'identity', `SELECT id::text FROM audit_entries WHERE service = $1`, [source]);
    const ids = new Set(entries.map((e) => e.id));
    const events = new Set((await sql<{ id: string }>(adminUrl, source, `SELECT id::text FROM events`)).map((r) => r.id));
    const missing = setDiff(events, ids);
    checks.push({
      check: `audit log: one entry per ${source} event`,
      expected: `${events.size}`,
      found: `${entries.length} entries, ${ids.size} distinct, ${missing.length} missing`,
      ok: missing.length === 0 && entries.length === ids.size && ids.size === events.size,
    });
  }
  // Reaction 2: one follow-up task per churn episode.
  const flagged = await sql<{ key: string }>(
    adminUrl,
    'customers',
    `SELECT 'churn:' || (data->>'customerId') || ':' || (data->>'episode') AS key FROM events WHERE type = 'ChurnRiskFlagged'`,
  );
  const flaggedKeys = new Set(flagged.map((f) => f.key));
  const followUps = await sql<{ origin_key: string }>(adminUrl, 'tasks', `SELECT origin_key FROM tasks WHERE origin_key LIKE 'churn:%'`);
  const created = await sql<{ n: number }>(adminUrl, 'tasks', `SELECT count(*)::int AS n FROM events WHERE type = 'TaskCreated' AND data->'origin'->>'key' LIKE 'churn:%'`);
  const followKeys = new Set(followUps.map((r) => r.origin_key));
  checks.push({
    check: 'reaction: one follow-up task per ChurnRiskFlagged episode',
    expected: `${flagged.length} episodes (${flaggedKeys.size} distinct)`,
    found: `${followUps.length} follow-up tasks, ${created[0]!.n} TaskCreated events for them, ${setDiff(flaggedKeys, followKeys).length} episodes without one`,
    ok: flagged.length === flaggedKeys.size && followUps.length === flaggedKeys.size && created[0]!.n === flaggedKeys.size && setDiff(flaggedKeys, followKeys).length === 0,
  });
  // agents keeps a row per task it heard of (TaskCreated), exactly once.
  const taskCreated = await sql<{ n: number }>(adminUrl, 'tasks', `SELECT count(DISTINCT data->>'taskId')::int AS n FROM events WHERE type = 'TaskCreated'`);
  const known = await sql<{ n: number }>(adminUrl, 'agents', `SELECT count(*)::int AS n FROM known_tasks`);
  checks.push({
    check: 'reaction: agents knows every task once (known_tasks)',
    expected: `${taskCreated[0]!.n}`,
    found: `${known[0]!.n}`,
    ok: taskCreated[0]!.n === known[0]!.n,
  });
  const dlq = await bus.jsm.streams.info(bus.dlqStreamName).then((i) => i.state.messages).catch(() => -1);
  checks.push({ check: 'nothing dead-lettered', expected: '0', found: String(dlq), ok: dlq === 0 });
  return checks;
}

async function readModelHash(adminUrl: string, svc: ServiceName): Promise<{ rows: number; hash: string }> {
  const { READ_MODEL_TABLES } = await loadProjections(svc);
  const ignore = NOT_PROJECTED[svc] ?? {};
  let rows = 0;
  const parts: string[] = [];
  for (const t of READ_MODEL_TABLES) {
    const row = `(to_jsonb(t)${(ignore[t] ?? []).map((c) => ` - '${c}'`).join('')})`;
    const [r] = await sql<{ n: number; h: string | null }>(
      adminUrl,
      svc,
      `SELECT count(*)::int AS n, md5(string_agg(${row}::text, E'\\n' ORDER BY ${row}::text)) AS h FROM ${quoteIdent(t)} t`,
    );
    rows += r!.n;
    parts.push(`${t}:${r!.n}:${r!.h ?? '-'}`);
  }
  const [h] = await sql<{ h: string }>(adminUrl, svc, `SELECT md5($1) AS h`, [parts.join('|')]);
  return { rows, hash: h!.h };
}

/** Hash, rebuild from the events, hash again: the live read models must equal what the events say. */
export async function checkRebuilds(adminUrl: string): Promise<Check[]> {
  const checks: Check[] = [];
  for (const svc of SERVICES) {
    const before = await readModelHash(adminUrl, svc);
    const r = await rebuild(svc, adminUrl);
    const after = await readModelHash(adminUrl, svc);
    checks.push({
      check: `${svc}: read models equal a rebuild from ${r.events} events`,
      expected: `${before.rows} rows, md5 ${before.hash.slice(0, 12)}`,
      found: `${after.rows} rows, md5 ${after.hash.slice(0, 12)}`,
      ok: before.hash === after.hash && before.rows > 0,
    });
  }
  return checks;
}
