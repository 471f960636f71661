import { badInput } from '@cos/errors';
import { parseId } from '@cos/service-kit';
import type { AgentResolvers } from '../__generated__/resolvers-types';
import { requireRead } from './guards';

export const Agent: AgentResolvers = {
  __resolveReference: (ref, ctx) => {
    requireRead(ctx);
    return ctx.loaders.agentById.load(parseId('id', ref.id));
  },
  runs: (agent, args, ctx) => {
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first', 'first must be between 1 and 100');
    return ctx.loaders.runsByAgent.load({ agentId: agent.id, first });
  },
};
