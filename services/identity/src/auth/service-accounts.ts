import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { ApiKeyCreatedParent } from '../parents';
import { newApiKeySecret, sha256Hex } from './secrets';
import { apiKeyStream, decideApiKey, initialApiKey } from '../domain/api-key';
import { eventStore } from '../store/projection';
import { apiKeyById, insertApiKeyCredentials } from '../store/identity-store';
import { metadataFor, pgCode } from '../commands/common';

const nameSchema = z.object({ name: z.string().trim().min(1, 'must not be empty').max(100) });

/**
 * ADMIN/OWNER create a service account for agent workers: an API key of kind 'service' holding only agents:work
 * (granted by policy, not from the creator's scopes — no member role holds it). The gateway's API-key path turns it
 * into a `service` principal; it is revoked like any key (revokeApiKey). The secret is returned once.
 */
export async function createServiceAccount(ctx: Context, rawName: string): Promise<ApiKeyCreatedParent> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const { name } = validate(nameSchema, { name: rawName });
  for (let attempt = 0; ; attempt++) {
    const apiKeyId = randomUUID();
    const { secret, prefix } = newApiKeySecret();
    try {
      const apiKey = await ctx.deps.db.tx({ orgId: caller.orgId, userId: caller.userId }, async (tx) => {
        await eventStore.append(tx, {
          orgId: caller.orgId,
          streamId: apiKeyStream(apiKeyId),
          streamType: 'ApiKey',
          expectedVersion: 0,
          events: decideApiKey({ type: 'CreateServiceAccount', apiKeyId, name, prefix }, initialApiKey),
          metadata: metadataFor(ctx),
        });
        await insertApiKeyCredentials(tx, { apiKeyId, orgId: caller.orgId, prefix, secretHash: sha256Hex(secret) });
        return apiKeyById(tx, apiKeyId);
      });
      if (!apiKey) throw new Error('created service account not readable');
      return { apiKey, secret };
    } catch (err) {
      // A 32-bit prefix collision: draw another key.
      const { code, constraint } = pgCode(err);
      if (code === '23505' && constraint === 'api_key_credentials_prefix_key' && attempt < 3) continue;
      throw err;
    }
  }
}
