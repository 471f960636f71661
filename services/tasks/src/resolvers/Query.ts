import { validate, parseId } from '@cos/service-kit';
import type { QueryResolvers } from '../__generated__/resolvers-types';
import { taskFilter } from '../domain/inputs';
import { listPendingApprovals, listTasks } from '../store/task-store';
import { pageArgs, reader, tenantOf } from './access';
import { search } from './Search';

export const Query: QueryResolvers = {
  task: async (_p, args, ctx) => {
    const a = reader(ctx);
    return a.loaders.taskById.load(parseId('id', args.id));
  },

  tasks: async (_p, args, ctx) => {
    const a = reader(ctx);
    const filter = validate(taskFilter, args.filter, 'filter') ?? {};
    const { first, after } = pageArgs(args);
    const page = await ctx.db.single(tenantOf(a), (tx) => listTasks(tx, a.orgId, filter, first, after));
    for (const r of page.rows) a.loaders.taskById.prime(r.id, r);
    return page;
  },

  search,

  pendingApprovals: async (_p, _args, ctx) => {
    const a = reader(ctx);
    const rows = await ctx.db.tx(tenantOf(a), (tx) => listPendingApprovals(tx, a.orgId));
    for (const r of rows) a.loaders.approvalById.prime(r.id, r);
    return rows;
  },
};
