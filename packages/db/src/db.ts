import type pg from 'pg';
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
   */
  async tx<T>(scope: TenantScope, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      // One round trip for BEGIN + tenant: ids are validated as UUIDs, so inlining them is safe.
      await client.query(`BEGIN; ${tenantSql(scope)}`);
      const result = await fn(this.wrap(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw translatePgError(err);
    } finally {
      client.release(broken);
    }
  }

  /** One statement in its own tenant transaction. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(scope: TenantScope, sql: string, params?: unknown[]) {
    return this.tx(scope, (tx) => tx.query<R>(sql, params));
  }

  /** For work without a tenant (system pool only, e.g. the outbox relay). */
  async withClient<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(this.wrap(client));
    } catch (err) {
      throw translatePgError(err);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private wrap(client: pg.PoolClient): Tx {
    const emit = (sql: string, start: number) => {
      if (this.listeners.size === 0) return;
      const e = { sql, durationMs: performance.now() - start };
      for (const l of this.listeners) l(e);
    };
    async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]> {
      const start = performance.now();
      try {
        const res = await client.query<R>(sql, params as unknown[] | undefined);
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

function tenantSql(scope: TenantScope): string {
  const org = scope.orgId ?? '';
  const user = scope.userId ?? '';
  if (org && !isUuid(org)) throw appError(ErrorCode.BAD_USER_INPUT, 'invalid organization id', { field: 'orgId' });
  if (user && !isUuid(user)) throw appError(ErrorCode.BAD_USER_INPUT, 'invalid user id', { field: 'userId' });
  return `SELECT set_config('app.org_id', '${org}', true), set_config('app.user_id', '${user}', true)`;
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
