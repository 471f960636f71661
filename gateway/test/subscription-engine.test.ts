/**
 * The subscription engine when a lookup fails as a whole (a subgraph restarting: its errors name no entity, the
 * entity reads as null). `pnpm chaos` saw subscribers silently miss such an event while later ones arrived, so
 * resuming by cursor never brought it back. Now the lookup is asked again, and if it keeps failing the subscriber
 * gets an error for that event — never nothing.
 */
import { buildSchema, parse, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { AuthenticatedPrincipal } from '@cos/auth';
import { createLogger } from '@cos/logger';
import { userPrincipal } from '@cos/testing';
import { SubscriptionEngine, type Connection, type LookupExecutor } from '../src/subscriptions/engine';
import type { SequencedEvent, Upstream } from '../src/subscriptions/upstream';

const schema = buildSchema(`
  type Query { task(id: ID!): Task }
  type Subscription { taskChanged(taskId: ID, after: String): TaskEvent! }
  type TaskEvent { cursor: String! kind: String! task: Task! }
  type Task { id: ID! title: String! }
`);
const ORG = '00000000-0000-4000-8000-0000000000aa';
const principal = userPrincipal('00000000-0000-4000-8000-000000000001', ORG, 'MEMBER') as AuthenticatedPrincipal;
const unavailable = { body: { data: { e0_0: null }, errors: [{ message: 'The tasks service is unavailable', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] } };
const found = { body: { data: { e0_0: { id: 't1', title: 'Renewal' } } } };

function setup(answers: Array<Awaited<ReturnType<LookupExecutor>>>) {
  const listeners = new Set<(e: SequencedEvent) => void>();
  const upstream = {
    prefix: 'cos',
    size: 1,
    listen: async (_subject: string, l: (e: SequencedEvent) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    lastSequence: async () => 0,
    replay: async () => undefined,
  } as unknown as Upstream;
  let calls = 0;
  const execute: LookupExecutor = async () => answers[Math.min(calls++, answers.length - 1)]!;
  const engine = new SubscriptionEngine({ upstream, schema: () => schema, identityMatters: () => false, execute, log: createLogger('engine-test', 'silent') });
  const conn: Connection = { id: 'c1', principal, close: () => undefined };
  engine.register(conn);
  const publish = (seq: number) => {
    const event = { id: `e${seq}`, orgId: ORG, streamId: 'Task-t1', streamType: 'Task', version: seq, type: 'TaskUpdated', data: { taskId: 't1' } };
    for (const l of listeners) l({ seq, subject: `cos.${ORG}.tasks.Task.TaskUpdated`, event } as SequencedEvent);
  };
  return { engine, conn, publish, calls: () => calls };
}

async function subscribe(engine: SubscriptionEngine, conn: Connection) {
  const it = await engine.subscribe(conn, parse('subscription { taskChanged { cursor task { id title } } }'), null, {});
  if (!(Symbol.asyncIterator in it)) throw new Error(JSON.stringify(it));
  return it as AsyncIterableIterator<ExecutionResult>;
}

describe('subscription engine: a lookup that fails as a whole', () => {
  it('is asked again and the event is delivered once the subgraph answers', async () => {
    const s = setup([unavailable, found]);
    const it = await subscribe(s.engine, s.conn);
    s.publish(7);
    const r = await it.next();
    expect(r.value).toEqual({ data: { taskChanged: { cursor: '7', task: { id: 't1', title: 'Renewal' } } } });
    expect(s.calls()).toBe(2);
    await it.return?.();
  });

  it('still failing after the retries (~7.5 s): the subscriber gets an error for that event, not silence', async () => {
    const s = setup([unavailable]);
    const it = await subscribe(s.engine, s.conn);
    s.publish(8);
    const r = await it.next();
    expect(r.value?.data).toBeNull();
    expect(r.value?.errors?.[0]?.message).toBe('The tasks service is unavailable');
    expect(s.calls()).toBe(5);
    await it.return?.();
  }, 20_000);

  it('an entity that is simply not visible (null, no error) is still not an event for them', async () => {
    const s = setup([{ body: { data: { e0_0: null } } }, found]);
    const it = await subscribe(s.engine, s.conn);
    s.publish(9);
    await new Promise((r) => setTimeout(r, 50)); // resolved on its own (events of one tick share a lookup)
    s.publish(10);
    const r = await it.next();
    expect(r.value?.data?.taskChanged?.cursor).toBe('10');
    await it.return?.();
  });
});
