import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '@cos/db';
import { notFound } from '@cos/errors';
import { parseId, requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import type { ApiKeyCreatedParent } from '../parents';
import { apiKeyPrefix, newApiKeySecret, sameDigest, sha256Hex } from '../auth/secrets';
import { apiKeyAggregate, apiKeyStream, decideApiKey, initialApiKey } from '../domain/api-key';
import { eventStore } from '../projector';
import { apiKeyById, apiKeyForVerification, insertApiKeyCredentials, touchApiKey } from '../store/identity-store';
import { metadataFor, pgCode } from './common';
import { streamTypeOf } from '@cos/events';

const createSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(100),
  scopes: z.array(z.string()).min(1, 'needs at least one scope').max(50),
});

/** ADMIN/OWNER create a partner key with a subset of their own scopes. The secret is returned once. */
export async function createApiKey(ctx: Context, raw: { name: string; scopes: string[] }): Promise<ApiKeyCreatedParent> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const input = validate(createSchema, raw);
  return issueApiKey(ctx, caller, 'API key', (apiKeyId, prefix) => ({
    type: 'CreateApiKey',
    apiKeyId,
    name: input.name,
    scopes: input.scopes,
    prefix,
    callerScopes: caller.scopes,
  }));
}

/**
 * Issues a key (partner key or service account): draws a secret, appends the creation event, stores only the
 * secret's hash, and returns the secret once. A 32-bit prefix collision draws another key (bounded).
 */
export async function issueApiKey(
  ctx: Context,
  caller: { orgId: string; userId: string },
  what: string,
  command: (apiKeyId: string, prefix: string) => Parameters<typeof decideApiKey>[0],
): Promise<ApiKeyCreatedParent> {
  for (let attempt = 0; ; attempt++) {
    const apiKeyId = randomUUID();
    const { secret, prefix } = newApiKeySecret();
    try {
      const apiKey = await ctx.deps.db.tx({ orgId: caller.orgId, userId: caller.userId }, async (tx) => {
        await eventStore.append(tx, {
          orgId: caller.orgId,
          streamId: apiKeyStream(apiKeyId),
          streamType: streamTypeOf('identity', 'ApiKey'),
          expectedVersion: 0,
          events: decideApiKey(command(apiKeyId, prefix), initialApiKey),
          metadata: metadataFor(ctx),
        });
        await insertApiKeyCredentials(tx, { apiKeyId, orgId: caller.orgId, prefix, secretHash: sha256Hex(secret) });
        return apiKeyById(tx, apiKeyId);
      });
      if (!apiKey) throw new Error(`created ${what} not readable`);
      return { apiKey, secret };
    } catch (err) {
      const { code, constraint } = pgCode(err);
      if (code === '23505' && constraint === 'api_key_credentials_prefix_key' && attempt < 3) continue;
      throw err;
    }
  }
}

export async function revokeApiKey(ctx: Context, rawId: string) {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const id = parseId('id', rawId);
  return ctx.deps.db.tx({ orgId: caller.orgId, userId: caller.userId }, async (tx) => {
    const key = await eventStore.load(tx, apiKeyStream(id), apiKeyAggregate);
    await eventStore.append(tx, {
      orgId: caller.orgId,
      streamId: apiKeyStream(id),
      streamType: streamTypeOf('identity', 'ApiKey'),
      expectedVersion: key.version,
      events: decideApiKey({ type: 'RevokeApiKey', apiKeyId: id }, key.state),
      metadata: metadataFor(ctx),
    });
    const row = await apiKeyById(tx, id);
    if (!row) throw notFound('ApiKey', id);
    return row;
  });
}

export interface VerifiedApiKey {
  keyId: string;
  orgId: string;
  clientName: string;
  scopes: string[];
  /** 'service': a service account (the gateway makes it a service principal); 'partner': a partner API key. */
  kind: 'partner' | 'service';
}

/** The gateway's partner-key check (system role: the tenant is what we are finding out). Null = refuse. */
export async function verifyApiKeySecret(systemDb: Db, secret: string): Promise<VerifiedApiKey | null> {
  const prefix = apiKeyPrefix(secret);
  if (!prefix) return null;
  return systemDb.tx({ orgId: null }, async (tx) => {
    const row = await apiKeyForVerification(tx, prefix);
    if (!row || row.revokedAt || !sameDigest(row.secretHash, sha256Hex(secret))) return null;
    await touchApiKey(tx, row.id);
    return { keyId: row.id, orgId: row.orgId, clientName: row.name, scopes: row.scopes, kind: row.kind };
  });
}
