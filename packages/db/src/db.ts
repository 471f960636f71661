import pg from 'pg';
import { appError, ErrorCode } from '@cos/errors';

/** Who a transaction runs for; row-level security policies read these settings. */
export interface TenantScope {
  orgId: string | null;
  userId?: string | null;
}

export interface QueryEvent {
  sql: string;
  durationMs: number;
}

/** The one SQL helper: typed rows, named queries, query counting for tests and metrics. */
export interface Tx {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  one<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R | undefined>;
  readonly client: pg.PoolClient;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);

type Listener = (e: QueryEvent) => void;

export class Db {
  private listeners = new Set<Listener>();

  constructor(readonly pool: pg.Pool) {}

  /** Observe every statement run through this Db (tests count them; metrics time them). */
  onQuery(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs `fn` in one transaction with the tenant set via set_config(..., true) (the SET LOCAL equivalent), so
   * row-level security applies to every statement. Rolls back on any error.
   *
   * BEGIN and the tenant settings are not a round trip of their own: they travel in one flight with the first
   * statement (extended protocol, one Sync; see TenantPrologueQuery), so a transaction costs its statements + COMMIT.
   * A transaction that runs no statement opens nothing.
   */
  async tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const tenant = tenantValues(scope);
    const client = await this.pool.connect();
    const state = { prologue: 'begin' as Prologue, begun: false };
    let broken = false;
    try {
      const result = await fn(this.wrap(client, tenant, state));
      if (state.begun) await client.query('COMMIT');
      return result;
    } catch (err) {
      if (state.begun) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
      }
      throw translatePgError(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * Runs `fn` whose work is exactly ONE statement, with the tenant set, in ONE round trip: set_config(..., true) and
   * the statement are sent together before a single Sync, which Postgres runs as one implicit transaction (the
   * settings hold for the statement, then end with it; it commits or fails as a whole, like tx()). For the
   * read paths (DataLoader batches, pages) that would otherwise pay BEGIN and COMMIT round trips. A second statement
   * is refused (it would run outside the transaction and without the tenant): use tx() for several.
   */
  async single<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const tenant = tenantValues(scope);
    const client = await this.pool.connect();
    const state = { prologue: 'implicit' as Prologue, begun: false };
    try {
      return await fn(this.wrap(client, tenant, state));
    } catch (err) {
      throw translatePgError(err);
    } finally {
      client.release();
    }
  }

  /** One statement in its own tenant transaction (one round trip, see single()). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(scope: TenantScope, sql: string, params?: unknown[]) {
    return this.single(scope, (tx) => tx.query<R>(sql, params));
  }

  /** For work without a tenant (system pool only, e.g. the outbox relay). */
  async withClient<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(this.wrap(client, null, { prologue: 'none', begun: false }));
    } catch (err) {
      throw translatePgError(err);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private wrap(client: pg.PoolClient, tenant: TenantValues | null, state: { prologue: Prologue; begun: boolean }): Tx {
    const emit = (sql: string, start: number) => {
      if (this.listeners.size === 0) return;
      const e = { sql, durationMs: performance.now() - start };
      for (const l of this.listeners) l(e);
    };
    // Synchronous up to client.query(): statements issued without awaiting each other keep their call order in
    // pg's queue, so the one carrying the prologue is always the first to run.
    const submit = <R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> => {
      if (state.prologue === 'none' || !tenant) return client.query<R>(sql, params as unknown[] | undefined);
      if (state.begun) {
        if (state.prologue === 'implicit') {
          return Promise.reject(new Error('Db.single() runs one statement; use Db.tx() for several'));
        }
        return client.query<R>(sql, params as unknown[] | undefined);
      }
      state.begun = true;
      return runWithPrologue<R>(client, sql, params, state.prologue === 'begin', tenant);
    };
    async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]> {
      const start = performance.now();
      try {
        const res = await submit<R>(sql, params);
        return res.rows;
      } finally {
        emit(sql, start);
      }
    }
    async function one<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R | undefined> {
      return (await query<R>(sql, params))[0];
    }
    return { client, query, one };
  }
}

/** 'begin': explicit transaction (tx); 'implicit': one statement up to Sync (single); 'none': no tenant (withClient). */
type Prologue = 'begin' | 'implicit' | 'none';
/** app.org_id and app.user_id as set_config takes them ('' = unset). */
type TenantValues = [string, string];

const SET_TENANT = /* setTenant */ "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true)";

/** The slice of pg's Connection the prologue writes (pg's own Query.prepare uses the same methods). */
interface WireConnection {
  parse(q: { text: string }): void;
  bind(c: { values?: unknown[] }): void;
  execute(c: Record<string, never>): void;
  stream: { cork?: () => void; uncork?: () => void };
}
/** pg's Query internals this subclass builds on (pinned pg 8.23; covered by packages/db/test/db.int.test.ts). */
interface QueryInternals {
  callback?: (err: Error | null, res: pg.QueryResult) => void;
  prepare(connection: WireConnection): void;
  handleDataRow(msg: unknown): void;
  handleCommandComplete(msg: unknown, connection: WireConnection): void;
}
const QueryBase = pg.Query as unknown as new (config: { text: string; values?: unknown[]; queryMode: 'extended' }) => QueryInternals;

/**
 * A pg Query that writes [BEGIN +] the tenant's set_config + the statement as one flight of extended-protocol
 * messages with ONE Sync (pg's own Query sends a Sync per statement), so the server answers with one ReadyForQuery
 * and pg's client sees one query. The prologue's results (BEGIN's and set_config's CommandComplete, set_config's
 * row) are skipped; the statement's rows come back as usual. An error anywhere skips the rest up to the Sync, and
 * the caller's catch rolls back (tx) or the implicit transaction is void (single).
 */
class TenantPrologueQuery extends QueryBase {
  private prologueLeft: number;

  constructor(
    text: string,
    values: unknown[] | undefined,
    private readonly begin: boolean,
    private readonly tenant: TenantValues,
  ) {
    super({ text, values, queryMode: 'extended' });
    this.prologueLeft = begin ? 2 : 1;
  }

  submit(connection: WireConnection): null {
    connection.stream.cork?.();
    try {
      if (this.begin) {
        connection.parse({ text: 'BEGIN' });
        connection.bind({});
        connection.execute({});
      }
      connection.parse({ text: SET_TENANT });
      connection.bind({ values: this.tenant });
      connection.execute({});
      this.prepare(connection); // the statement: parse, bind, describe, execute, sync
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  override handleDataRow(msg: unknown): void {
    if (this.prologueLeft > 0) return;
    super.handleDataRow(msg);
  }

  override handleCommandComplete(msg: unknown, connection: WireConnection): void {
    if (this.prologueLeft > 0) {
      this.prologueLeft -= 1;
      return;
    }
    super.handleCommandComplete(msg, connection);
  }
}

function runWithPrologue<R extends pg.QueryResultRow>(
  client: pg.PoolClient,
  sql: string,
  params: unknown[] | undefined,
  begin: boolean,
  tenant: TenantValues,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const q = new TenantPrologueQuery(sql, params, begin, tenant);
    // pg calls back with the statement's result (or the first error of the flight).
    q.callback = (err, res) => (err ? reject(err) : resolve(res as pg.QueryResult<R>));
    client.query(q as unknown as pg.QueryConfig);
  });
}

function tenantValues(scope: TenantScope): TenantValues {
  const org = scope.orgId ?? '';
  const user = scope.userId ?? '';
  if (org && !isUuid(org)) throw appError(ErrorCode.BAD_USER_INPUT, 'invalid organization id', { field: 'orgId' });
  if (user && !isUuid(user)) throw appError(ErrorCode.BAD_USER_INPUT, 'invalid user id', { field: 'userId' });
  return [org, user];
}

/** Postgres errors that mean "the caller's input was wrong" become API errors; the rest stay internal (masked). */
export function translatePgError(err: unknown): unknown {
  const e = err as { code?: string; constraint?: string; column?: string };
  if (!e || typeof e.code !== 'string' || e.code.length !== 5) return err;
  switch (e.code) {
    case '22P02': // invalid_text_representation (bad uuid, enum ...)
    case '22001': // string_data_right_truncation
    case '23514': // check_violation
      return appError(ErrorCode.BAD_USER_INPUT, 'Invalid input', { field: e.column ?? e.constraint ?? 'input' });
    case '57014': // query_canceled (statement_timeout)
      return appError(ErrorCode.INTERNAL_SERVER_ERROR, 'The operation timed out');
    default:
      return err;
  }
}

/** Node socket errors that mean Postgres could not be reached or the connection broke. */
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** SQLSTATEs of a server going away or not taking connections (admin/crash shutdown, starting up, full). */
const UNAVAILABLE_SQLSTATE = new Set(['57P01', '57P02', '57P03', '53300']);
/** What node-postgres and pg-pool throw themselves when a connection dies or cannot be had in time. */
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable)/;

/**
 * True when `err` says the database was unavailable (unreachable, restarting, shutting down, out of connections)
 * rather than that the statement was wrong: a transient fault the caller may retry, not a bug to report as one.
 * Walks `cause` chains. SQLSTATE class 08 (connection exception) counts too.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++, e = (e as { cause?: unknown }).cause) {
    const { code: c, message } = e as { code?: unknown; message?: unknown };
    const code = typeof c === 'string' ? c : '';
    if (UNREACHABLE_ERRNO.has(code) || UNAVAILABLE_SQLSTATE.has(code) || (code.length === 5 && code.startsWith('08'))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  }
  return false;
}
