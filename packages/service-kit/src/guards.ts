import { isAuthenticated, type AuthenticatedPrincipal, type Principal, type Role, roleAtLeast } from '@cos/auth';
import { forbidden, fromValidationIssues, unauthenticated, badInput } from '@cos/errors';
import { isUuid } from '@cos/db';

/** The caller must be signed in (user, API key or service account) and belong to an organization. */
export function requireAuth(p: Principal): AuthenticatedPrincipal {
  if (!isAuthenticated(p)) throw unauthenticated();
  return p;
}

/** The caller must hold `scope` (from the permission matrix). Defense in depth behind the gateway's checks. */
export function requireScope(p: Principal, scope: string): AuthenticatedPrincipal {
  const a = requireAuth(p);
  if (!a.scopes.includes(scope)) throw forbidden(`Missing permission: ${scope}`);
  return a;
}

/** The caller must be a user with at least `min` role in their current organization. */
export function requireRole(p: Principal, min: Role) {
  const a = requireAuth(p);
  if (a.kind !== 'user' || !roleAtLeast(a.role, min)) throw forbidden(`Requires role ${min} or above`);
  return a;
}

/** A well-formed id or BAD_USER_INPUT naming the argument. */
export function parseId(field: string, value: unknown): string {
  if (!isUuid(value)) throw badInput(field, `${field} is not a valid id`);
  return value;
}

/** Validates input with a zod schema; failures become BAD_USER_INPUT with the offending field. */
export function validate<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } } },
  value: unknown,
  prefix?: string,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = prefix ? r.error.issues.map((i) => ({ ...i, path: [prefix, ...i.path] })) : r.error.issues;
  throw fromValidationIssues(issues);
}
