import type { Principal } from '@cos/auth';
import { forbidden } from '@cos/errors';
import { requireAuth } from '@cos/service-kit';
import type { MyDataExportResolvers, QueryResolvers } from '../__generated__/resolvers-types';
import { identityExport } from '../store/export-store';

/** The export's key: whose data it is. Every subgraph's part checks it is the caller's own. */
export interface MyDataExportParent {
  userId: string;
}

/** Only a person exports, and only their own data. */
export function ownExport(principal: Principal, userId?: string): string {
  const p = requireAuth(principal);
  if (p.kind !== 'user') throw forbidden('Only a person can export their data');
  if (userId !== undefined && userId !== p.userId) throw forbidden('You can only export your own data');
  return p.userId;
}

export const exportMyData: QueryResolvers['exportMyData'] = (_, __, ctx) => ({ userId: ownExport(ctx.principal) });

export const MyDataExport: MyDataExportResolvers = {
  __resolveReference: (ref, ctx) => ({ userId: ownExport(ctx.principal, ref.userId) }),
  generatedAt: () => new Date(),
  identity: (parent, _, ctx) => {
    const userId = ownExport(ctx.principal, parent.userId);
    return ctx.deps.systemDb.tx({ orgId: null }, (tx) => identityExport(tx, userId));
  },
};
