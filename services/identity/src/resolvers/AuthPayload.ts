import { notFound } from '@cos/errors';
import type { AuthPayloadResolvers } from '../__generated__/resolvers-types';

/** Resolved as the person who just signed in (the request itself may be anonymous). */
export const AuthPayload: AuthPayloadResolvers = {
  async user(p, _, ctx) {
    const user = await ctx.loaders(p.viewer).user.load(p.userId);
    if (!user) throw notFound('User', p.userId);
    return { ...user, viewer: p.viewer };
  },
  async organization(p, _, ctx) {
    const org = await ctx.loaders(p.viewer).organization.load(p.orgId);
    if (!org) throw notFound('Organization', p.orgId);
    return { ...org, viewer: p.viewer };
  },
};
