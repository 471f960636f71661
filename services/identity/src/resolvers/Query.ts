import { badInput } from '@cos/errors';
import { parseId, requireScope } from '@cos/service-kit';
import type { QueryResolvers } from '../__generated__/resolvers-types';
import { auditPage } from '../store/identity-store';
import { exportMyData } from './MyDataExport';

export const Query: QueryResolvers = {
  exportMyData,
  async me(_, __, ctx) {
    if (!ctx.viewer.userId) return null;
    return ctx.loaders().user.load(ctx.viewer.userId);
  },
  async organization(_, { id }, ctx) {
    return ctx.loaders().organization.load(parseId('id', id));
  },
  async user(_, { id }, ctx) {
    return ctx.loaders().user.load(parseId('id', id));
  },
  /** ADMIN/OWNER (scope audit:read). `after` is the id of the last entry already seen. */
  async auditLog(_, { first, after }, ctx) {
    const caller = requireScope(ctx.principal, 'audit:read');
    const limit = first ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw badInput('first', 'first must be between 1 and 200');
    const afterId = after == null ? null : parseId('after', after);
    const rows = await ctx.deps.db.tx({ orgId: caller.orgId, userId: ctx.viewer.userId }, (tx) => auditPage(tx, limit, afterId));
    if (!rows) throw badInput('after', 'after is not an entry of this audit log');
    return rows;
  },
};
