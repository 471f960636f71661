import { serviceUnavailable } from '@cos/errors';
import { randomUUID } from 'node:crypto';
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { actorOf, type AuthenticatedPrincipal } from '@cos/auth';
import { principalFingerprint } from '../authz/engine';
import type { Logger } from '@cos/logger';
import { kindOf } from './fields';
import { aliasOf, analyse, CHILD_KEY, lookupDocument, type Shape } from './shape';
import { LocalQuota, type SubscriptionQuota } from './quota';
import type { SequencedEvent, Upstream } from './upstream';

/** Runs one lookup operation as the connection's principal (core execute: in process, no credential re-verification). */
export type LookupExecutor = (
  query: string,
  variables: Record<string, unknown>,
  principal: AuthenticatedPrincipal,
) => Promise<{ body: { data?: Record<string, unknown> | null; errors?: GraphQLFormattedError[] } }>;

export interface EngineLimits {
  /** Active subscriptions per connection (graphql-ws socket or SSE stream). */
  perConnection: number;
  /** Active subscriptions per principal (across gateway instances with a RedisQuota, else in this process). */
  perPrincipal: number;
  /** Results queued for one connection (all its subscriptions) before it counts as a slow consumer. */
  connectionBuffer: number;
  /** Distinct entities per lookup operation. */
  maxBatch: number;
  /** Events waiting to be resolved for one group; beyond it the group's subscribers are closed with 1013. */
  groupQueue: number;
  /** Lookup operations in flight at once, across all groups. */
  lookupConcurrency: number;
}

export const DEFAULT_ENGINE_LIMITS: EngineLimits = {
  perConnection: 100,
  perPrincipal: 500,
  connectionBuffer: 1_000,
  maxBatch: 50,
  groupQueue: 5_000,
  lookupConcurrency: 4,
};

/** Where the engine reports what the metrics registry records (index.ts wires prom-client). */
export interface EngineObserver {
  /** One result handed to a subscriber, `seconds` after its event was committed. */
  delivered(seconds: number): void;
  /** Connections closed with 1013 because a group of theirs overflowed its queue. */
  overloadClosed(count: number): void;
}

/** A transport connection; the engine tells it to close (overflow, auth loss, drain). */
export interface Connection {
  id: string;
  principal: AuthenticatedPrincipal;
  close(code: number, reason: string): void;
  /** Internal: results queued across its subscriptions. */
  queued?: number;
  /** Internal: closed as a slow consumer; nothing more is queued for it. */
  overflowed?: boolean;
  subs?: Set<Subscriber>;
}

export interface EngineStats {
  subscribers: number;
  upstreamSubjects: number;
  /** Events handed to subscribers. */
  deliveries: number;
  /** Event resolutions performed (one per event per group); deliveries / resolutions = dedup ratio. */
  resolutions: number;
  /** Lookup operations sent (a batch of events = one operation). */
  lookups: number;
  /** Events waiting to be resolved, summed over groups. */
  pending: number;
  /** Connections closed with 1013 because a group of theirs overflowed its queue (each counted once). */
  overloadClosed: number;
  /** Resolution groups alive (shared: one per org/role/scopes/selection; per user for viewer-dependent ones). */
  groups: number;
}

class Subscriber implements AsyncIterableIterator<ExecutionResult> {
  private readonly queue: ExecutionResult[] = [];
  private waiting: ((r: IteratorResult<ExecutionResult>) => void) | null = null;
  done = false;
  /** Highest stream sequence handed to the resolver for this subscriber (resume dedup). */
  lastSeq: number;
  /** While replaying, live events wait here. */
  pendingLive: SequencedEvent[] | null = null;
  readonly abort = new AbortController();
  onEnd: () => void = () => undefined;

  constructor(
    readonly conn: Connection,
    readonly shape: Shape,
    readonly group: Group,
    after: number,
    private readonly bufferLimit: number,
  ) {
    this.lastSeq = after;
  }

  push(result: ExecutionResult): void {
    if (this.done) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value: result, done: false });
      return;
    }
    // Once a connection overflowed it is closing: queue nothing more for it (memory stays bounded until it is gone).
    if (this.conn.overflowed) return;
    this.queue.push(result);
    this.conn.queued = (this.conn.queued ?? 0) + 1;
    if (this.conn.queued > this.bufferLimit) {
      // A slow consumer: drop this connection only; the fan-out never waits for it.
      this.conn.overflowed = true;
      this.group.engine.log.warn({ connection: this.conn.id, queued: this.conn.queued }, 'slow consumer: closing its connection (1013)');
      this.conn.close(1013, 'Slow consumer: subscription buffer overflow, reconnect and resume with `after`');
    }
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    const v = this.queue.shift();
    if (v) {
      this.conn.queued = Math.max(0, (this.conn.queued ?? 1) - 1);
      return Promise.resolve({ value: v, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.conn.queued = Math.max(0, (this.conn.queued ?? 0) - this.queue.length);
    this.queue.length = 0;
    this.abort.abort();
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    this.onEnd();
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.end();
    return Promise.reject(err);
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

interface Pending {
  ev: SequencedEvent;
  targets: Set<Subscriber>;
}

/** Subscribers with the same shape and the same permissions: every event is resolved once for all of them. */
class Group {
  readonly members = new Set<Subscriber>();
  private readonly pending = new Map<number, Pending>();
  private running = false;
  private scheduled = false;
  /** Entities per lookup learnt from the gateway's static limits (aliases, tokens, cost grow with the batch). */
  private cap = Number.POSITIVE_INFINITY;

  constructor(
    readonly key: string,
    readonly shape: Shape,
    readonly engine: SubscriptionEngine,
  ) {}

  enqueue(ev: SequencedEvent, sub: Subscriber): void {
    // Closed as overloaded or slow: its transport ends it when the close completes; queue nothing more meanwhile.
    if (sub.conn.overflowed) return;
    let p = this.pending.get(ev.seq);
    if (!p) {
      if (this.pending.size >= this.engine.limits.groupQueue) {
        this.overload();
        return;
      }
      p = { ev, targets: new Set() };
      this.pending.set(ev.seq, p);
      this.engine.stats.pending++;
    }
    p.targets.add(sub);
    this.schedule();
  }

  /**
   * Events arrive faster than this group's lookups resolve them: close its subscribers with 1013 (they resume with
   * `after` from their last cursor, on this or another instance) instead of queueing without bound — the soak saw
   * 366k deliveries queued, a 263 s p99 lag and 1.3 GiB RSS before this limit.
   */
  private overload(): void {
    const members = [...this.members].filter((m) => !m.done);
    this.engine.log.warn({ group: this.key, pending: this.pending.size, subscribers: members.length }, 'subscription group overloaded: closing its subscribers (1013)');
    this.engine.stats.pending -= this.pending.size;
    this.pending.clear();
    // As the slow-consumer path: the transport's close ends the connection's subscriptions (engine.unregister), so the
    // client sees the 1013 close rather than a `complete` it would not resume from.
    let closed = 0;
    for (const m of members) {
      if (m.conn.overflowed) continue;
      m.conn.overflowed = true;
      closed++;
      m.conn.close(1013, 'Try again later: subscription events are arriving faster than they resolve, reconnect and resume with `after`');
    }
    this.engine.stats.overloadClosed += closed;
    this.engine.observer?.overloadClosed(closed);
  }

  /** The last member left: what is still queued will never be delivered. */
  discard(): void {
    this.engine.stats.pending -= this.pending.size;
    this.pending.clear();
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // One macrotask of batching: a burst of events published together becomes one lookup.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.size > 0) {
        const all = [...this.pending.values()].sort((a, b) => a.ev.seq - b.ev.seq);
        const ids: string[] = [];
        const batch: Pending[] = [];
        for (const p of all) {
          const id = this.shape.spec.entityId(p.ev.event);
          if (id !== null && !ids.includes(id)) {
            if (ids.length >= Math.min(this.engine.limits.maxBatch, this.cap)) break;
            ids.push(id);
          }
          batch.push(p);
        }
        for (const p of batch) this.pending.delete(p.ev.seq);
        this.engine.stats.pending -= batch.length;
        await this.resolve(batch, ids);
      }
    } finally {
      this.running = false;
    }
  }

  private credential(): Subscriber | undefined {
    for (const m of this.members) if (!m.done) return m;
    return undefined;
  }

  private async resolve(batch: Pending[], ids: string[]): Promise<void> {
    const live = batch.filter((p) => [...p.targets].some((t) => !t.done));
    if (live.length === 0) return;
    let response: Awaited<ReturnType<LookupExecutor>> | null = null;
    if (ids.length > 0) {
      const variables: Record<string, unknown> = { ...this.shape.variables };
      ids.forEach((id, i) => (variables[`cosId${i}`] = id));
      const query = lookupDocument(this.shape, ids.length);
      for (let attempt = 0; attempt < LOOKUP_ATTEMPTS && !response; attempt++) {
        const holder = this.credential() ?? [...live[0]!.targets][0]!;
        this.engine.stats.lookups++;
        try {
          const r = await this.engine.execute(query, variables, holder.conn.principal);
          if (attempt < LOOKUP_ATTEMPTS - 1 && unattributedErrors(r).length > 0 && !tooComplex(r)) {
            // A subgraph was unreachable for this lookup (its errors name no entity): the entities read as null.
            // Ask again with backoff (0.5, 1, 2, 4 s, jittered: ~7.5 s, past the gateway's 5 s circuit-breaker wait;
            // a killed subgraph is back in ~5.5 s under `pnpm chaos`) instead of answering this event from a failure.
            // The group's later events wait meanwhile, so order holds.
            await new Promise((res) => setTimeout(res, 500 * 2 ** attempt * (0.5 + Math.random())));
            continue;
          }
          response = r;
        } catch (err) {
          this.engine.log.error({ err }, 'subscription lookup failed');
          break;
        }
      }
    }
    if (response && ids.length > 1 && tooComplex(response)) {
      // The batched lookup went past the gateway's document limits: halve it (and remember), never drop events.
      const half = Math.ceil(ids.length / 2);
      this.cap = Math.min(this.cap, half);
      const first = new Set(ids.slice(0, half));
      const inFirst = (p: Pending) => {
        const id = this.shape.spec.entityId(p.ev.event);
        return id === null || first.has(id);
      };
      await this.resolve(live.filter(inFirst), ids.slice(0, half));
      await this.resolve(live.filter((p) => !inFirst(p)), ids.slice(half));
      return;
    }
    const now = Date.now();
    for (const p of live) {
      const result = this.build(p.ev, ids, response);
      this.engine.stats.resolutions++;
      if (!result) continue;
      const committed = Date.parse(p.ev.event.occurredAt ?? '');
      const lag = Number.isFinite(committed) ? Math.max(0, (now - committed) / 1000) : null;
      for (const t of p.targets) {
        if (t.done) continue;
        this.engine.stats.deliveries++;
        if (lag !== null) this.engine.observer?.delivered(lag);
        t.push(result);
      }
    }
  }

  /** The subscription result for one event, or null when the entity is not visible to these subscribers. */
  private build(ev: SequencedEvent, ids: string[], response: Awaited<ReturnType<LookupExecutor>> | null): ExecutionResult | null {
    const { shape } = this;
    const id = shape.spec.entityId(ev.event);
    const i = id === null ? -1 : ids.indexOf(id);
    if (i < 0 || !response) {
      return response
        ? null
        : { data: null, errors: [new GraphQLError('Could not resolve this event', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })] };
    }
    const errors: GraphQLError[] = [];
    if (!response.body.data) {
      // A request-level failure (e.g. this selection alone exceeds the gateway's limits): say so, do not go silent.
      const top = (response.body.errors ?? []).filter((e) => !e.path);
      if (top.length) return { data: null, errors: top.map((e) => new GraphQLError(e.message, { extensions: e.extensions })) };
    }
    const data = response.body.data ?? {};
    const parts = shape.parts.map((_, p) => {
      const alias = aliasOf(i, p);
      let value = data[alias] as Record<string, unknown> | null | undefined;
      let childIndex = -1;
      if (shape.spec.through && value) {
        const childId = shape.spec.through.childId(ev.event);
        const list = (value[shape.spec.through.list] as Array<Record<string, unknown>> | null) ?? [];
        childIndex = list.findIndex((c) => c?.[CHILD_KEY] === childId);
        const child = childIndex >= 0 ? { ...list[childIndex]! } : null;
        if (child) delete child[CHILD_KEY];
        value = child;
      }
      for (const e of response.body.errors ?? []) {
        const path = e.path ?? [];
        if (path[0] !== alias) continue;
        let rest = path.slice(1);
        if (shape.spec.through) {
          if (rest[0] !== shape.spec.through.list || rest[1] !== childIndex) continue;
          rest = rest.slice(2);
        }
        const head = shape.parts[p]!.responseKey === null ? [shape.responseKey] : [shape.responseKey, shape.parts[p]!.responseKey!];
        errors.push(new GraphQLError(e.message, { path: [...head, ...rest], extensions: e.extensions }));
      }
      return value ?? null;
    });
    if (parts.some((v) => v === null)) {
      if (errors.length > 0) return { data: null, errors };
      // The lookup failed as a whole (e.g. "The tasks service is unavailable", without a path): the entity is null
      // because it could not be read, not because it is hidden. Say so: dropping it silently left a hole the client
      // could not know about (its later cursors arrived, so resuming never brought this event back).
      const failed = unattributedErrors(response);
      if (failed.length > 0) return { data: null, errors: failed.map((e) => new GraphQLError(e.message, { extensions: e.extensions })) };
      // Not visible (another org, deleted, not authorized) and nothing to say about it: not an event for them.
      return null;
    }
    let value: Record<string, unknown>;
    if (shape.spec.wrapper) {
      value = {};
      for (const w of shape.wrapperFields) {
        if (w.source === 'cursor') value[w.responseKey] = String(ev.seq);
        else if (w.source === 'kind') value[w.responseKey] = kindOf(ev.event.type);
        else if (w.source === '__typename') value[w.responseKey] = shape.spec.wrapper.typename;
        else value[w.responseKey] = parts[w.part!];
      }
    } else {
      value = parts[0] as Record<string, unknown>;
    }
    return errors.length ? { data: { [shape.responseKey]: value }, errors } : { data: { [shape.responseKey]: value } };
  }
}

/** Lookups per batch: a failure of the whole lookup (a subgraph unreachable) is asked again (see resolve). */
const LOOKUP_ATTEMPTS = 5;

/** Errors of a lookup that name no field of it (a subgraph unavailable, a request-level failure). */
const unattributedErrors = (r: Awaited<ReturnType<LookupExecutor>>) => (r.body.errors ?? []).filter((e) => !e.path || e.path.length === 0);

const tooComplex = (r: Awaited<ReturnType<LookupExecutor>>) =>
  !r.body.data && (r.body.errors ?? []).some((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX');

export interface EngineDeps {
  upstream: Upstream;
  /** The gateway's current API schema (changes on supergraph reload). */
  schema: () => GraphQLSchema | undefined;
  /**
   * Whether resolutions of this selection depend on who the principal is beyond org/kind/role/scopes
   * (authz/viewer-dependent.ts): then its subscribers are grouped per principal, else they share one resolution.
   * Without it, `identityMatters` decides for every selection at once.
   */
  viewerDependent?: (shape: Shape) => boolean;
  /** Whether resolutions may depend on who the principal is beyond role/scopes (the supergraph uses @policy). */
  identityMatters: () => boolean;
  execute: LookupExecutor;
  log: Logger;
  limits?: Partial<EngineLimits>;
  /** Who holds how many subscriptions (default: this process only, LocalQuota at limits.perPrincipal). */
  quota?: SubscriptionQuota;
  observer?: EngineObserver;
}

/**
 * The subscription engine: transports hand it (connection, document); it returns an async iterator of results.
 * Events come from the shared upstream feed of the subject `<field subject>` under the principal's org, are
 * filtered per subscriber, grouped by (shape, permissions) and resolved through the federated query path.
 */
export class SubscriptionEngine {
  readonly limits: EngineLimits;
  readonly log: Logger;
  /** deps.execute within `limits.lookupConcurrency`. */
  readonly execute: LookupExecutor;
  readonly stats: EngineStats = {
    subscribers: 0,
    upstreamSubjects: 0,
    deliveries: 0,
    resolutions: 0,
    lookups: 0,
    pending: 0,
    overloadClosed: 0,
    groups: 0,
  };
  readonly observer: EngineObserver | undefined;
  private lookupsInFlight = 0;
  private readonly lookupWaiters: Array<() => void> = [];
  private readonly groups = new Map<string, Group>();
  readonly quota: SubscriptionQuota;
  private readonly connections = new Set<Connection>();
  private draining = false;

  constructor(private readonly deps: EngineDeps) {
    this.limits = { ...DEFAULT_ENGINE_LIMITS, ...deps.limits };
    this.quota = deps.quota ?? new LocalQuota(this.limits.perPrincipal);
    this.log = deps.log;
    this.execute = (...args) => this.limited(() => deps.execute(...args));
    this.observer = deps.observer;
  }

  /** Runs a lookup when one of `limits.lookupConcurrency` slots is free (FIFO), so groups cannot flood the gateway. */
  private async limited<T>(run: () => Promise<T>): Promise<T> {
    if (this.lookupsInFlight >= this.limits.lookupConcurrency) {
      await new Promise<void>((resolve) => this.lookupWaiters.push(resolve));
    } else this.lookupsInFlight++;
    try {
      return await run();
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or free it.
      const next = this.lookupWaiters.shift();
      if (next) next();
      else this.lookupsInFlight--;
    }
  }

  /**
   * Who may share a resolution. A selection that is not viewer-dependent resolves the same for every principal of
   * one org with the same kind, role and scopes — exactly what the gateway's authorization decides on
   * (principalFingerprint) — so those subscribers form one group and the lookup runs with any member's credential.
   * API keys also keep their client apart (partner clients are separate parties even with equal scopes).
   * A viewer-dependent selection (a @policy field, a per-user subgraph) is resolved per principal.
   */
  private permissionKey(p: AuthenticatedPrincipal, shape: Shape): string {
    const perViewer = this.deps.viewerDependent ? this.deps.viewerDependent(shape) : this.deps.identityMatters();
    if (perViewer) return JSON.stringify([p.orgId, actorOf(p), principalFingerprint(p)]);
    return JSON.stringify([p.orgId, principalFingerprint(p), p.kind === 'apiKey' ? p.clientName : '']);
  }

  register(conn: Connection): void {
    conn.subs ??= new Set();
    conn.queued ??= 0;
    this.connections.add(conn);
  }

  /** Ends every subscription of the connection (it closed). */
  unregister(conn: Connection): void {
    for (const s of [...(conn.subs ?? [])]) s.end();
    this.connections.delete(conn);
  }

  /** SIGTERM: every connection closes with 1012 (service restart); clients reconnect elsewhere and resume. */
  drain(): void {
    this.draining = true;
    for (const c of [...this.connections]) c.close(1012, 'Service restart: reconnect and resume with `after`');
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async subscribe(
    conn: Connection,
    document: DocumentNode,
    operationName: string | null | undefined,
    variableValues: Record<string, unknown> | null | undefined,
    resumeAfter?: string | null,
  ): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const schema = this.deps.schema();
    if (!schema) return { errors: [serviceUnavailable('The gateway is not ready yet: retry shortly')] };
    let shape: Shape;
    try {
      shape = analyse(schema, document, operationName, variableValues);
    } catch (err) {
      if (err instanceof GraphQLError) return { errors: [err] };
      throw err;
    }
    const afterRaw = (typeof shape.args.after === 'string' ? shape.args.after : null) ?? resumeAfter ?? null;
    let after = 0;
    if (afterRaw !== null) {
      if (!/^\d{1,15}$/.test(afterRaw)) {
        return { errors: [new GraphQLError('Invalid cursor', { extensions: { code: 'BAD_USER_INPUT', field: 'after' } })] };
      }
      after = Number(afterRaw);
    }
    const subs = conn.subs ?? new Set();
    if (subs.size >= this.limits.perConnection) {
      return { errors: [new GraphQLError(`At most ${this.limits.perConnection} subscriptions per connection`, { extensions: { code: 'RATE_LIMITED' } })] };
    }
    const who = `${conn.principal.orgId}:${actorOf(conn.principal)}`;
    const slot = randomUUID();
    if (!(await this.quota.acquire(who, slot))) {
      return { errors: [new GraphQLError(`At most ${this.quota.limit} subscriptions per principal`, { extensions: { code: 'RATE_LIMITED' } })] };
    }
    if (!this.connections.has(conn)) {
      // The connection closed while the quota answered: nothing would ever end this subscription.
      this.quota.release(who, slot);
      return { errors: [new GraphQLError('Connection closed', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })] };
    }
    if (subs.size >= this.limits.perConnection) {
      // Another subscribe on this connection won the race while the quota answered.
      this.quota.release(who, slot);
      return { errors: [new GraphQLError(`At most ${this.limits.perConnection} subscriptions per connection`, { extensions: { code: 'RATE_LIMITED' } })] };
    }

    const groupKey = `${shape.key}|${this.permissionKey(conn.principal, shape)}`;
    let group = this.groups.get(groupKey);
    if (!group) {
      group = new Group(groupKey, shape, this);
      this.groups.set(groupKey, group);
      this.stats.groups = this.groups.size;
    }
    const sub = new Subscriber(conn, shape, group, after, this.limits.connectionBuffer);
    group.members.add(sub);
    subs.add(sub);
    this.register(conn);
    this.stats.subscribers++;

    const subject = `${this.deps.upstream.prefix}.${conn.principal.orgId}.${shape.spec.subject}`;
    const g = group;
    const dispatch = (e: SequencedEvent) => {
      if (sub.done || e.seq <= sub.lastSeq) return;
      // The subject carries the org; the body must agree (defense in depth).
      if (e.event.orgId !== conn.principal.orgId || !shape.spec.matches(e.event, shape.args)) {
        sub.lastSeq = e.seq;
        return;
      }
      sub.lastSeq = e.seq;
      g.enqueue(e, sub);
    };
    const onLive = (e: SequencedEvent) => {
      if (sub.pendingLive) sub.pendingLive.push(e);
      else dispatch(e);
    };
    if (afterRaw !== null) sub.pendingLive = [];
    let unlisten: (() => void) | null = null;
    sub.onEnd = () => {
      unlisten?.();
      subs.delete(sub);
      g.members.delete(sub);
      if (g.members.size === 0 && this.groups.get(g.key) === g) {
        this.groups.delete(g.key);
        g.discard();
        this.stats.groups = this.groups.size;
      }
      this.quota.release(who, slot);
      this.stats.subscribers--;
    };
    try {
      unlisten = await this.deps.upstream.listen(subject, onLive);
      if (sub.done) unlisten();
      this.stats.upstreamSubjects = this.deps.upstream.size;
      if (afterRaw !== null) {
        // Replay (after, lastSeq-at-registration], then what arrived live meanwhile; seq dedup drops the overlap.
        const until = await this.deps.upstream.lastSequence();
        void this.deps.upstream
          .replay(subject, after, until, dispatch, sub.abort.signal)
          .then(() => {
            const buffered = sub.pendingLive ?? [];
            sub.pendingLive = null;
            for (const e of buffered) dispatch(e);
          })
          .catch((err) => {
            this.log.error({ err }, 'subscription replay failed');
            conn.close(1011, 'Could not replay from the cursor');
          });
      }
    } catch (err) {
      sub.end();
      // SERVICE_UNAVAILABLE (the event bus is down): an answer for the client, not a crash of its connection.
      if (err instanceof GraphQLError && err.extensions.code) return { errors: [err] };
      throw err;
    }
    return sub;
  }
}
