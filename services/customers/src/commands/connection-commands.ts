/**
 * Connection commands (ADMIN/OWNER through `connections:manage`): one tenant transaction each — decide, append to
 * the Connection stream (the projector writes the read model), and the encrypted credentials / sync state beside it
 * in the same transaction.
 */
import { randomUUID } from 'node:crypto';
import { actorOf, type AuthenticatedPrincipal } from '@cos/auth';
import type { Tx } from '@cos/db';
import type { ConnectionConfig, ConnectionProvider, SecretHint } from '@cos/events';
import { badInput, notFound } from '@cos/errors';
import { validate } from '@cos/service-kit';
import { z } from 'zod';
import type { Context } from '../context';
import {
  CONNECTION_PROVIDERS,
  CONNECTION_STREAM_TYPE,
  connectionStreamIdOf,
  decideConnection,
  connectionAggregate,
  initialConnectionState,
  PULL_PROVIDERS,
  type ConnectionCommand,
} from '../domain/connection';
import { eventStore } from '../projector';
import { deleteSecrets, disableSync, getConnection, insertSync, putSecret, resetSync, type ConnectionRow, type SecretKind } from '../store/connection-store';
import { lockStream } from '../store/customer-store';
import { encryptSecret, generateWebhookSecret, hintOf, type KeyRing } from '../connections/secrets';

/** What the connection commands and the webhook route need beyond the Db. */
export interface ConnectionsConfig {
  keyRing: KeyRing;
  /** Accept any http(s) baseUrl (tests, local fakes); otherwise only the providers' own hosts. */
  allowCustomBaseUrl: boolean;
}

/** A secret's additional authenticated data: binds the ciphertext to its connection and kind. */
export const secretAad = (connectionId: string, kind: SecretKind) => `connection:${connectionId}:${kind}`;

const SECRET = z.string().min(16, 'must be at least 16 characters').max(512).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
const TOKEN = z.string().min(8, 'must be at least 8 characters').max(512).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** Hosts a production connection may pull from, per provider. */
const PROVIDER_HOSTS: Partial<Record<ConnectionProvider, RegExp>> = {
  SUPPORT_ZENDESK: /^[a-z0-9][a-z0-9-]{0,62}\.zendesk\.com$/,
  BILLING_STRIPE: /^api\.stripe\.com$/,
};

const configSchema = (provider: ConnectionProvider, cfg: ConnectionsConfig) =>
  z
    .object({
      name: z.string().trim().min(1, 'must not be empty').max(100),
      baseUrl: z.string().url().max(300).nullish(),
      email: z.string().email().max(254).nullish(),
      syncIntervalSeconds: z.number().int().min(cfg.allowCustomBaseUrl ? 1 : 60).max(86_400).nullish(),
      webhookSecret: SECRET.nullish(),
      apiToken: TOKEN.nullish(),
    })
    .strict()
    .superRefine((v, ctx) => {
      if (v.baseUrl) {
        const u = new URL(v.baseUrl);
        const hostOk = cfg.allowCustomBaseUrl ? u.protocol === 'http:' || u.protocol === 'https:' : u.protocol === 'https:' && !!PROVIDER_HOSTS[provider]?.test(u.hostname);
        if (!hostOk || u.username || u.password || u.search || u.hash) {
          ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: PROVIDER_HOSTS[provider] ? `must be an https URL of the provider (${PROVIDER_HOSTS[provider]!.source})` : 'this provider has no pull API' });
        }
      }
      if (v.apiToken || v.baseUrl) {
        if (!PULL_PROVIDERS.has(provider)) ctx.addIssue({ code: 'custom', path: ['apiToken'], message: 'this provider is webhook-only (no pull API)' });
        else if (!v.apiToken || !v.baseUrl) ctx.addIssue({ code: 'custom', path: [v.apiToken ? 'baseUrl' : 'apiToken'], message: 'pulling needs both baseUrl and apiToken' });
      }
      if (provider === 'SUPPORT_ZENDESK' && v.apiToken && !v.email) ctx.addIssue({ code: 'custom', path: ['email'], message: 'Zendesk API tokens authenticate as `email/token`' });
    });

export interface ConnectionCreatedView {
  connection: ConnectionRow;
  webhookSecret: string;
}

const metadataOf = (ctx: Context, p: AuthenticatedPrincipal) => ({ actor: actorOf(p), correlationId: ctx.correlationId, causationId: null, traceparent: ctx.traceparent });
const scopeOf = (p: AuthenticatedPrincipal) => ({ orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null });

export async function createConnection(ctx: Context, principal: AuthenticatedPrincipal, cfg: ConnectionsConfig, rawProvider: unknown, rawConfig: unknown): Promise<ConnectionCreatedView> {
  const provider = validate(z.enum(CONNECTION_PROVIDERS), rawProvider, 'provider') as ConnectionProvider;
  const input = validate(configSchema(provider, cfg), rawConfig, 'config');
  const connectionId = randomUUID();
  const webhookSecret = input.webhookSecret ?? generateWebhookSecret();
  const config: ConnectionConfig = { baseUrl: input.baseUrl ?? null, email: input.email ?? null, syncIntervalSeconds: input.syncIntervalSeconds ?? 300 };
  const command: ConnectionCommand = {
    type: 'CreateConnection',
    connectionId,
    provider,
    name: input.name,
    config,
    webhookSecretHint: hintOf(webhookSecret),
    apiTokenHint: input.apiToken ? hintOf(input.apiToken) : null,
  };
  return ctx.db.tx(scopeOf(principal), async (tx) => {
    const events = decideConnection(command, initialConnectionState);
    await eventStore.append(tx, {
      orgId: principal.orgId,
      streamId: connectionStreamIdOf(connectionId),
      streamType: CONNECTION_STREAM_TYPE,
      expectedVersion: 0,
      events,
      metadata: metadataOf(ctx, principal),
    });
    await putSecret(tx, principal.orgId, connectionId, 'WEBHOOK_SECRET', encryptSecret(cfg.keyRing, webhookSecret, secretAad(connectionId, 'WEBHOOK_SECRET')));
    if (input.apiToken) {
      await putSecret(tx, principal.orgId, connectionId, 'API_TOKEN', encryptSecret(cfg.keyRing, input.apiToken, secretAad(connectionId, 'API_TOKEN')));
      await insertSync(tx, principal.orgId, connectionId, config.syncIntervalSeconds);
    }
    return { connection: (await getConnection(tx, connectionId))!, webhookSecret };
  });
}

async function onConnection<T>(ctx: Context, principal: AuthenticatedPrincipal, connectionId: string, command: ConnectionCommand, after: (tx: Tx) => Promise<T>): Promise<T> {
  return ctx.db.tx(scopeOf(principal), async (tx) => {
    const streamId = connectionStreamIdOf(connectionId);
    await lockStream(tx, streamId);
    // RLS: another organization's connection loads as an empty stream, i.e. NOT_FOUND.
    const { state, version } = await eventStore.load(tx, streamId, connectionAggregate as never);
    const events = decideConnection(command, state as typeof initialConnectionState);
    await eventStore.append(tx, { orgId: principal.orgId, streamId, streamType: CONNECTION_STREAM_TYPE, expectedVersion: version, events, metadata: metadataOf(ctx, principal) });
    return after(tx);
  });
}

export interface SecretRotatedView {
  connection: ConnectionRow;
  /** The new webhook signing secret (shown once); null when only the API token changed. */
  webhookSecret: string | null;
}

/**
 * Replaces the webhook signing secret (the given one, or a generated one) and/or the API token. The old secret stops
 * verifying at once; a new API token re-enables a FAILED connector.
 */
export async function rotateConnectionSecret(
  ctx: Context,
  principal: AuthenticatedPrincipal,
  cfg: ConnectionsConfig,
  connectionId: string,
  raw: { webhookSecret?: unknown; apiToken?: unknown },
): Promise<SecretRotatedView> {
  const input = validate(z.object({ webhookSecret: SECRET.nullish(), apiToken: TOKEN.nullish() }), raw);
  const existing = await ctx.db.tx(scopeOf(principal), (tx) => getConnection(tx, connectionId));
  if (!existing || existing.deletedAt) throw notFound('Connection', connectionId);
  if (input.apiToken && !existing.apiTokenHint) throw badInput('apiToken', 'this connection does not pull (create one with baseUrl and apiToken)');
  const rotateWebhook = !input.apiToken || !!input.webhookSecret;
  const webhookSecret = rotateWebhook ? (input.webhookSecret ?? generateWebhookSecret()) : null;
  const changes: Array<{ kind: SecretKind; secret: string; hint: SecretHint }> = [];
  if (webhookSecret) changes.push({ kind: 'WEBHOOK_SECRET', secret: webhookSecret, hint: hintOf(webhookSecret) });
  if (input.apiToken) changes.push({ kind: 'API_TOKEN', secret: input.apiToken, hint: hintOf(input.apiToken) });
  const connection = await ctx.db.tx(scopeOf(principal), async (tx) => {
    for (const c of changes) {
      await onConnectionTx(ctx, tx, principal, connectionId, { type: 'RotateSecret', connectionId, secret: c.kind, hint: c.hint });
      await putSecret(tx, principal.orgId, connectionId, c.kind, encryptSecret(cfg.keyRing, c.secret, secretAad(connectionId, c.kind)));
      if (c.kind === 'API_TOKEN') await resetSync(tx, connectionId);
    }
    return (await getConnection(tx, connectionId))!;
  });
  return { connection, webhookSecret };
}

async function onConnectionTx(ctx: Context, tx: Tx, principal: AuthenticatedPrincipal, connectionId: string, command: ConnectionCommand) {
  const streamId = connectionStreamIdOf(connectionId);
  await lockStream(tx, streamId);
  const { state, version } = await eventStore.load(tx, streamId, connectionAggregate as never);
  const events = decideConnection(command, state as typeof initialConnectionState);
  await eventStore.append(tx, { orgId: principal.orgId, streamId, streamType: CONNECTION_STREAM_TYPE, expectedVersion: version, events, metadata: metadataOf(ctx, principal) });
}

/** Deletes the connection: its webhooks answer 404 from now on, the connector stops and the credentials are erased. */
export async function deleteConnection(ctx: Context, principal: AuthenticatedPrincipal, connectionId: string): Promise<ConnectionRow> {
  return onConnection(ctx, principal, connectionId, { type: 'DeleteConnection', connectionId }, async (tx) => {
    await deleteSecrets(tx, connectionId);
    await disableSync(tx, connectionId);
    return (await getConnection(tx, connectionId))!;
  });
}
