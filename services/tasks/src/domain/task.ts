/**
 * The Task aggregate: commands in, events out (decide), state folded from events (evolve). Pure: no I/O, so every
 * rule here is unit-tested without a database. Shape validation of client input lives in ./inputs.ts; decide()
 * enforces the rules that depend on the current state.
 *
 * Status transitions (TRANSITIONS below):
 *   TODO              -> IN_PROGRESS, DONE, CANCELLED
 *   IN_PROGRESS       -> TODO, DONE, CANCELLED
 *   AWAITING_APPROVAL -> CANCELLED            (IN_PROGRESS only through an approval decision)
 *   DONE              -> IN_PROGRESS          (reopen)
 *   CANCELLED         -> (terminal)
 * AWAITING_APPROVAL is entered only when an agent requests an approval (system transition), never by a client.
 */
import type { AssigneeRef, TaskEvent, TaskPriority, TaskStatus } from '@cos/events';
import type { StoredOf } from '@cos/event-store';
import { badInput, notFound } from '@cos/errors';
import { streamTypeOf } from '@cos/events';
import { isApprovalEvent, type ApprovalEvent } from './approval';

export const TASK_STREAM_TYPE = streamTypeOf('tasks', 'Task');
export const taskStreamId = (taskId: string) => `Task-${taskId}`;

export interface TaskState {
  id: string;
  title: string;
  description: string | null;
  status: TaskStatus;
  priority: TaskPriority;
  customerId: string | null;
  assignee: AssigneeRef | null;
  dueAt: string | null;
  /** Ids of the task's comments (attachments may target one). */
  commentIds: string[];
  /** Current attachments by id. */
  attachments: Record<string, AttachmentState>;
}

export interface AttachmentState {
  sha256: string;
  commentId: string | null;
  uploadedBy: string;
}

/** A blob the gateway stored (verified signed reference). */
export interface AttachmentBlob {
  sha256: string;
  size: number;
  contentType: string;
  name: string;
}

/** At most this many attachments on one task (its comments included): bounds the stream and the projection. */
export const MAX_ATTACHMENTS_PER_TASK = 100;

/** null: the stream does not exist. */
export type TaskAggregateState = TaskState | null;

export type TaskChanges = {
  title?: string;
  description?: string | null;
  priority?: TaskPriority;
  customerId?: string | null;
  dueAt?: string | null;
};

export type TaskCommand =
  | {
      type: 'CreateTask';
      taskId: string;
      title: string;
      description: string | null;
      priority: TaskPriority;
      customerId: string | null;
      assignee: AssigneeRef | null;
      createdBy: string;
      dueAt: string | null;
      origin?: { kind: string; key: string } | null;
    }
  | { type: 'UpdateTask'; changes: TaskChanges }
  /** `system` marks transitions made by the service itself (approval flow), which may enter/leave AWAITING_APPROVAL. */
  | { type: 'ChangeTaskStatus'; to: TaskStatus; system?: boolean }
  | { type: 'AssignTask'; assignee: AssigneeRef | null }
  /** `draftedBy`: an agent's draft that a person approved (the approver is the author). */
  | { type: 'AddComment'; commentId: string; body: string; authorId: string; draftedBy?: { agentId: string; approvalId: string } }
  /** `commentId`: attach to one of the task's comments (null: to the task). */
  | { type: 'AddAttachment'; attachmentId: string; commentId: string | null; blob: AttachmentBlob; uploadedBy: string }
  | { type: 'RemoveAttachment'; attachmentId: string; reason: 'removed' | 'erasure' };

export const TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  TODO: ['IN_PROGRESS', 'DONE', 'CANCELLED'],
  IN_PROGRESS: ['TODO', 'DONE', 'CANCELLED'],
  AWAITING_APPROVAL: ['CANCELLED'],
  DONE: ['IN_PROGRESS'],
  CANCELLED: [],
};

/** Extra transitions only the approval flow may take. */
const SYSTEM_TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  TODO: ['AWAITING_APPROVAL'],
  IN_PROGRESS: ['AWAITING_APPROVAL'],
  AWAITING_APPROVAL: ['IN_PROGRESS'],
  DONE: [],
  CANCELLED: [],
};

export const isOpenStatus = (s: TaskStatus) => s !== 'DONE' && s !== 'CANCELLED';

export function canTransition(from: TaskStatus, to: TaskStatus, system = false): boolean {
  return TRANSITIONS[from].includes(to) || (system && SYSTEM_TRANSITIONS[from].includes(to));
}

const sameAssignee = (a: AssigneeRef | null, b: AssigneeRef | null) =>
  a === b || (a !== null && b !== null && a.id === b.id && a.kind === b.kind);

/** Decides which events a command produces on the current state; throws a client error when it may not happen. */
/** The events of a Task stream: every tasks event that is not an Approval's. */
export type TaskStreamEvent = Exclude<TaskEvent, ApprovalEvent>;

export function decideTask(command: TaskCommand, state: TaskAggregateState): TaskStreamEvent[] {
  if (command.type === 'CreateTask') {
    if (state) throw badInput('id', 'This task already exists');
    if (command.title.trim().length === 0) throw badInput('input.title', 'title must not be blank');
    return [
      {
        type: 'TaskCreated',
        data: {
          taskId: command.taskId,
          title: command.title,
          description: command.description,
          priority: command.priority,
          status: 'TODO',
          customerId: command.customerId,
          assignee: command.assignee,
          createdBy: command.createdBy,
          dueAt: command.dueAt,
          origin: command.origin ?? null,
        },
      },
    ];
  }
  if (!state) throw notFound('Task');
  switch (command.type) {
    case 'UpdateTask': {
      const changes: TaskChanges = {};
      const c = command.changes;
      if (c.title !== undefined && c.title !== state.title) changes.title = c.title;
      if (c.description !== undefined && c.description !== state.description) changes.description = c.description;
      if (c.priority !== undefined && c.priority !== state.priority) changes.priority = c.priority;
      if (c.customerId !== undefined && c.customerId !== state.customerId) changes.customerId = c.customerId;
      if (c.dueAt !== undefined && !sameInstant(c.dueAt, state.dueAt)) changes.dueAt = c.dueAt;
      if (Object.keys(command.changes).length === 0) throw badInput('input', 'Give at least one field to change');
      if (changes.title !== undefined && changes.title.trim().length === 0) {
        throw badInput('input.title', 'title must not be blank');
      }
      // Setting fields to the values they already have is a no-op, not an error.
      if (Object.keys(changes).length === 0) return [];
      return [{ type: 'TaskUpdated', data: { taskId: state.id, changes } }];
    }
    case 'ChangeTaskStatus': {
      if (command.to === state.status) return [];
      if (!canTransition(state.status, command.to, command.system)) {
        throw badInput('status', `A task cannot move from ${state.status} to ${command.to}`);
      }
      return [{ type: 'TaskStatusChanged', data: { taskId: state.id, from: state.status, to: command.to } }];
    }
    case 'AssignTask': {
      if (sameAssignee(state.assignee, command.assignee)) return [];
      return [{ type: 'TaskAssigned', data: { taskId: state.id, assignee: command.assignee, previous: state.assignee } }];
    }
    case 'AddComment': {
      if (command.body.trim().length === 0) throw badInput('body', 'body must not be blank');
      return [
        {
          type: 'CommentAdded',
          data: {
            taskId: state.id,
            commentId: command.commentId,
            body: command.body,
            authorId: command.authorId,
            ...(command.draftedBy ? { draftedBy: command.draftedBy } : {}),
          },
        },
      ];
    }
    case 'AddAttachment': {
      if (command.commentId !== null && !state.commentIds.includes(command.commentId)) {
        throw badInput('commentId', 'commentId is not a comment of this task');
      }
      if (Object.keys(state.attachments).length >= MAX_ATTACHMENTS_PER_TASK) {
        throw badInput('file', `A task has at most ${MAX_ATTACHMENTS_PER_TASK} attachments`);
      }
      if (state.attachments[command.attachmentId]) return [];
      return [
        {
          type: 'AttachmentAdded',
          data: {
            taskId: state.id,
            attachmentId: command.attachmentId,
            commentId: command.commentId,
            sha256: command.blob.sha256,
            size: command.blob.size,
            contentType: command.blob.contentType,
            name: command.blob.name,
            uploadedBy: command.uploadedBy,
          },
        },
      ];
    }
    case 'RemoveAttachment': {
      const existing = state.attachments[command.attachmentId];
      if (!existing) throw notFound('Attachment', command.attachmentId);
      return [{ type: 'AttachmentRemoved', data: { taskId: state.id, attachmentId: command.attachmentId, sha256: existing.sha256, reason: command.reason } }];
    }
  }
}

function sameInstant(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return new Date(a).getTime() === new Date(b).getTime();
}

type TaskEventLike = Pick<StoredOf<TaskEvent>, 'type' | 'data'>;

/** Folds one event into the task state; a member of the union it misses is a type error. */
export function evolveTask(state: TaskAggregateState, e: TaskStreamEvent): TaskAggregateState {
  switch (e.type) {
    case 'TaskCreated':
      return {
        id: e.data.taskId,
        title: e.data.title,
        description: e.data.description,
        status: e.data.status,
        priority: e.data.priority,
        customerId: e.data.customerId,
        assignee: e.data.assignee,
        dueAt: e.data.dueAt,
        commentIds: [],
        attachments: {},
      };
    case 'TaskUpdated':
      return state && { ...state, ...e.data.changes };
    case 'TaskStatusChanged':
      return state && { ...state, status: e.data.to };
    case 'TaskAssigned':
      return state && { ...state, assignee: e.data.assignee };
    case 'CommentAdded':
      return state && { ...state, commentIds: [...state.commentIds, e.data.commentId] };
    case 'AttachmentAdded':
      return (
        state && {
          ...state,
          attachments: { ...state.attachments, [e.data.attachmentId]: { sha256: e.data.sha256, commentId: e.data.commentId, uploadedBy: e.data.uploadedBy } },
        }
      );
    case 'AttachmentRemoved': {
      if (!state) return state;
      const { [e.data.attachmentId]: _removed, ...rest } = state.attachments;
      return { ...state, attachments: rest };
    }
    default: {
      const unhandled: never = e;
      return unhandled;
    }
  }
}

/** The Task aggregate for the event store: Approval events belong to the Approval stream and leave the task unchanged. */
export const taskAggregate = {
  initial: null as TaskAggregateState,
  evolve: (state: TaskAggregateState, event: TaskEventLike): TaskAggregateState => {
    const e = event as TaskEvent;
    return isApprovalEvent(e) ? state : evolveTask(state, e);
  },
};
