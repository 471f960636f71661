import { hasScope } from '@cos/auth';
import { forbidden, badInput } from '@cos/errors';
import { isUuid } from '@cos/db';
import type { CustomerResolvers } from '../__generated__/resolvers-types';
import { readAccess } from './access';

export const MAX_HISTORY = 100;

export const Customer: CustomerResolvers = {
  async __resolveReference(ref, ctx) {
    const { loaders } = readAccess(ctx);
    return isUuid(ref.id) ? loaders.customer.load(ref.id) : null;
  },

  // Defense in depth behind the gateway's @requiresScopes: without customers:finance the field is null with a
  // FORBIDDEN error at its path, and the rest of the operation still resolves.
  mrr(customer, _args, ctx) {
    if (!hasScope(ctx.principal, 'customers:finance')) throw forbidden('Missing permission: customers:finance');
    return customer.mrr;
  },

  healthScore: (customer) => customer.health,

  healthHistory(customer, args, ctx) {
    const last = args.last ?? 30;
    if (!Number.isInteger(last) || last < 1 || last > MAX_HISTORY) throw badInput('last', `last must be between 1 and ${MAX_HISTORY}`);
    return readAccess(ctx).loaders.healthHistory.load({ customerId: customer.id, last });
  },

  churnRisk: (customer) => customer.churnRisk,

  owner: (customer) => (customer.ownerId ? { __typename: 'User' as const, id: customer.ownerId } : null),

  contacts(customer, _args, ctx) {
    return readAccess(ctx).loaders.contacts.load(customer.id);
  },
};
