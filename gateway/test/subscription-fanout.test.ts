/**
 * Shared fan-out (issue 16) and the bounded group queue (issue 13 soak). The soak resolved every event once per
 * subscriber because the supergraph uses @policy somewhere; now subscribers share a resolution per (org, kind, role,
 * scopes, selection) unless the selection itself is viewer-dependent, and a group that falls behind is closed with
 * 1013 instead of queueing without bound.
 */
import { buildSchema, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { AuthenticatedPrincipal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { userPrincipal } from '@cos/testing';
import { isViewerDependent, ViewerDependenceCache, viewerDependenceFromSupergraph } from '../src/authz/viewer-dependent';
import { SubscriptionEngine, type Connection, type EngineLimits, type LookupExecutor } from '../src/subscriptions/engine';
import { lookupDocument } from '../src/subscriptions/shape';
import type { SequencedEvent, Upstream } from '../src/subscriptions/upstream';

const schema = buildSchema(`
  type Query { task(id: ID!): Task }
  type Subscription { taskChanged(taskId: ID, after: String): TaskEvent! }
  type TaskEvent { cursor: String! kind: String! task: Task! }
  type Task { id: ID! title: String! budget: Int assignee: User }
  type User { id: ID! name: String! email: String! tasks: [Task!]! }
`);
// The security and join directives as composition leaves them in a supergraph (only what the analysis reads).
const SUPERGRAPH = `
  type Query @join__type(graph: TASKS) { task(id: ID!): Task @join__field(graph: TASKS) }
  type Task @join__type(graph: TASKS, key: "id") {
    id: ID!
    title: String!
    budget: Int @requiresScopes(scopes: [["tasks:budget"]])
    assignee: User
  }
  type User @join__type(graph: IDENTITY, key: "id") @join__type(graph: TASKS, key: "id") {
    id: ID!
    name: String! @join__field(graph: IDENTITY)
    email: String! @join__field(graph: IDENTITY) @policy(policies: [["user_email"]])
    tasks: [Task!]! @join__field(graph: TASKS)
  }
`;
const ORG_A = '00000000-0000-4000-8000-0000000000aa';
const ORG_B = '00000000-0000-4000-8000-0000000000bb';
const user = (n: number, org = ORG_A, role: 'MEMBER' | 'ADMIN' | 'VIEWER' = 'MEMBER') =>
  userPrincipal(`00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, org, role) as AuthenticatedPrincipal;

const TASKS = 'subscription { taskChanged { cursor task { id title } } }';
const TASKS_WITH_EMAIL = 'subscription { taskChanged { cursor task { id assignee { email } } } }';
const TASKS_WITH_NAME = 'subscription { taskChanged { cursor task { id assignee { name } } } }';

interface Setup {
  execute?: LookupExecutor;
  limits?: Partial<EngineLimits>;
}

function setup(opts: Setup = {}) {
  // Who a lookup ran as, by connection id: the executor gets the connection's Authorization value here and its
  // principal once lookups run in process (gateway core), so the test reads either.
  const byPrincipal = new Map<unknown, string>();
  const who = (credential: unknown): string =>
    typeof credential === 'string' ? credential.replace(/^Bearer /, '') : (byPrincipal.get(credential) ?? 'unknown');
  const listeners = new Map<string, Set<(e: SequencedEvent) => void>>();
  const upstream = {
    prefix: 'cos',
    size: 1,
    listen: async (subject: string, l: (e: SequencedEvent) => void) => {
      const set = listeners.get(subject) ?? new Set();
      set.add(l);
      listeners.set(subject, set);
      return () => set.delete(l);
    },
    lastSequence: async () => 0,
    replay: async () => undefined,
  } as unknown as Upstream;
  const lookups: Array<{ as: string; ids: unknown[] }> = [];
  // Default: every principal sees the task; the title says who asked (so a shared result is visible in the data).
  const execute: LookupExecutor =
    opts.execute ??
    (async (_query, variables, credential) => {
      const ids = Object.keys(variables).filter((k) => k.startsWith('cosId')).map((k) => variables[k]);
      lookups.push({ as: who(credential), ids });
      const data: Record<string, unknown> = {};
      ids.forEach((id, i) => (data[`e${i}_0`] = { id, title: `seen by ${who(credential)}`, assignee: { email: 'a@x', name: 'A' } }));
      return { body: { data } };
    });
  const cache = new ViewerDependenceCache(SUPERGRAPH);
  const overloads: number[] = [];
  const engine = new SubscriptionEngine({
    upstream,
    schema: () => schema,
    // The real gateway has @policy in its supergraph: identityMatters is true, the per-selection analysis decides.
    identityMatters: () => true,
    viewerDependent: (shape) => cache.check(shape.key, schema, () => parse(lookupDocument(shape, 1))),
    execute,
    log: createLogger('fanout-test', 'silent'),
    limits: opts.limits,
    observer: { delivered: () => undefined, overloadClosed: (n) => overloads.push(n) },
  });
  const closed: Array<{ conn: string; code: number }> = [];
  const connect = (principal: AuthenticatedPrincipal, id: string): Connection => {
    const conn: Connection = {
      id,
      principal,
      // As the transports do: a close ends the connection's subscriptions.
      close: (code) => {
        closed.push({ conn: id, code });
        engine.unregister(conn);
      },
    };
    engine.register(conn);
    byPrincipal.set(principal, id);
    return conn;
  };
  const publish = (org: string, seqs: number[]) => {
    for (const seq of seqs) {
      const event = {
        id: `e${seq}`,
        orgId: org,
        streamId: `Task-t${seq}`,
        streamType: 'Task',
        version: 1,
        type: 'TaskUpdated',
        occurredAt: new Date().toISOString(),
        data: { taskId: `t${seq}` },
      };
      const subject = `cos.${org}.tasks.Task.>`;
      for (const [s, ls] of listeners) if (s.startsWith(`cos.${org}.`)) for (const l of ls) l({ seq, subject, event } as SequencedEvent);
    }
  };
  const subscribe = async (conn: Connection, query: string) => {
    const it = await engine.subscribe(conn, parse(query), null, {});
    if (!(Symbol.asyncIterator in it)) throw new Error(JSON.stringify(it));
    return it as AsyncIterableIterator<ExecutionResult>;
  };
  return { engine, connect, publish, subscribe, lookups, closed, overloads, who };
}

const tick = () => new Promise((r) => setTimeout(r, 20));
const taskOf = (r: IteratorResult<ExecutionResult>) => (r.value?.data as { taskChanged: { task: { title?: string } } } | undefined)?.taskChanged.task;

describe('viewer-dependent selections (authz/viewer-dependent.ts)', () => {
  const dependence = viewerDependenceFromSupergraph(SUPERGRAPH);
  const check = (query: string) => isViewerDependent(schema, parse(query), dependence);

  it('a @policy field, or a field only the per-user identity subgraph resolves, is viewer-dependent', () => {
    expect(check('{ task(id: "1") { id assignee { email } } }')).toBe(true);
    expect(check('{ task(id: "1") { id assignee { name } } }')).toBe(true);
    expect(check('query { ...F } fragment F on Query { task(id: "1") { assignee { email } } }')).toBe(true);
  });

  it('role and scope rules (@requiresScopes) and key fields are not', () => {
    expect(check('{ task(id: "1") { id title budget assignee { id tasks { id } } } }')).toBe(false);
  });
});

describe('subscription fan-out: one resolution per org, role, scopes and selection', () => {
  it('N subscribers of one org and role with a non-viewer-dependent selection: one lookup per event batch', async () => {
    const s = setup();
    const its = await Promise.all(Array.from({ length: 20 }, (_, i) => s.subscribe(s.connect(user(i + 1), `c${i}`), TASKS)));
    expect(s.engine.stats.groups).toBe(1);
    s.publish(ORG_A, [1, 2, 3]);
    for (const it of its) for (let k = 0; k < 3; k++) expect(taskOf(await it.next())?.title).toMatch(/^seen by c\d+$/);
    expect(s.engine.stats.lookups).toBe(1);
    expect(s.engine.stats.resolutions).toBe(3);
    expect(s.engine.stats.deliveries).toBe(60);
    expect(s.lookups[0]!.ids).toEqual(['t1', 't2', 't3']);
    for (const it of its) await it.return?.();
    expect(s.engine.stats.groups).toBe(0);
  });

  it('a viewer-dependent selection (@policy User.email, identity-only User.name) is resolved per subscriber', async () => {
    for (const query of [TASKS_WITH_EMAIL, TASKS_WITH_NAME]) {
      const s = setup();
      const its = await Promise.all(Array.from({ length: 5 }, (_, i) => s.subscribe(s.connect(user(i + 1), `c${i}`), query)));
      s.publish(ORG_A, [1]);
      for (const it of its) await it.next();
      expect(s.engine.stats.lookups).toBe(5);
      expect(new Set(s.lookups.map((l) => l.as)).size).toBe(5);
      for (const it of its) await it.return?.();
    }
  });

  it('two roles of one org do not share: each gets what its own role may see, never the other role’s result', async () => {
    // An ADMIN sees the task; a VIEWER's lookup answers null (not visible to that role).
    const lookups: string[] = [];
    const s: ReturnType<typeof setup> = setup({
      execute: async (_q, variables, credential) => {
        const as = s.who(credential);
        lookups.push(as);
        const admin = as.startsWith('admin');
        return { body: { data: { e0_0: admin ? { id: variables.cosId0, title: 'secret' } : null } } };
      },
    });
    const admin = await s.subscribe(s.connect(user(1, ORG_A, 'ADMIN'), 'admin1'), TASKS);
    const viewer = await s.subscribe(s.connect(user(2, ORG_A, 'VIEWER'), 'viewer2'), TASKS);
    expect(s.engine.stats.groups).toBe(2);
    s.publish(ORG_A, [1]);
    expect(taskOf(await admin.next())?.title).toBe('secret');
    await tick();
    expect(lookups.sort()).toEqual(['admin1', 'viewer2']);
    // The viewer got nothing for that event: its next result is the next event it may see (none), so it is still waiting.
    const pending = viewer.next();
    const raced = await Promise.race([pending, tick().then(() => 'nothing')]);
    expect(raced).toBe('nothing');
    await admin.return?.();
    await viewer.return?.();
  });

  it('two organizations never share a group, even with the same role and selection', async () => {
    const s = setup();
    const a = await s.subscribe(s.connect(user(1, ORG_A), 'a1'), TASKS);
    const b = await s.subscribe(s.connect(user(2, ORG_B), 'b2'), TASKS);
    expect(s.engine.stats.groups).toBe(2);
    s.publish(ORG_A, [1]);
    s.publish(ORG_B, [2]);
    expect(taskOf(await a.next())?.title).toBe('seen by a1');
    expect(taskOf(await b.next())?.title).toBe('seen by b2');
    expect(s.engine.stats.lookups).toBe(2);
    await a.return?.();
    await b.return?.();
  });
});

describe('subscription fan-out: bounded queue and lookup concurrency', () => {
  it('a group with more than SUBS_GROUP_QUEUE events pending closes its subscribers with 1013 and counts them', async () => {
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (release = r));
    const s = setup({
      limits: { groupQueue: 3 },
      execute: async () => {
        await blocked;
        return { body: { data: {} } };
      },
    });
    const its = await Promise.all([1, 2, 3].map((i) => s.subscribe(s.connect(user(i), `c${i}`), TASKS)));
    s.publish(ORG_A, [1]);
    await tick(); // event 1 is being looked up (blocked); later ones queue behind it
    s.publish(ORG_A, [2, 3, 4]);
    expect(s.engine.stats.pending).toBe(3);
    expect(s.closed).toEqual([]);
    s.publish(ORG_A, [5]);
    expect(s.closed.map((c) => c.code)).toEqual([1013, 1013, 1013]);
    expect(s.engine.stats.overloadClosed).toBe(3);
    expect(s.overloads).toEqual([3]);
    expect(s.engine.stats.pending).toBe(0);
    for (const it of its) expect((await it.next()).done).toBe(true);
    release();
  });

  it('at most SUBS_LOOKUP_CONCURRENCY lookups run at once across groups', async () => {
    let inFlight = 0;
    let peak = 0;
    const s = setup({
      limits: { lookupConcurrency: 2 },
      execute: async (_q, variables) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick();
        inFlight--;
        return { body: { data: { e0_0: { id: variables.cosId0, title: 't' } } } };
      },
    });
    // Five groups: five roles/orgs would do, viewer-dependent selections are simplest (one group per user).
    const its = await Promise.all([1, 2, 3, 4, 5].map((i) => s.subscribe(s.connect(user(i), `c${i}`), TASKS_WITH_EMAIL)));
    s.publish(ORG_A, [1]);
    for (const it of its) await it.next();
    expect(s.engine.stats.lookups).toBe(5);
    expect(peak).toBe(2);
    for (const it of its) await it.return?.();
  });
});
