import { parseId } from '@cos/service-kit';
import type { QueryResolvers } from '../__generated__/resolvers-types';
import { listAgents } from '../store/agent-store';
import { requireRead } from './guards';

export const Query: QueryResolvers = {
  agents: async (_p, _a, ctx) => {
    const p = requireRead(ctx);
    const rows = await ctx.db.tx({ orgId: p.orgId }, (tx) => listAgents(tx));
    for (const r of rows) ctx.loaders.agentById.prime(r.id, r);
    return rows;
  },
  agent: (_p, args, ctx) => {
    requireRead(ctx);
    return ctx.loaders.agentById.load(parseId('id', args.id));
  },
  agentRun: (_p, args, ctx) => {
    requireRead(ctx);
    return ctx.loaders.runById.load(parseId('id', args.id));
  },
};
