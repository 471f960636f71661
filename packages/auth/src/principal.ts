/** Organization roles, highest first. */
export const ROLES = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'] as const;
export type Role = (typeof ROLES)[number];

/** The caller, as the gateway established it and every subgraph receives it (signed). */
export type Principal =
  | { kind: 'anonymous'; ip?: string }
  | { kind: 'user'; userId: string; orgId: string; role: Role; scopes: string[]; ip?: string }
  | { kind: 'apiKey'; keyId: string; orgId: string; clientName: string; scopes: string[]; ip?: string }
  | { kind: 'service'; serviceId: string; orgId: string; scopes: string[]; ip?: string };

export type AuthenticatedPrincipal = Exclude<Principal, { kind: 'anonymous' }>;

export const isAuthenticated = (p: Principal): p is AuthenticatedPrincipal => p.kind !== 'anonymous';

/** "user:<id>", "apiKey:<id>", "service:<id>", "anonymous": the actor recorded on events and audit entries. */
export function actorOf(p: Principal): string {
  switch (p.kind) {
    case 'user':
      return `user:${p.userId}`;
    case 'apiKey':
      return `apiKey:${p.keyId}`;
    case 'service':
      return `service:${p.serviceId}`;
    default:
      return 'anonymous';
  }
}

export const hasScope = (p: Principal, scope: string): boolean => isAuthenticated(p) && p.scopes.includes(scope);
