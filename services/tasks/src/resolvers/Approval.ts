import { isUuid } from '@cos/db';
import { notFound } from '@cos/errors';
import type { ApprovalResolvers } from '../__generated__/resolvers-types';
import { reader } from './access';
import { agentRef, userRef } from './refs';

export const Approval: ApprovalResolvers = {
  __resolveReference: async (ref, ctx) => {
    const a = reader(ctx);
    return isUuid(ref.id) ? a.loaders.approvalById.load(ref.id) : null;
  },
  task: async (ap, _args, ctx) => {
    const task = await reader(ctx).loaders.taskById.load(ap.task_id);
    if (!task) throw notFound('Task', ap.task_id);
    return task;
  },
  payload: (ap) => ap.payload ?? null,
  requestedBy: (ap) => agentRef(ap.agent_id),
  decidedBy: (ap) => (ap.decided_by ? userRef(ap.decided_by) : null),
  decidedAt: (ap) => ap.decided_at,
};
