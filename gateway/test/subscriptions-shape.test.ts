import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SUBSCRIPTION_FIELDS, kindOf } from '../src/subscriptions/fields';
import { analyse, lookupDocument } from '../src/subscriptions/shape';

const schema = buildSchema(`
  type Query { task(id: ID!): Task customer(id: ID!): Customer }
  type Subscription { taskChanged(taskId: ID, after: String): TaskEvent! approvalRequested(after: String): Approval! customerHealthChanged(customerId: ID): Customer! }
  type TaskEvent { cursor: String! kind: String! task: Task! }
  type Task { id: ID! title: String! approvals: [Approval!]! customer: Customer }
  type Approval { id: ID! action: String! }
  type Customer { id: ID! name: String! mrr: Float }
`);
const ev = (type: string, data: Record<string, unknown>) => ({ id: 'e', orgId: 'o', streamId: 's', streamType: 'Task', version: 1, type, data });

describe('subscription shapes', () => {
  it('splits a wrapper selection into event-filled fields and an entity lookup with only the variables it uses', () => {
    const doc = parse(`subscription S($id: ID, $after: String, $n: Int) { changes: taskChanged(taskId: $id, after: $after) {
      cursor k: kind __typename task { ...T customer { name } } } } fragment T on Task { id title }`);
    const shape = analyse(schema, doc, 'S', { id: 't1', after: '42' });
    expect(shape.responseKey).toBe('changes');
    expect(shape.args).toEqual({ taskId: 't1', after: '42' });
    expect(shape.wrapperFields.map((w) => [w.responseKey, w.source])).toEqual([
      ['cursor', 'cursor'],
      ['k', 'kind'],
      ['__typename', '__typename'],
      ['task', 'entity'],
    ]);
    const q = lookupDocument(shape, 2);
    expect(q).toContain('query CosSubscriptionLookup($cosId0: ID!, $cosId1: ID!)');
    expect(q).toContain('e1_0: task(id: $cosId1)');
    expect(q).toContain('fragment T on Task');
    expect(q).not.toContain('$after');
  });

  it('gives identical operations the same dedup key and different selections different ones', () => {
    const a = analyse(schema, parse(`subscription { taskChanged(taskId: "1") { task { title } } }`), null, {});
    const b = analyse(schema, parse(`subscription { taskChanged(taskId: "2") { task { title } } }`), null, {});
    const c = analyse(schema, parse(`subscription { taskChanged { task { id } } }`), null, {});
    expect(a.key).toBe(b.key);
    expect(a.key).not.toBe(c.key);
  });

  it('reaches an approval through its task and refuses what it cannot serve', () => {
    const shape = analyse(schema, parse(`subscription { approvalRequested { id action } }`), null, {});
    expect(lookupDocument(shape, 1)).toContain('e0_0: task(id: $cosId0) { approvals { cosKey__: id');
    expect(() => analyse(schema, parse(`query { task(id: "1") { id } }`), null, {})).toThrow(/Only subscriptions/);
    expect(() => analyse(schema, parse(`subscription { taskChanged { task { id } } customerHealthChanged { id } }`), null, {})).toThrow(/exactly one/);
  });

  it('maps events to kinds, entities and argument filters', () => {
    expect(kindOf('TaskStatusChanged')).toBe('STATUS_CHANGED');
    expect(kindOf('CommentAdded')).toBe('COMMENTED');
    expect(kindOf('TaskArchived')).toBe('ARCHIVED');
    const f = SUBSCRIPTION_FIELDS.taskChanged!;
    expect(f.entityId(ev('TaskUpdated', { taskId: 't1' }))).toBe('t1');
    expect(f.matches(ev('TaskUpdated', { taskId: 't1' }), { taskId: 't2' })).toBe(false);
    expect(f.matches(ev('TaskUpdated', { taskId: 't1' }), {})).toBe(true);
    const a = SUBSCRIPTION_FIELDS.approvalRequested!;
    expect(a.matches(ev('ApprovalDecided', {}), {})).toBe(false);
    expect(a.through?.childId(ev('ApprovalRequested', { approvalId: 'ap' }))).toBe('ap');
  });
});
