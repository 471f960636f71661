import { forbidden } from '@cos/errors';
import { requireAuth } from '@cos/service-kit';
import type { MyDataExportResolvers } from '../__generated__/resolvers-types';
import { tasksExport } from '../store/export-store';

/** The export's key (identity owns Query.exportMyData): whose data it is. */
export interface MyDataExportParent {
  userId: string;
}

/** tasks' part of the caller's data export, in the current organization (RLS applies). */
export const MyDataExport: MyDataExportResolvers = {
  __resolveReference: (ref) => ({ userId: ref.userId }),
  async tasks(parent, _, ctx) {
    const p = requireAuth(ctx.principal);
    if (p.kind !== 'user' || p.userId !== parent.userId) throw forbidden('You can only export your own data');
    return ctx.db.tx({ orgId: p.orgId, userId: p.userId }, (tx) => tasksExport(tx, p.userId));
  },
};
