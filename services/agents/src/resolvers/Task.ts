import { parseId } from '@cos/service-kit';
import type { TaskResolvers } from '../__generated__/resolvers-types';
import { requireRead } from './guards';

/** Task is owned by tasks; this subgraph only adds `agentRuns` to it. */
export interface TaskRef {
  id: string;
}

export const Task: TaskResolvers = {
  __resolveReference: (ref) => ({ id: parseId('id', ref.id) }),
  agentRuns: (task, _a, ctx) => {
    requireRead(ctx);
    return ctx.loaders.runsByTask.load(task.id);
  },
};
