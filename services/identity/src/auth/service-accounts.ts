import { z } from 'zod';
import { requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { ApiKeyCreatedParent } from '../parents';
import { issueApiKey } from '../commands/api-keys';

const inputSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  scopes: z.array(z.string().max(64)).max(10).optional(),
});

/**
 * ADMIN/OWNER create a service account for agent workers: an API key of kind 'service' holding agents:work (granted
 * by policy, not from the creator's scopes — no member role holds it) and, when asked, read scopes for its model's
 * tools. The gateway's API-key path turns it into a `service` principal; it is revoked like any key (revokeApiKey).
 * The secret is returned once.
 */
export async function createServiceAccount(ctx: Context, raw: { name: string; scopes?: readonly string[] | null }): Promise<ApiKeyCreatedParent> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const { name, scopes } = validate(inputSchema, { name: raw.name, scopes: raw.scopes ?? undefined });
  const readScopes = (scopes ?? []).filter((s) => s !== 'agents:work');
  return issueApiKey(ctx, caller, 'service account', (apiKeyId, prefix) => ({ type: 'CreateServiceAccount', apiKeyId, name, prefix, readScopes }));
}
