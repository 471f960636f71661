import { z } from 'zod';
import { requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { ApiKeyCreatedParent } from '../parents';
import { issueApiKey } from '../commands/api-keys';

const nameSchema = z.object({ name: z.string().trim().min(1, 'must not be empty').max(100) });

/**
 * ADMIN/OWNER create a service account for agent workers: an API key of kind 'service' holding only agents:work
 * (granted by policy, not from the creator's scopes — no member role holds it). The gateway's API-key path turns it
 * into a `service` principal; it is revoked like any key (revokeApiKey). The secret is returned once.
 */
export async function createServiceAccount(ctx: Context, rawName: string): Promise<ApiKeyCreatedParent> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const { name } = validate(nameSchema, { name: rawName });
  return issueApiKey(ctx, caller, 'service account', (apiKeyId, prefix) => ({ type: 'CreateServiceAccount', apiKeyId, name, prefix }));
}
