import { forbidden } from '@cos/errors';
import { requireAuth } from '@cos/service-kit';
import type { MyDataExportResolvers } from '../__generated__/resolvers-types';

/** The export's key (identity owns Query.exportMyData): whose data it is. */
export interface MyDataExportParent {
  userId: string;
}

/** customers' part of the caller's data export: the customers they own in the current organization. */
export const MyDataExport: MyDataExportResolvers = {
  __resolveReference: (ref) => ({ userId: ref.userId }),
  async customers(parent, _, ctx) {
    const p = requireAuth(ctx.principal);
    if (p.kind !== 'user' || p.userId !== parent.userId) throw forbidden('You can only export your own data');
    return ctx.db.tx({ orgId: p.orgId, userId: p.userId }, (tx) =>
      tx.query(
        `/* exportOwnedCustomers */ SELECT id, name, domain, plan, created_at AS "createdAt" FROM customers
         WHERE owner_id = $1 ORDER BY created_at LIMIT 10000`,
        [p.userId],
      ),
    );
  },
};
