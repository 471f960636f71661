/**
 * The Approval aggregate (human in the loop): an agent run asks to do `action`; a MEMBER or above approves or
 * rejects it once. Deciding twice is a CONFLICT (carrying the approval stream's version).
 *
 * Effect on the task (see commands/task-commands.ts): requesting moves an open task to AWAITING_APPROVAL; a decision
 * (approved OR rejected) moves it back to IN_PROGRESS once no other approval of that task is pending. An approved
 * action the platform applies (`@cos/events/approval-actions`: a drafted reply or comment, a priority) is applied to
 * the task in the decision's transaction, so it happens exactly once. A rejection's reason is kept on the Approval
 * (`reason`), not copied into a comment; the agents service reacts to ApprovalDecided (reaction 5).
 */
import type { StreamEventType, TaskEvent } from '@cos/events';
import type { StoredOf } from '@cos/event-store';
import { conflict, notFound } from '@cos/errors';
import { isStreamEvent, streamTypeOf } from '@cos/events';

export const APPROVAL_STREAM_TYPE = streamTypeOf('tasks', 'Approval');
export const approvalStreamId = (approvalId: string) => `Approval-${approvalId}`;

export type ApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED';

export interface ApprovalState {
  id: string;
  taskId: string;
  runId: string;
  agentId: string;
  action: string;
  payload: unknown;
  status: ApprovalStatus;
}

export type ApprovalCommand =
  | { type: 'RequestApproval'; approvalId: string; taskId: string; runId: string; agentId: string; action: string; payload: unknown }
  | { type: 'DecideApproval'; approved: boolean; reason: string | null; decidedBy: string };

/** The events of an Approval stream; `evolveApproval` handles each one (a member it misses is a type error). */
export type ApprovalEvent = Extract<TaskEvent, { type: StreamEventType<'tasks', 'Approval'> }>;
export const isApprovalEvent = isStreamEvent('tasks', 'Approval');

export function decideApproval(command: ApprovalCommand, state: ApprovalState | null, version = 0): ApprovalEvent[] {
  if (command.type === 'RequestApproval') {
    // Requests are keyed by the incoming event: a second request with the same id is the same request.
    if (state) return [];
    return [
      {
        type: 'ApprovalRequested',
        data: {
          approvalId: command.approvalId,
          taskId: command.taskId,
          runId: command.runId,
          agentId: command.agentId,
          action: command.action,
          payload: command.payload,
        },
      },
    ];
  }
  if (!state) throw notFound('Approval');
  if (state.status !== 'PENDING') {
    throw conflict(`This approval was already ${state.status.toLowerCase()}`, version);
  }
  return [
    {
      type: 'ApprovalDecided',
      data: {
        approvalId: state.id,
        taskId: state.taskId,
        runId: state.runId,
        agentId: state.agentId,
        approved: command.approved,
        reason: command.reason,
        decidedBy: command.decidedBy,
      },
    },
  ];
}

export function evolveApproval(state: ApprovalState | null, e: ApprovalEvent): ApprovalState | null {
  switch (e.type) {
    case 'ApprovalRequested':
      return {
        id: e.data.approvalId,
        taskId: e.data.taskId,
        runId: e.data.runId,
        agentId: e.data.agentId,
        action: e.data.action,
        payload: e.data.payload ?? null,
        status: 'PENDING',
      };
    case 'ApprovalDecided':
      return state && { ...state, status: e.data.approved ? 'APPROVED' : 'REJECTED' };
    default: {
      const unhandled: never = e;
      return unhandled;
    }
  }
}

type TaskEventLike = Pick<StoredOf<TaskEvent>, 'type' | 'data'>;

/** The Approval aggregate for the event store: a stream holds only ApprovalEvents; anything else leaves the state alone. */
export const approvalAggregate = {
  initial: null as ApprovalState | null,
  evolve: (state: ApprovalState | null, event: TaskEventLike): ApprovalState | null => {
    const e = event as TaskEvent;
    return isApprovalEvent(e) ? evolveApproval(state, e) : state;
  },
};
