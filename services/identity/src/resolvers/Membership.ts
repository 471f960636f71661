import { notFound } from '@cos/errors';
import type { MembershipResolvers } from '../__generated__/resolvers-types';

export const Membership: MembershipResolvers = {
  async organization(m, _, ctx) {
    const viewer = m.viewer ?? ctx.viewer;
    const org = await ctx.loaders(viewer).organization.load(m.orgId);
    if (!org) throw notFound('Organization', m.orgId);
    return { ...org, viewer };
  },
  async user(m, _, ctx) {
    const viewer = m.viewer ?? ctx.viewer;
    const user = await ctx.loaders(viewer).user.load(m.userId);
    if (!user) throw notFound('User', m.userId);
    return { ...user, viewer };
  },
  role: (m) => m.role,
};
