import type { Role } from './principal';

/**
 * The permission matrix: every scope the graph knows and which roles hold it. The README renders this table
 * (scripts/permissions-table.ts); API keys and service accounts get an explicit subset of these scopes.
 */
export const SCOPES = {
  'org:read': 'Read the organization and its members',
  'members:manage': 'Invite members, change roles, remove members',
  'apikeys:manage': 'Create and revoke partner API keys and service accounts',
  'audit:read': 'Read the audit log',
  'privacy:erase': 'Erase a person or a customer contact (GDPR; crypto-shredding of their personal data)',
  'tasks:read': 'Read tasks, comments and approvals',
  'tasks:write': 'Create, update, assign and comment on tasks',
  'approvals:decide': 'Approve or reject what an agent proposes',
  'customers:read': 'Read customers, contacts and health',
  'customers:write': 'Create customers and record signals',
  'customers:finance': 'Read financial fields (Customer.mrr)',
  'connections:manage': 'Create, rotate and delete the connections customer signals arrive through (webhooks, connectors); read their delivery log',
  'agents:read': 'Read agents and their runs',
  'agents:run': 'Start and cancel agent runs',
  'agents:work': 'Act as an agent worker (service accounts only): claim runs, heartbeat, checkpoint, request approval, complete',
} as const;
export type Scope = keyof typeof SCOPES;

const ALL = Object.keys(SCOPES) as Scope[];
const READ: Scope[] = ['org:read', 'tasks:read', 'customers:read', 'agents:read'];
const MEMBER: Scope[] = [...READ, 'tasks:write', 'approvals:decide', 'customers:write', 'agents:run'];

export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  OWNER: ALL.filter((s) => s !== 'agents:work'),
  ADMIN: ALL.filter((s) => s !== 'agents:work' && s !== 'privacy:erase'),
  MEMBER,
  VIEWER: READ,
};

export const scopesForRole = (role: Role): string[] => [...ROLE_SCOPES[role]];

export const isScope = (s: string): s is Scope => Object.prototype.hasOwnProperty.call(SCOPES, s);

/** Role order for "at least" checks. */
export function roleAtLeast(role: Role, min: Role): boolean {
  const order: Role[] = ['VIEWER', 'MEMBER', 'ADMIN', 'OWNER'];
  return order.indexOf(role) >= order.indexOf(min);
}
