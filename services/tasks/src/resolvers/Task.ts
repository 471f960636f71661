import { isUuid } from '@cos/db';
import type { TaskResolvers } from '../__generated__/resolvers-types';
import { reader } from './access';
import { agentRef, customerRef, userRef } from './refs';

export const Task: TaskResolvers = {
  __resolveReference: async (ref, ctx) => {
    const a = reader(ctx);
    // An unknown, foreign-org or malformed key resolves to null, like task(id:).
    return isUuid(ref.id) ? a.loaders.taskById.load(ref.id) : null;
  },
  createdAt: (t) => t.created_at,
  updatedAt: (t) => t.updated_at,
  dueAt: (t) => t.due_at,
  assignee: (t) => {
    if (!t.assignee_id || !t.assignee_kind) return null;
    return t.assignee_kind === 'Agent' ? agentRef(t.assignee_id) : userRef(t.assignee_id);
  },
  customer: (t) => (t.customer_id ? customerRef(t.customer_id) : null),
  // Tasks created by an API key or a service have no person as creator (created_by_user_id null).
  createdBy: (t) => (t.created_by_user_id ? userRef(t.created_by_user_id) : null!),
  comments: (t, _args, ctx) => reader(ctx).loaders.commentsByTask.load(t.id),
  approvals: (t, _args, ctx) => reader(ctx).loaders.approvalsByTask.load(t.id),
};
