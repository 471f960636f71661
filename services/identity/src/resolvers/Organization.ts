import { forbidden } from '@cos/errors';
import { requireScope } from '@cos/service-kit';
import type { OrganizationResolvers } from '../__generated__/resolvers-types';
import { apiKeysOfOrganization } from '../store/identity-store';

export const Organization: OrganizationResolvers = {
  __resolveReference: (ref, ctx) => ctx.loaders().organization.load(ref.id),
  async members(org, _, ctx) {
    const viewer = org.viewer ?? ctx.viewer;
    const rows = await ctx.loaders(viewer).membersOfOrganization.load(org.id);
    return rows.map((m) => ({ ...m, viewer }));
  },
  async apiKeys(org, _, ctx) {
    const caller = requireScope(ctx.principal, 'apikeys:manage');
    // Scopes hold for the organization signed in to; another membership's keys need a sign-in there.
    if (org.id !== caller.orgId) throw forbidden('API keys are listed for the organization you are signed in to');
    return ctx.deps.db.tx({ orgId: caller.orgId, userId: ctx.viewer.userId }, (tx) => apiKeysOfOrganization(tx, caller.orgId));
  },
};
