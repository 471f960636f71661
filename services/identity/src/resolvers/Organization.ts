import type { OrganizationResolvers } from '../__generated__/resolvers-types';

export const Organization: OrganizationResolvers = {
  __resolveReference: (ref, ctx) => ctx.loaders().organization.load(ref.id),
  async members(org, _, ctx) {
    const viewer = org.viewer ?? ctx.viewer;
    const rows = await ctx.loaders(viewer).membersOfOrganization.load(org.id);
    return rows.map((m) => ({ ...m, viewer }));
  },
};
