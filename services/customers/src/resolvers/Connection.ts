/**
 * Connections (ADMIN/OWNER through `connections:manage`): reads in the caller's tenant transaction (RLS), and the
 * commands in ../connections/commands.ts. Credentials are never resolved: only their hints.
 */
import { badInput, notFound } from '@cos/errors';
import { parseId, requireScope } from '@cos/service-kit';
import type { ConnectionResolvers, MutationResolvers, QueryResolvers } from '../__generated__/resolvers-types';
import type { Context } from '../context';
import { createConnection, deleteConnection, rotateConnectionSecret } from '../commands/connection-commands';
import { WEBHOOK_PATH_OF } from '../domain/connection';
import { getConnection, getSyncs, listConnections, listDeliveries } from '../store/connection-store';

const MANAGE = 'connections:manage';
export const MAX_DELIVERIES = 100;

const tenantOf = (ctx: Context) => {
  const p = requireScope(ctx.principal, MANAGE);
  return { principal: p, scope: { orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null } };
};

export const connectionQueries: Pick<QueryResolvers, 'connections' | 'connection'> = {
  connections(_parent, _args, ctx) {
    const { scope } = tenantOf(ctx);
    return ctx.db.single(scope, (tx) => listConnections(tx));
  },
  async connection(_parent, args, ctx) {
    const { scope } = tenantOf(ctx);
    const id = parseId('id', args.id);
    const row = await ctx.db.single(scope, (tx) => getConnection(tx, id));
    return row && !row.deletedAt ? row : null;
  },
};

export const connectionMutations: Pick<MutationResolvers, 'createConnection' | 'rotateConnectionSecret' | 'deleteConnection'> = {
  createConnection(_parent, args, ctx) {
    const { principal } = tenantOf(ctx);
    return createConnection(ctx, principal, ctx.connections, args.provider, args.config);
  },
  rotateConnectionSecret(_parent, args, ctx) {
    const { principal } = tenantOf(ctx);
    return rotateConnectionSecret(ctx, principal, ctx.connections, parseId('id', args.id), { webhookSecret: args.webhookSecret, apiToken: args.apiToken });
  },
  async deleteConnection(_parent, args, ctx) {
    const { principal } = tenantOf(ctx);
    return deleteConnection(ctx, principal, parseId('id', args.id));
  },
};

export const Connection: ConnectionResolvers = {
  async __resolveReference(ref, ctx) {
    const { scope } = tenantOf(ctx);
    const id = parseId('id', ref.id);
    const row = await ctx.db.single(scope, (tx) => getConnection(tx, id));
    if (!row) throw notFound('Connection', id);
    return row;
  },
  webhookPath: (c) => `/webhooks/${WEBHOOK_PATH_OF[c.provider]}/${c.id}`,
  webhookSecret: (c) => c.webhookSecretHint,
  apiToken: (c) => c.apiTokenHint,
  baseUrl: (c) => c.config.baseUrl,
  email: (c) => c.config.email,
  syncIntervalSeconds: (c) => c.config.syncIntervalSeconds,
  async sync(c, _args, ctx) {
    if (!c.apiTokenHint) return null;
    const { scope } = tenantOf(ctx);
    const [row] = await ctx.db.single(scope, (tx) => getSyncs(tx, [c.id]));
    return row ?? null;
  },
  deliveries(c, args, ctx) {
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 1 || first > MAX_DELIVERIES) throw badInput('first', `first must be between 1 and ${MAX_DELIVERIES}`);
    const { scope } = tenantOf(ctx);
    return ctx.db.single(scope, (tx) => listDeliveries(tx, c.id, first));
  },
};

export const ConnectionSync = {
  consecutiveFailures: (s: { failures: number }) => s.failures,
};

export const ConnectionDelivery = {
  externalEventId: (d: { externalId: string | null }) => d.externalId,
  customer: (d: { customerId: string | null }, _args: unknown, ctx: Context) => (d.customerId && ctx.loaders ? ctx.loaders.customer.load(d.customerId) : null),
};
