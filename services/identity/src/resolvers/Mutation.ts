import type { MutationResolvers } from '../__generated__/resolvers-types';
import { acceptInvitation, login, logout, refreshSession, signUp } from '../commands/auth';
import { changeRole, inviteMember } from '../commands/members';
import { createApiKey, revokeApiKey } from '../commands/api-keys';
import { publishPersistedOperations, revokePersistedOperation } from '../commands/persisted-operations';
import { createServiceAccount } from '../auth/service-accounts';
import { removeMember } from '../commands/remove-member';
import { eraseUser } from '../commands/privacy';
import { updateNotificationPreferences } from '../commands/notification-preferences';

export const Mutation: MutationResolvers = {
  signUp: (_, { input }, ctx) => signUp(ctx, input),
  login: (_, { email, password, organizationId }, ctx) => login(ctx, email, password, organizationId),
  refreshToken: (_, { refreshToken }, ctx) => refreshSession(ctx, refreshToken),
  logout: (_, { refreshToken }, ctx) => logout(ctx, refreshToken),
  inviteMember: (_, args, ctx) => inviteMember(ctx, args),
  acceptInvitation: (_, { token, password }, ctx) => acceptInvitation(ctx, token, password),
  changeRole: (_, { userId, role }, ctx) => changeRole(ctx, userId, role),
  removeMember: (_, { userId }, ctx) => removeMember(ctx, userId),
  createApiKey: (_, args, ctx) => createApiKey(ctx, args),
  revokeApiKey: (_, { id }, ctx) => revokeApiKey(ctx, id),
  createServiceAccount: (_, { name, scopes }, ctx) => createServiceAccount(ctx, { name, scopes }),
  publishPersistedOperations: (_, args, ctx) => publishPersistedOperations(ctx, args),
  revokePersistedOperation: (_, args, ctx) => revokePersistedOperation(ctx, args),
  eraseUser: (_, { userId }, ctx) => eraseUser(ctx, userId),
  updateNotificationPreferences: (_, { input }, ctx) => updateNotificationPreferences(ctx, input),
};
