/**
 * `pnpm drill --pitr`: point-in-time recovery with WAL archiving, proven on a scratch Postgres 15 cluster this script
 * controls (the shared server on :5432 is not ours to reconfigure). Steps, each printed with its time:
 * initdb → start with `archive_mode=on` and an `archive_command` copying WAL to a local folder → write batch A →
 * `pg_basebackup` → write batch B → note the time T → write batch C and delete everything ("the accident") → switch
 * and archive the WAL → stop the cluster (immediate) → restore the base backup into a new data directory with
 * `restore_command` from the archive and `recovery_target_time = T` → promote → verify: A and B present, C absent,
 * the accident undone. docs/backup-restore.md describes the same procedure for a production cluster.
 *
 * Server binaries: PG_BIN (default /usr/lib/postgresql/15/bin). As root, every server-side command runs as the
 * `postgres` user (initdb refuses root).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PitrReport {
  ok: boolean;
  targetTime: string;
  rows: { beforeAccident: number; afterAccident: number; recovered: number; batchC: number };
  archivedWalFiles: number;
  ms: { initdb: number; baseBackup: number; restore: number; total: number };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function runPitrDrill(opts: { log?: (m: string) => void; keep?: boolean } = {}): Promise<PitrReport> {
  const log = opts.log ?? console.log;
  const t0 = Date.now();
  const root = await mkdtemp(path.join(tmpdir(), 'cos-pitr-'));
  await chmod(root, 0o755);
  const asRoot = userInfo().uid === 0;
  let owner: { uid: number; gid: number } | null = null;
  if (asRoot) {
    const id = await run('id', ['-u', 'postgres']).catch(() => null);
    if (!id) throw new Error('running as root and there is no `postgres` user to run the server as');
    owner = { uid: Number(id.stdout.trim()), gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()) };
  }
  const bin = (name: string) => path.join(PG_BIN, name);
  // Server-side tools run as the postgres user when we are root.
  const pgRun = (cmd: string, args: string[], timeout = 60_000) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', bin(cmd), ...args], { timeout }) : run(bin(cmd), args, { timeout });
  const dir = async (name: string) => {
    const d = path.join(root, name);
    await mkdir(d, { mode: 0o700 });
    if (owner) await chown(d, owner.uid, owner.gid);
    return d;
  };
  const data = await dir('data');
  const archive = await dir('wal-archive');
  const base = await dir('base');
  const restored = await dir('restored');
  const sockets = await dir('sockets');
  const started: string[] = [];
  const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;
  const query = async <T extends pg.QueryResultRow = pg.QueryResultRow>(port: number, sql: string) => {
    const c = new pg.Client({ connectionString: url(port), connectionTimeoutMillis: 5_000 });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  };
  try {
    await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'], 120_000);
    const port = await freePort();
    await appendFile(
      path.join(data, 'postgresql.conf'),
      [
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${sockets}'`,
        `wal_level = replica`,
        `archive_mode = on`,
        // Never overwrite an archived segment (the documented safe form).
        `archive_command = 'test ! -f ${archive}/%f && cp %p ${archive}/%f'`,
        `max_wal_senders = 4`,
        `shared_buffers = 32MB`,
        '',
      ].join('\n'),
    );
    await pgRun('pg_ctl', ['-D', data, '-l', path.join(data, 'server.log'), '-w', '-t', '60', 'start']);
    started.push(data);
    const tInit = Date.now();
    log(`scratch cluster on :${port} with WAL archiving to ${archive} (${tInit - t0} ms)`);

    await query(port, `CREATE TABLE ledger (id int PRIMARY KEY, batch text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await query(port, `INSERT INTO ledger (id, batch) SELECT g, 'A' FROM generate_series(1, 1000) g`);
    await pgRun('pg_basebackup', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-D', base, '-X', 'stream', '-c', 'fast', '--no-sync'], 120_000);
    const tBase = Date.now();
    log(`batch A written (1000 rows); pg_basebackup taken (${tBase - tInit} ms)`);

    await query(port, `INSERT INTO ledger (id, batch) SELECT g, 'B' FROM generate_series(1001, 2000) g`);
    // T: after B committed, strictly before C (recovery stops before the first commit after T).
    const [{ t: targetTime }] = (await query<{ t: string }>(port, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00') AS t`)) as [{ t: string }];
    await new Promise((r) => setTimeout(r, 1_100));
    await query(port, `INSERT INTO ledger (id, batch) SELECT g, 'C' FROM generate_series(2001, 2500) g`);
    const [{ n: beforeAccident }] = (await query<{ n: number }>(port, `SELECT count(*)::int AS n FROM ledger`)) as [{ n: number }];
    await query(port, `DELETE FROM ledger`); // the accident
    const [{ n: afterAccident }] = (await query<{ n: number }>(port, `SELECT count(*)::int AS n FROM ledger`)) as [{ n: number }];
    const [{ w: lastWal }] = (await query<{ w: string }>(port, `SELECT pg_walfile_name(pg_switch_wal()) AS w`)) as [{ w: string }];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await query<{ last: string | null; failed: number }>(port, `SELECT last_archived_wal AS last, failed_count AS failed FROM pg_stat_archiver`);
      if (row?.last && row.last >= lastWal) break;
      if (Date.now() > deadline) throw new Error(`WAL ${lastWal} not archived within 30 s (archiver: ${JSON.stringify(row)})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    log(`batch B written, T = ${targetTime}; batch C written (${beforeAccident} rows), then DELETE FROM ledger (${afterAccident} left); WAL up to ${lastWal} archived`);
    await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    started.pop();

    // ---- point-in-time restore ----
    const tRestore0 = Date.now();
    await run('cp', ['-a', `${base}/.`, restored]);
    const port2 = await freePort();
    await appendFile(
      path.join(restored, 'postgresql.conf'),
      [
        `port = ${port2}`,
        `archive_mode = off`,
        `restore_command = 'cp ${archive}/%f %p'`,
        `recovery_target_time = '${targetTime}'`,
        `recovery_target_action = 'promote'`,
        '',
      ].join('\n'),
    );
    await writeFile(path.join(restored, 'recovery.signal'), '');
    if (owner) await chown(path.join(restored, 'recovery.signal'), owner.uid, owner.gid);
    await pgRun('pg_ctl', ['-D', restored, '-l', path.join(sockets, 'restored.log'), '-w', '-t', '120', 'start'], 150_000);
    started.push(restored);
    const promoteDeadline = Date.now() + 60_000;
    while ((await query<{ r: boolean }>(port2, `SELECT pg_is_in_recovery() AS r`))[0]!.r) {
      if (Date.now() > promoteDeadline) throw new Error('the restored cluster did not finish recovery within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const tRestore = Date.now();
    const counts = await query<{ batch: string; n: number }>(port2, `SELECT batch, count(*)::int AS n FROM ledger GROUP BY batch ORDER BY batch`);
    const by = Object.fromEntries(counts.map((r) => [r.batch, r.n])) as Record<string, number>;
    const recovered = counts.reduce((s, r) => s + r.n, 0);
    const archived = (await readdir(archive)).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
    const ok = by.A === 1000 && by.B === 1000 && !by.C;
    log(`restored to ${targetTime}: A ${by.A ?? 0} rows, B ${by.B ?? 0} rows, C ${by.C ?? 0} rows (${recovered} total; the DELETE is undone)`);
    const report: PitrReport = {
      ok,
      targetTime,
      rows: { beforeAccident, afterAccident, recovered, batchC: by.C ?? 0 },
      archivedWalFiles: archived,
      ms: { initdb: tInit - t0, baseBackup: tBase - tInit, restore: tRestore - tRestore0, total: Date.now() - t0 },
    };
    log(`PITR RESTORE TIME: ${report.ms.restore} ms (${archived} archived WAL segments); whole drill ${report.ms.total} ms`);
    log(`point-in-time recovery drill ${ok ? 'PASSED' : 'FAILED'}`);
    return report;
  } finally {
    for (const d of started.reverse()) await pgRun('pg_ctl', ['-D', d, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    if (!opts.keep) await rm(root, { recursive: true, force: true });
  }
}
