/** `tasks(first, after)` on User, Agent and Customer: one batched statement for all parents of a request. */
import type { UserResolvers, AgentResolvers, CustomerResolvers } from '../__generated__/resolvers-types';
import { pageArgs, reader } from './access';

export const User: UserResolvers = {
  tasks: (u, args, ctx) => reader(ctx).loaders.tasksOfUser.load({ parentId: u.id, ...pageArgs(args) }),
};

export const Agent: AgentResolvers = {
  tasks: (ag, args, ctx) => reader(ctx).loaders.tasksOfAgent.load({ parentId: ag.id, ...pageArgs(args) }),
};

export const Customer: CustomerResolvers = {
  tasks: (c, args, ctx) => reader(ctx).loaders.tasksOfCustomer.load({ parentId: c.id, ...pageArgs(args) }),
};
