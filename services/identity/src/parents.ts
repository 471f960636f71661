import type { Role } from '@cos/auth';
import type { MembershipRow, OrganizationRow, UserRow } from './store/identity-store';

/**
 * Whose eyes a value is resolved through. Usually the request's principal; after signUp/login/refresh/accept the
 * AuthPayload's user and organization are resolved as the freshly signed-in user (the request itself was anonymous).
 */
export interface Viewer {
  userId: string | null;
  orgId: string | null;
  role: Role | null;
  scopes: readonly string[];
}

/** GraphQL parents (codegen mappers): rows plus the viewer they were loaded for. */
export type UserParent = UserRow & { viewer?: Viewer };
export type OrganizationParent = OrganizationRow & { viewer?: Viewer };
export type MembershipParent = MembershipRow & { viewer?: Viewer };
export interface AuthPayloadParent {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  userId: string;
  orgId: string;
  viewer: Viewer;
}

export interface ApiKeyCreatedParent {
  apiKey: import('./store/identity-store').ApiKeyRow;
  secret: string;
}
