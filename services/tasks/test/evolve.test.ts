import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '@cos/events';
import { evolveTask, taskAggregate, type TaskAggregateState, type TaskStreamEvent } from '../src/domain/task';
import { approvalAggregate, evolveApproval, isApprovalEvent, type ApprovalEvent, type ApprovalState } from '../src/domain/approval';

const taskId = 'task-1';
const agentId = 'agent-1';
const created = evolveTask(null, {
  type: 'TaskCreated',
  data: { taskId, title: 'T', description: null, priority: 'LOW', status: 'TODO', customerId: null, assignee: null, createdBy: 'u1', dueAt: null },
});
const withAttachment = evolveTask(created, {
  type: 'AttachmentAdded',
  data: { taskId, attachmentId: 'a1', commentId: null, sha256: 'ab', size: 1, contentType: 'text/plain', name: 'a.txt', uploadedBy: 'u1' },
});

/**
 * One case per member of each aggregate's union: the mapped types make a new event type a compile error here until it
 * has a case, and evolve's `never` check makes it one there until it is handled.
 */
const taskCases: { [T in TaskStreamEvent['type']]: { from: TaskAggregateState; event: Extract<TaskStreamEvent, { type: T }>; expect: object } } = {
  TaskCreated: {
    from: null,
    event: { type: 'TaskCreated', data: { taskId, title: 'T', description: null, priority: 'LOW', status: 'TODO', customerId: null, assignee: null, createdBy: 'u1', dueAt: null } },
    expect: { id: taskId, title: 'T', status: 'TODO', commentIds: [], attachments: {} },
  },
  TaskUpdated: { from: created, event: { type: 'TaskUpdated', data: { taskId, changes: { title: 'U', priority: 'HIGH' } } }, expect: { title: 'U', priority: 'HIGH' } },
  TaskStatusChanged: { from: created, event: { type: 'TaskStatusChanged', data: { taskId, from: 'TODO', to: 'IN_PROGRESS' } }, expect: { status: 'IN_PROGRESS' } },
  TaskAssigned: {
    from: created,
    event: { type: 'TaskAssigned', data: { taskId, assignee: { id: agentId, kind: 'Agent' }, previous: null } },
    expect: { assignee: { id: agentId, kind: 'Agent' } },
  },
  CommentAdded: { from: created, event: { type: 'CommentAdded', data: { taskId, commentId: 'c1', body: 'hi', authorId: 'u1' } }, expect: { commentIds: ['c1'] } },
  AttachmentAdded: {
    from: created,
    event: { type: 'AttachmentAdded', data: { taskId, attachmentId: 'a1', commentId: null, sha256: 'ab', size: 1, contentType: 'text/plain', name: 'a.txt', uploadedBy: 'u1' } },
    expect: { attachments: { a1: { sha256: 'ab', commentId: null, uploadedBy: 'u1' } } },
  },
  AttachmentRemoved: { from: withAttachment, event: { type: 'AttachmentRemoved', data: { taskId, attachmentId: 'a1', sha256: 'ab', reason: 'removed' } }, expect: { attachments: {} } },
};

const request: Extract<ApprovalEvent, { type: 'ApprovalRequested' }> = {
  type: 'ApprovalRequested',
  data: { approvalId: 'ap-1', taskId, runId: 'run-1', agentId, action: 'send-reply', payload: { body: 'x' } },
};
const pending = evolveApproval(null, request);
const approvalCases: { [T in ApprovalEvent['type']]: { from: ApprovalState | null; event: Extract<ApprovalEvent, { type: T }>; expect: object } } = {
  ApprovalRequested: { from: null, event: request, expect: { id: 'ap-1', status: 'PENDING', action: 'send-reply', payload: { body: 'x' } } },
  ApprovalDecided: {
    from: pending,
    event: { type: 'ApprovalDecided', data: { approvalId: 'ap-1', taskId, runId: 'run-1', agentId, approved: false, reason: 'no', decidedBy: 'u1' } },
    expect: { status: 'REJECTED' },
  },
};

describe('evolve handles every event of its aggregate', () => {
  for (const [type, c] of Object.entries(taskCases)) {
    it(`Task: ${type}`, () => {
      const next = evolveTask(c.from, c.event as TaskStreamEvent);
      expect(next).toMatchObject(c.expect);
      expect(next).not.toEqual(c.from);
    });
  }
  for (const [type, c] of Object.entries(approvalCases)) {
    it(`Approval: ${type}`, () => {
      const next = evolveApproval(c.from, c.event as ApprovalEvent);
      expect(next).toMatchObject(c.expect);
      expect(next).not.toEqual(c.from);
    });
  }

  it('the two unions partition TaskEvent, and each aggregate ignores the other one\'s events', () => {
    const all: TaskEvent[] = [...Object.values(taskCases).map((c) => c.event), ...Object.values(approvalCases).map((c) => c.event)];
    expect(all.filter(isApprovalEvent).map((e) => e.type)).toEqual(Object.keys(approvalCases));
    for (const e of all) {
      if (isApprovalEvent(e)) expect(taskAggregate.evolve(created, e)).toBe(created);
      else expect(approvalAggregate.evolve(pending, e)).toBe(pending);
    }
  });
});
