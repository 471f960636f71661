import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { PackageMigrations, Tx } from '@cos/db';
import { conflict } from '@cos/errors';

/**
 * The `events` table (store + outbox, indexes, row-level security): this package's migrations, applied by
 * `migrate()` before a service's own to every schema whose migrations/packages.json names @cos/event-store.
 */
export const eventStoreMigrations: PackageMigrations = { name: '@cos/event-store', dir: fileURLToPath(new URL('../migrations', import.meta.url)) };

/** Who caused an event and why; travels with the event into NATS headers (issue: event backbone). */
export interface EventMetadata {
  actor: string; // "user:<id>", "apiKey:<id>", "service:<name>", "system"
  correlationId: string;
  causationId?: string | null;
  traceparent?: string | null;
  tracestate?: string | null;
}

/** A domain event as the service's code builds it: a discriminated union member `{ type, data }`. */
export interface DomainEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
  /** Bumped when the shape of `data` changes; readers upcast older versions. */
  schemaVersion?: number;
}

/** A stored event: the envelope every consumer sees. */
export interface StoredEvent<E extends DomainEvent = DomainEvent> {
  id: string;
  globalPosition: number;
  orgId: string;
  streamId: string;
  streamType: string;
  version: number;
  type: E['type'];
  schemaVersion: number;
  data: E['data'];
  metadata: EventMetadata;
  occurredAt: string;
}

/** Narrows a stored event to one member of the union by its `type`. */
export type StoredOf<E extends DomainEvent> = E extends DomainEvent ? StoredEvent<E> : never;

/** A row of a service's `events` table, as pg returns it. */
export interface EventRow {
  id: string;
  global_position: string;
  org_id: string;
  stream_id: string;
  stream_type: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

/** Maps an `events` row to the envelope consumers see (one mapping for the store, the relay and replays). */
export const toStored = <E extends DomainEvent = DomainEvent>(r: EventRow): StoredOf<E> =>
  ({
    id: r.id,
    globalPosition: Number(r.global_position),
    orgId: r.org_id,
    streamId: r.stream_id,
    streamType: r.stream_type,
    version: r.version,
    type: r.type,
    schemaVersion: r.schema_version,
    data: r.data,
    metadata: r.metadata,
    occurredAt: r.occurred_at.toISOString(),
  }) as StoredOf<E>;


/**
 * Encrypts personal fields on append and opens them on read (@cos/pii's createPiiCodec fits): the events table
 * holds ciphertext, every reader (aggregates, projections, rebuilds, the outbox relay) sees plaintext or, for an
 * erased subject, a placeholder.
 */
export interface EventDataCodec {
  encode(tx: Pick<Tx, 'query'>, events: readonly { type: string; data: unknown }[]): Promise<unknown[]>;
  decode<S extends { type: string; data: unknown }>(tx: Pick<Tx, 'query'>, events: readonly S[]): Promise<S[]>;
}

export interface EventStoreOptions<E extends DomainEvent> {
  /** Postgres NOTIFY channel the outbox relay listens on. */
  notifyChannel: string;
  /** Applies one event to the read-model tables, in the same transaction as the append (no dual write). */
  project: (tx: Tx, event: StoredOf<E>) => Promise<void>;
  /** Upgrades older event shapes to the current one when reading (versioned events). */
  upcast?: (event: StoredEvent) => StoredOf<E>;
  /** Personal-data encryption (crypto-shredding); none: data is stored as it is. */
  codec?: EventDataCodec;
}

export interface AppendArgs<E extends DomainEvent> {
  orgId: string;
  streamId: string;
  streamType: string;
  /** The stream version the decision was made on; 0 for a new stream. A mismatch is a CONFLICT. */
  expectedVersion: number;
  events: E[];
  metadata: EventMetadata;
}

export interface Aggregate<S, E extends DomainEvent> {
  initial: S;
  evolve: (state: S, event: StoredOf<E>) => S;
}

/**
 * A service's event store: append with optimistic concurrency, read a stream, fold it into state, and rebuild the
 * read models from all events.
 */
export function createEventStore<E extends DomainEvent>(opts: EventStoreOptions<E>) {
  const upcast = opts.upcast ?? ((e: StoredEvent) => e as StoredOf<E>);
  const codec = opts.codec;
  /** Stored rows as readers see them: personal fields opened (or erased), then upcast. */
  const fromRows = async (tx: Tx, rows: EventRow[]): Promise<StoredOf<E>[]> => {
    const stored = rows.map((r) => toStored(r));
    const opened = codec ? await codec.decode(tx, stored) : stored;
    return opened.map((e) => upcast(e));
  };

  async function append(tx: Tx, args: AppendArgs<E>): Promise<StoredOf<E>[]> {
    if (args.events.length === 0) return [];
    const current = await streamVersion(tx, args.streamId);
    if (current !== args.expectedVersion) {
      throw conflict(
        `Stale version: expected ${args.expectedVersion}, the current version is ${current}`,
        current,
      );
    }
    const stored: StoredOf<E>[] = [];
    const encoded = codec ? await codec.encode(tx, args.events) : args.events.map((e) => e.data);
    let version = args.expectedVersion;
    for (const [i, event] of args.events.entries()) {
      version += 1;
      try {
        const row = await tx.one<EventRow>(
          /* appendEvent */ `INSERT INTO events (id, org_id, stream_id, stream_type, version, type, schema_version, data, metadata)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           RETURNING id, global_position, org_id, stream_id, stream_type, version, type, schema_version, data, metadata, occurred_at`,
          [
            randomUUID(),
            args.orgId,
            args.streamId,
            args.streamType,
            version,
            event.type,
            event.schemaVersion ?? 1,
            JSON.stringify(encoded[i]),
            JSON.stringify(args.metadata),
          ],
        );
        // Projections and callers get the plaintext (as JSON would round-trip it); the row keeps the ciphertext.
        const plain = codec ? (JSON.parse(JSON.stringify(event.data ?? null)) as unknown) : row!.data;
        stored.push(toStored<E>({ ...row!, data: plain }));
      } catch (err) {
        // unique (stream_id, version): a concurrent writer won the race.
        if ((err as { code?: string }).code === '23505') {
          const now = await streamVersion(tx, args.streamId).catch(() => version);
          throw conflict(`Concurrent update: version ${version} was written by someone else`, now);
        }
        throw err;
      }
    }
    for (const e of stored) await opts.project(tx, e);
    await tx.query(/* notifyOutbox */ `SELECT pg_notify($1, $2)`, [opts.notifyChannel, String(stored.at(-1)!.globalPosition)]);
    return stored;
  }

  async function streamVersion(tx: Tx, streamId: string): Promise<number> {
    const row = await tx.one<{ v: number | null }>(
      /* streamVersion */ `SELECT max(version) AS v FROM events WHERE stream_id = $1`,
      [streamId],
    );
    return row?.v ?? 0;
  }

  async function readStream(tx: Tx, streamId: string): Promise<StoredOf<E>[]> {
    const rows = await tx.query<EventRow>(
      /* readStream */ `SELECT id, global_position, org_id, stream_id, stream_type, version, type, schema_version, data, metadata, occurred_at
       FROM events WHERE stream_id = $1 ORDER BY version`,
      [streamId],
    );
    return fromRows(tx, rows);
  }

  /** Folds a stream into the aggregate's state; version 0 means the stream does not exist. */
  async function load<S>(tx: Tx, streamId: string, aggregate: Aggregate<S, E>): Promise<{ state: S; version: number }> {
    const events = await readStream(tx, streamId);
    let state = aggregate.initial;
    for (const e of events) state = aggregate.evolve(state, e);
    return { state, version: events.at(-1)?.version ?? 0 };
  }

  /** Reads events in global order after `afterPosition` (used by rebuild and the outbox relay). */
  async function readAll(tx: Tx, afterPosition: number, limit: number): Promise<StoredOf<E>[]> {
    const rows = await tx.query<EventRow>(
      /* readAllEvents */ `SELECT id, global_position, org_id, stream_id, stream_type, version, type, schema_version, data, metadata, occurred_at
       FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2`,
      [afterPosition, limit],
    );
    return fromRows(tx, rows);
  }

  /**
   * Replays every event through the projector. The caller truncates the read-model tables first, in the same
   * transaction, using a system (BYPASSRLS) connection.
   */
  async function replayAll(tx: Tx, batchSize = 1000): Promise<number> {
    let after = 0;
    let count = 0;
    for (;;) {
      const batch = await readAll(tx, after, batchSize);
      if (batch.length === 0) return count;
      for (const e of batch) await opts.project(tx, e);
      count += batch.length;
      after = batch.at(-1)!.globalPosition;
    }
  }

  return { append, readStream, load, readAll, replayAll, streamVersion, codec };
}

export type EventStore<E extends DomainEvent> = ReturnType<typeof createEventStore<E>>;
