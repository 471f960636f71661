import { SCOPES } from '@cos/auth';
import { requireScope } from '@cos/service-kit';
import type { Context } from '../context';

const READ: keyof typeof SCOPES = 'customers:read';

/** The caller may read customers: returns the principal and the request's DataLoaders. */
export function readAccess(ctx: Context) {
  const principal = requireScope(ctx.principal, READ);
  // createContext builds loaders for every authenticated principal.
  return { principal, loaders: ctx.loaders! };
}
