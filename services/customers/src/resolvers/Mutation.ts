import { requireScope, parseId } from '@cos/service-kit';
import type { MutationResolvers } from '../__generated__/resolvers-types';
import { forbidden } from '@cos/errors';
import { createCustomer, eraseCustomerContact, recordSignal } from '../commands/customer-commands';

export const Mutation: MutationResolvers = {
  createCustomer(_parent, args, ctx) {
    const principal = requireScope(ctx.principal, 'customers:write');
    return createCustomer(ctx, principal, args.input);
  },

  recordSignal(_parent, args, ctx) {
    const principal = requireScope(ctx.principal, 'customers:write');
    return recordSignal(ctx, principal, parseId('customerId', args.customerId), args.input);
  },

  eraseCustomerContact(_parent, args, ctx) {
    const principal = requireScope(ctx.principal, 'privacy:erase');
    if (principal.kind !== 'user') throw forbidden('Only a person (an OWNER) can erase a contact');
    return eraseCustomerContact(ctx, principal, parseId('customerId', args.customerId), parseId('contactId', args.contactId));
  },
};
