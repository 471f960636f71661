import { createRequire } from 'node:module';
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

export interface DbOptions {
  /**
   * Named prepared statements kept per connection for the tenant paths (tx(), single()): a statement's text is parsed
   * once per connection and only bound afterwards, and the tenant prologue (BEGIN, set_config) too. The least recently
   * used beyond this many are closed on the server. 0 turns them off (every statement unnamed, parsed each time), e.g.
   * behind a pooler in transaction mode that does not track prepared statements. Default 100.
   */
  preparedStatements?: number;
}

export class Db {
  private listeners = new Set<Listener>();
  private readonly statementLimit: number;
  /** Per connection: which statement texts it has prepared under which names (see StatementCache). */
  private readonly caches = new WeakMap<pg.PoolClient, StatementCache>();

  constructor(
    readonly pool: pg.Pool,
    opts: DbOptions = {},
  ) {
    this.statementLimit = Math.max(0, Math.floor(opts.preparedStatements ?? 100));
  }

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
   * statement (extended protocol, one Sync; see FlightQuery), so a transaction costs its statements + COMMIT.
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

  private cacheOf(client: pg.PoolClient): StatementCache | null {
    if (this.statementLimit === 0) return null;
    let cache = this.caches.get(client);
    if (!cache) {
      cache = new StatementCache(this.statementLimit);
      this.caches.set(client, cache);
    }
    return cache;
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
        // A later statement of a transaction cannot be retried (the failure aborts what ran before it), so one whose
        // result columns a migration may change under it (a `*` select list) stays unnamed: see resultMayChange.
        const cache = resultMayChange(sql) ? null : this.cacheOf(client);
        if (!cache) return client.query<R>(sql, params as unknown[] | undefined);
        return runFlight<R>(client, cache, sql, params, null, null);
      }
      state.begun = true;
      return runFlight<R>(client, this.cacheOf(client), sql, params, state.prologue === 'begin' ? 'begin' : 'implicit', tenant);
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

/** The slice of pg's Connection a flight writes (pg's own Query.prepare uses the same methods). */
interface WireConnection {
  parse(q: { text: string; name?: string }): void;
  bind(c: { statement?: string; values?: unknown[]; valueMapper?: (v: unknown) => unknown }): void;
  describe(c: { type: 'P' | 'S'; name: string }): void;
  execute(c: Record<string, never>): void;
  close(c: { type: 'S'; name: string }): void;
  sync(): void;
  stream: { cork?: () => void; uncork?: () => void };
}
/** pg's Query internals this subclass builds on (pinned pg 8.23; covered by packages/db/test/*.int.test.ts). */
interface QueryInternals {
  callback?: (err: Error | null, res: pg.QueryResult) => void;
  handleDataRow(msg: unknown): void;
  handleCommandComplete(msg: unknown, connection: WireConnection): void;
  handleError(err: Error, connection: WireConnection): void;
}
const QueryBase = pg.Query as unknown as new (config: { text: string; values?: unknown[]; queryMode: 'extended' }) => QueryInternals;
/** The client's queue of queries not yet sent (pg 8.23 Client#_queryQueue): a retry goes back to its head. */
type ClientInternals = { _queryQueue?: unknown[] };
/** pg's own value mapping for bind (Dates, Buffers, arrays as array literals, objects as JSON), as Query.prepare uses. */
const prepareValue = (createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }).prepareValue;

/**
 * The named prepared statements of ONE connection: statement text -> server-side name, least recently used first.
 * Names are never reused (`cos_<n>`), so a name whose Parse may or may not have reached the server (its flight failed)
 * is simply forgotten and closed later — Close of a name the server does not have is not an error.
 */
export class StatementCache {
  private readonly names = new Map<string, string>();
  private next = 0;
  /** Names to Close on the server at the start of the connection's next flight (evicted or uncertain). */
  readonly toClose: string[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.names.size;
  }

  /** The name `text` is prepared under, refreshed as most recently used; undefined when it must be parsed. */
  hit(text: string): string | undefined {
    const name = this.names.get(text);
    if (name !== undefined) {
      this.names.delete(text);
      this.names.set(text, name);
    }
    return name;
  }

  /** A new name for `text`, recorded as prepared (its Parse goes out in this flight); evicts beyond the limit. */
  add(text: string): string {
    const name = `cos_${++this.next}`;
    this.names.set(text, name);
    while (this.names.size > this.limit) {
      const [oldest, oldName] = this.names.entries().next().value as [string, string];
      this.names.delete(oldest);
      this.toClose.push(oldName);
    }
    return name;
  }

  /** Forgets these texts' statements (their Parse failed or may have been skipped) and closes them on the server. */
  forget(texts: Iterable<string>): void {
    for (const text of texts) {
      const name = this.names.get(text);
      if (name === undefined) continue;
      this.names.delete(text);
      this.toClose.push(name);
    }
  }

  /** Forgets every statement: after the server said one is stale (0A000) or gone (26000). */
  clear(): void {
    this.forget([...this.names.keys()]);
  }
}

/** SQLSTATEs that say a cached statement cannot be used as prepared; raised at Bind, before the statement runs. */
const STALE_STATEMENT = new Set([
  '0A000', // feature_not_supported: "cached plan must not change result type" (a `*` over a table that changed)
  '26000', // invalid_sql_statement_name: the server does not have it (DEALLOCATE ALL, DISCARD ALL)
]);

/**
 * True when a statement's result columns follow a table's definition (`SELECT *`, `t.*`, `RETURNING *`), so an
 * expand/contract migration can make its prepared form fail with "cached plan must not change result type". The
 * `*` of count(*) does not count.
 */
export function resultMayChange(sql: string): boolean {
  return /(?:\.|,|\bselect|\breturning)\s*\*(?!\/)/i.test(sql.replace(/\/\*[\s\S]*?\*\//g, ' '));
}

const BEGIN = 'BEGIN';
const ROLLBACK = 'ROLLBACK';

/**
 * One flight of extended-protocol messages with ONE Sync (pg's own Query sends a Sync per statement), so the server
 * answers with one ReadyForQuery and pg's client sees one query:
 *   Close of evicted statements, [ROLLBACK on a retry of a tx's first statement], [BEGIN], [the tenant's set_config],
 *   the statement (Parse under a new name the first time on this connection, then Bind only), Sync.
 * The prologue's results (CommandComplete of ROLLBACK/BEGIN/set_config, set_config's row) are skipped; the statement's
 * rows come back as usual. An error anywhere skips the rest up to the Sync, and the caller's catch rolls back (tx) or
 * the implicit transaction is void (single).
 *
 * A cached statement the server refuses as stale (STALE_STATEMENT, e.g. after a migration added a column under a
 * `SELECT *`) fails at Bind, before it runs. When the flight carries the prologue (the statement is its transaction's
 * first), nothing else has run either: the connection's cache is cleared and the flight is sent once more, before any
 * other query queued on the client, with every statement parsed afresh (and a ROLLBACK first for tx's aborted BEGIN).
 */
class FlightQuery extends QueryBase {
  private skip = 0;
  private attempt = 0;
  private parsedNow: string[] = [];
  private usedCache = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly cache: StatementCache | null,
    private readonly sql: string,
    private readonly params: unknown[] | undefined,
    private readonly prologue: 'begin' | 'implicit' | null,
    private readonly tenant: TenantValues | null,
  ) {
    super({ text: sql, values: params, queryMode: 'extended' });
  }

  submit(connection: WireConnection): null {
    connection.stream.cork?.();
    try {
      this.parsedNow = [];
      this.usedCache = false;
      this.skip = 0;
      const cache = this.cache;
      if (cache) for (const name of cache.toClose.splice(0)) connection.close({ type: 'S', name });
      if (this.attempt > 0 && this.prologue === 'begin') this.run(connection, ROLLBACK, undefined, false);
      if (this.prologue === 'begin') this.run(connection, BEGIN, undefined, false);
      if (this.prologue && this.tenant) this.run(connection, SET_TENANT, this.tenant, false);
      this.run(connection, this.sql, this.params, true);
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  /** Parse (named once per connection, or unnamed without a cache), Bind, [Describe], Execute. */
  private run(connection: WireConnection, text: string, values: unknown[] | undefined, main: boolean): void {
    let name = '';
    const cache = this.cache;
    const known = cache?.hit(text);
    if (known !== undefined) {
      name = known;
      this.usedCache = true;
    } else {
      if (cache) {
        name = cache.add(text);
        this.parsedNow.push(text);
      }
      connection.parse({ text, name });
    }
    connection.bind({ statement: name, values, valueMapper: prepareValue });
    if (main) connection.describe({ type: 'P', name: '' });
    else this.skip += 1;
    connection.execute({});
  }

  override handleDataRow(msg: unknown): void {
    if (this.skip > 0) return;
    super.handleDataRow(msg);
  }

  override handleCommandComplete(msg: unknown, connection: WireConnection): void {
    if (this.skip > 0) {
      this.skip -= 1;
      return;
    }
    super.handleCommandComplete(msg, connection);
  }

  override handleError(err: Error, connection: WireConnection): void {
    const cache = this.cache;
    if (cache) {
      // A Parse of this flight may not have been processed (the server skips to Sync after an error).
      cache.forget(this.parsedNow);
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && STALE_STATEMENT.has(code) && this.usedCache) {
        cache.clear();
        const queue = (this.client as unknown as ClientInternals)._queryQueue;
        if (this.prologue && this.attempt === 0 && Array.isArray(queue)) {
          // pg has already let go of this query (it is no longer active); the server still owes the flight's
          // ReadyForQuery, after which pg sends the head of its queue: this query again, ahead of anything queued.
          this.attempt += 1;
          queue.unshift(this);
          return;
        }
      }
    }
    super.handleError(err, connection);
  }
}

function runFlight<R extends pg.QueryResultRow>(
  client: pg.PoolClient,
  cache: StatementCache | null,
  sql: string,
  params: unknown[] | undefined,
  prologue: 'begin' | 'implicit' | null,
  tenant: TenantValues | null,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const q = new FlightQuery(client, cache, sql, params, prologue, tenant);
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
