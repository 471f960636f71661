import { forbidden } from '@cos/errors';
import { ERASED } from '@cos/pii';
import type { UserResolvers } from '../__generated__/resolvers-types';
import { disabledNotificationsOf, preferencesView } from '../commands/notification-preferences';

export const User: UserResolvers = {
  __resolveReference: (ref, ctx) => ctx.loaders().user.load(ref.id),
  /** The user themself, or an ADMIN/OWNER of an organization they share (rows are only visible within one). */
  email(user, _, ctx) {
    const viewer = user.viewer ?? ctx.viewer;
    if (user.email === null) return ERASED;
    if (viewer.userId === user.id) return user.email;
    if (viewer.role === 'OWNER' || viewer.role === 'ADMIN') return user.email;
    throw forbidden('Only the user themself or an ADMIN/OWNER can see this email');
  },
  async notificationPreferences(user, _, ctx) {
    const viewer = user.viewer ?? ctx.viewer;
    if (viewer.userId !== user.id) throw forbidden('Only the user themself can see their notification preferences');
    return preferencesView(await ctx.deps.systemDb.tx({ orgId: null }, (tx) => disabledNotificationsOf(tx, user.id)));
  },
  async memberships(user, _, ctx) {
    const viewer = user.viewer ?? ctx.viewer;
    const rows = await ctx.loaders(viewer).membershipsOfUser.load(user.id);
    return rows.map((m) => ({ ...m, viewer }));
  },
};
