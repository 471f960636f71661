import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import type { TaskEvent } from '@cos/events';
import { canTransition, decideTask, taskAggregate, type TaskAggregateState, type TaskCommand } from '../src/domain/task';
import { decideApproval, evolveApproval, type ApprovalState } from '../src/domain/approval';
import { createTaskInput, updateTaskInput, commentBody, pageSize, taskFilter } from '../src/domain/inputs';
import { churnOriginKey, churnTaskTitle } from '../src/events/reactors/customers';

const taskId = '11111111-1111-4111-8111-111111111111';
const userId = '22222222-2222-4222-8222-222222222222';
const agentId = '33333333-3333-4333-8333-333333333333';

const create: TaskCommand = {
  type: 'CreateTask',
  taskId,
  title: 'Write docs',
  description: null,
  priority: 'MEDIUM',
  customerId: null,
  assignee: null,
  createdBy: userId,
  dueAt: null,
};

const fold = (events: TaskEvent[], state: TaskAggregateState = null) => events.reduce(taskAggregate.evolve, state);
const created = () => fold(decideTask(create, null));

function codeOf(fn: () => unknown): { code: unknown; field: unknown } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GraphQLError);
    const e = err as GraphQLError;
    return { code: e.extensions.code, field: e.extensions.field };
  }
  throw new Error('expected an error');
}

describe('Task decide/evolve', () => {
  it('creates a TODO task', () => {
    const events = decideTask(create, null);
    expect(events).toHaveLength(1);
    expect(events[0]!.type).toBe('TaskCreated');
    expect(created()).toMatchObject({ id: taskId, status: 'TODO', title: 'Write docs', assignee: null });
  });

  it('refuses to create twice or with a blank title', () => {
    expect(codeOf(() => decideTask(create, created())).code).toBe('BAD_USER_INPUT');
    expect(codeOf(() => decideTask({ ...create, title: '   ' }, null))).toEqual({ code: 'BAD_USER_INPUT', field: 'input.title' });
  });

  it('commands on a missing task are NOT_FOUND', () => {
    expect(codeOf(() => decideTask({ type: 'AssignTask', assignee: null }, null)).code).toBe('NOT_FOUND');
  });

  it('updates only changed fields; all-same is a no-op; empty is BAD_USER_INPUT', () => {
    const s = created();
    const events = decideTask({ type: 'UpdateTask', changes: { title: 'Write docs', priority: 'HIGH' } }, s);
    expect(events).toEqual([{ type: 'TaskUpdated', data: { taskId, changes: { priority: 'HIGH' } } }]);
    expect(fold(events, s)).toMatchObject({ priority: 'HIGH' });
    expect(decideTask({ type: 'UpdateTask', changes: { title: 'Write docs' } }, s)).toEqual([]);
    expect(codeOf(() => decideTask({ type: 'UpdateTask', changes: {} }, s))).toEqual({ code: 'BAD_USER_INPUT', field: 'input' });
  });

  it('clears nullable fields with null and compares due dates as instants', () => {
    const s = fold([{ type: 'TaskUpdated', data: { taskId, changes: { dueAt: '2030-01-01T00:00:00.000Z', description: 'x' } } }], created());
    expect(decideTask({ type: 'UpdateTask', changes: { dueAt: '2030-01-01T01:00:00+01:00' } }, s)).toEqual([]);
    const events = decideTask({ type: 'UpdateTask', changes: { description: null } }, s);
    expect(fold(events, s)).toMatchObject({ description: null });
  });

  it('follows the transition table', () => {
    let s = created();
    const move = (to: Parameters<typeof canTransition>[1]) => {
      const ev = decideTask({ type: 'ChangeTaskStatus', to }, s);
      s = fold(ev, s);
      return ev;
    };
    expect(move('IN_PROGRESS')[0]).toMatchObject({ type: 'TaskStatusChanged', data: { from: 'TODO', to: 'IN_PROGRESS' } });
    expect(move('IN_PROGRESS')).toEqual([]); // same status: no event
    expect(codeOf(() => move('AWAITING_APPROVAL'))).toEqual({ code: 'BAD_USER_INPUT', field: 'status' });
    move('DONE');
    move('IN_PROGRESS'); // reopen
    move('CANCELLED');
    for (const to of ['TODO', 'IN_PROGRESS', 'DONE', 'AWAITING_APPROVAL'] as const) {
      expect(codeOf(() => move(to)).code).toBe('BAD_USER_INPUT');
    }
  });

  it('only the approval flow enters and leaves AWAITING_APPROVAL', () => {
    expect(canTransition('IN_PROGRESS', 'AWAITING_APPROVAL')).toBe(false);
    expect(canTransition('IN_PROGRESS', 'AWAITING_APPROVAL', true)).toBe(true);
    expect(canTransition('AWAITING_APPROVAL', 'IN_PROGRESS')).toBe(false);
    expect(canTransition('AWAITING_APPROVAL', 'IN_PROGRESS', true)).toBe(true);
    expect(canTransition('AWAITING_APPROVAL', 'CANCELLED')).toBe(true);
    expect(canTransition('DONE', 'AWAITING_APPROVAL', true)).toBe(false);
  });

  it('assigns, reassigns and unassigns, with the previous assignee on the event', () => {
    const s = created();
    const a1 = decideTask({ type: 'AssignTask', assignee: { id: userId, kind: 'User' } }, s);
    const s1 = fold(a1, s);
    expect(s1!.assignee).toEqual({ id: userId, kind: 'User' });
    expect(decideTask({ type: 'AssignTask', assignee: { id: userId, kind: 'User' } }, s1)).toEqual([]);
    const a2 = decideTask({ type: 'AssignTask', assignee: { id: agentId, kind: 'Agent' } }, s1);
    expect(a2[0]).toMatchObject({ data: { previous: { id: userId, kind: 'User' }, assignee: { id: agentId, kind: 'Agent' } } });
    const s3 = fold(decideTask({ type: 'AssignTask', assignee: null }, fold(a2, s1)), fold(a2, s1));
    expect(s3!.assignee).toBeNull();
  });

  it('adds comments (not blank), remembering only their ids', () => {
    const s = created();
    const ev = decideTask({ type: 'AddComment', commentId: agentId, body: 'hi', authorId: userId }, s);
    expect(ev[0]!.type).toBe('CommentAdded');
    expect(fold(ev, s)).toEqual({ ...s, commentIds: [agentId] });
    expect(codeOf(() => decideTask({ type: 'AddComment', commentId: agentId, body: ' ', authorId: userId }, s)).field).toBe('body');
  });
});

describe('Approval decide/evolve', () => {
  const request = {
    type: 'RequestApproval' as const,
    approvalId: agentId,
    taskId,
    runId: userId,
    agentId,
    action: 'send_email',
    payload: { to: 'x' },
  };
  const pending = (): ApprovalState | null => decideApproval(request, null).reduce(evolveApproval, null);

  it('requests once; a repeat is a no-op', () => {
    expect(pending()).toMatchObject({ status: 'PENDING', action: 'send_email' });
    expect(decideApproval(request, pending())).toEqual([]);
  });

  it('decides once; deciding again is a CONFLICT with the current version', () => {
    const ev = decideApproval({ type: 'DecideApproval', approved: false, reason: 'no', decidedBy: userId }, pending(), 1);
    expect(ev[0]).toMatchObject({ type: 'ApprovalDecided', data: { approved: false, reason: 'no', taskId, runId: userId } });
    const decided = ev.reduce(evolveApproval, pending());
    expect(decided!.status).toBe('REJECTED');
    try {
      decideApproval({ type: 'DecideApproval', approved: true, reason: null, decidedBy: userId }, decided, 2);
      throw new Error('expected conflict');
    } catch (err) {
      expect((err as GraphQLError).extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 2 });
    }
  });

  it('deciding an unknown approval is NOT_FOUND', () => {
    expect(codeOf(() => decideApproval({ type: 'DecideApproval', approved: true, reason: null, decidedBy: userId }, null)).code).toBe('NOT_FOUND');
  });
});

describe('input rules', () => {
  it('title 1..200 non-blank (trimmed), description <= 10,000, ISO dueAt', () => {
    expect(createTaskInput.safeParse({ title: '  ok  ' })).toMatchObject({ success: true, data: { title: 'ok', priority: 'MEDIUM' } });
    expect(createTaskInput.safeParse({ title: '   ' }).success).toBe(false);
    expect(createTaskInput.safeParse({ title: 'x'.repeat(201) }).success).toBe(false);
    expect(createTaskInput.safeParse({ title: 'x'.repeat(200) }).success).toBe(true);
    expect(createTaskInput.safeParse({ title: 'x', description: 'd'.repeat(10_001) }).success).toBe(false);
    expect(createTaskInput.safeParse({ title: 'x', dueAt: 'tomorrow' }).success).toBe(false);
    expect(createTaskInput.safeParse({ title: 'x', dueAt: '2030-02-30T00:00:00Z' }).success).toBe(false);
    expect(createTaskInput.safeParse({ title: 'x', dueAt: '2030-01-01T10:00:00+02:00' })).toMatchObject({
      data: { dueAt: '2030-01-01T08:00:00.000Z' },
    });
    expect(createTaskInput.safeParse({ title: 'x', assigneeId: 'nope' }).success).toBe(false);
  });

  it('update needs at least one field; explicit null clears', () => {
    expect(updateTaskInput.safeParse({}).success).toBe(false);
    expect(updateTaskInput.safeParse({ title: undefined }).success).toBe(false);
    expect(updateTaskInput.safeParse({ description: null })).toMatchObject({ success: true, data: { description: null } });
  });

  it('comment body, page size, filter', () => {
    expect(commentBody.safeParse('').success).toBe(false);
    expect(commentBody.safeParse('b'.repeat(10_001)).success).toBe(false);
    expect(pageSize.safeParse(101).success).toBe(false);
    expect(pageSize.safeParse(-1).success).toBe(false);
    expect(pageSize.safeParse(undefined)).toMatchObject({ data: 20 });
    expect(taskFilter.safeParse({ status: ['NOPE'] }).success).toBe(false);
  });

  it('churn follow-ups: one origin key per customer episode, titles fit', () => {
    expect(churnOriginKey(taskId, 2)).toBe(`churn:${taskId}:2`);
    expect(churnTaskTitle('Acme')).toBe('Follow up: Acme is at risk of churn');
    expect(churnTaskTitle('A'.repeat(500)).length).toBeLessThanOrEqual(200);
  });
});
