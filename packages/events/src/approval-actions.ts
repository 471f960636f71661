/**
 * Actions an agent may ask a person to approve (`requestApproval(runId, token, action, payload)`), and which of them
 * the platform itself applies when the person approves.
 *
 * An approved action listed in APPLIED_ACTIONS is applied by the tasks service in the same transaction as the
 * decision (ApprovalDecided + its effect, one commit): so the effect happens exactly once whatever happens to the
 * worker — a worker killed after asking, re-claimed, or retried cannot apply it twice, and an agent cannot apply it
 * at all without the approval. Any other well-formed action name is a plain question: the decision resumes (or
 * cancels) the run and the worker does what it was allowed to do.
 */
import { z } from 'zod';
import type { TaskPriority } from './index';

const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'] as const satisfies readonly TaskPriority[];

/** Payload schema of each action the platform applies on approval. */
export const APPLIED_ACTIONS = {
  /** Post the agent's drafted reply on the task (authored by the approver, marked as drafted by the agent). */
  'support.sendReply': z.object({ draft: z.string().trim().min(1).max(5_000) }).passthrough(),
  /** Post a comment the agent drafted on the task. */
  'task.comment': z.object({ body: z.string().trim().min(1).max(5_000) }).passthrough(),
  /** Change the task's priority to the one the agent proposes. */
  'task.setPriority': z.object({ priority: z.enum(PRIORITIES) }).passthrough(),
} as const;
export type AppliedActionName = keyof typeof APPLIED_ACTIONS;
export type AppliedAction = { [K in AppliedActionName]: { action: K; payload: z.infer<(typeof APPLIED_ACTIONS)[K]> } }[AppliedActionName];

/** `domain.verb` names: lower camel segments separated by dots, at most 64 characters. */
export const actionNameSchema = z
  .string()
  .max(64)
  .regex(/^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/, 'must look like domain.action (e.g. support.sendReply)');

/** Largest payload (serialized JSON) an approval request may carry. */
export const MAX_APPROVAL_PAYLOAD_BYTES = 16_384;

export const isAppliedAction = (action: string): action is AppliedActionName => Object.prototype.hasOwnProperty.call(APPLIED_ACTIONS, action);

/**
 * Checks an approval request: the name, the payload's size and, for applied actions, its shape. Returns the issue
 * (field + message) or null when it is acceptable.
 */
export function checkApprovalRequest(action: string, payload: unknown): { field: 'action' | 'payload'; message: string } | null {
  const name = actionNameSchema.safeParse(action);
  if (!name.success) return { field: 'action', message: `action ${name.error.issues[0]?.message ?? 'is invalid'}` };
  const size = Buffer.byteLength(JSON.stringify(payload ?? null), 'utf8');
  if (size > MAX_APPROVAL_PAYLOAD_BYTES) return { field: 'payload', message: `payload is ${size} bytes; at most ${MAX_APPROVAL_PAYLOAD_BYTES}` };
  if (isAppliedAction(action)) {
    const r = APPLIED_ACTIONS[action].safeParse(payload);
    if (!r.success) {
      const i = r.error.issues[0];
      return { field: 'payload', message: `payload of ${action}: ${i ? `${i.path.join('.') || 'value'} ${i.message}` : 'invalid'}` };
    }
  }
  return null;
}

/** The applied action of an approved request, or null when the platform applies nothing for it. */
export function appliedAction(action: string, payload: unknown): AppliedAction | null {
  if (!isAppliedAction(action)) return null;
  const r = APPLIED_ACTIONS[action].safeParse(payload);
  return r.success ? ({ action, payload: r.data } as AppliedAction) : null;
}
