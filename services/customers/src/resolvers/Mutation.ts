import { requireScope, parseId } from '@cos/service-kit';
import type { MutationResolvers } from '../__generated__/resolvers-types';
import { createCustomer, recordSignal } from '../commands';

export const Mutation: MutationResolvers = {
  createCustomer(_parent, args, ctx) {
    const principal = requireScope(ctx.principal, 'customers:write');
    return createCustomer(ctx, principal, args.input);
  },

  recordSignal(_parent, args, ctx) {
    const principal = requireScope(ctx.principal, 'customers:write');
    return recordSignal(ctx, principal, parseId('customerId', args.customerId), args.input);
  },
};
