import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphQLSchema } from 'graphql';
import { appError, ErrorCode } from '@cos/errors';
import { apiSchemaOf, clientNameSchema, documentIdSchema, manifestSchema, readSupergraph, validateOperations } from '@cos/persisted';
import { requireRole, validate } from '@cos/service-kit';
import type { Context } from '../context';
import { metadataFor, retryOnConflict } from './common';
import { eventStore } from '../projector';
import { decidePersistedClient, persistedClientAggregate, persistedClientStream, type PublishCommand, type RevokeCommand } from '../persisted/domain';
import type { IdentityEvent } from '@cos/events';
import { streamTypeOf } from '@cos/events';

/** The committed supergraph, when the deployment names none (IdentityConfig.supergraph). */
export const DEFAULT_SUPERGRAPH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../schema/supergraph.graphql');

let cached: { source: string; sdl: string; schema: GraphQLSchema } | null = null;

/** The API schema of the supergraph currently deployed (re-read on every registration; rebuilt only when it changed). */
async function currentApiSchema(source: string): Promise<GraphQLSchema> {
  const sdl = await readSupergraph(source);
  if (cached && cached.source === source && cached.sdl === sdl) return cached.schema;
  const schema = apiSchemaOf(sdl);
  cached = { source, sdl, schema };
  return schema;
}

/**
 * ADMIN/OWNER register a client's trusted documents (Apollo persisted-query manifest). Every operation is validated
 * against the current supergraph's API schema first; one invalid operation refuses the whole manifest with
 * BAD_USER_INPUT naming it, and nothing is written. Returns how many operations were newly registered.
 */
export async function publishPersistedOperations(ctx: Context, raw: { client: string; manifest: unknown }): Promise<number> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const client = validate(clientNameSchema, raw.client, 'client');
  const manifest = validate(manifestSchema, raw.manifest, 'manifest');
  const schema = await currentApiSchema(ctx.deps.config.supergraph ?? DEFAULT_SUPERGRAPH);
  const problems = validateOperations(schema, manifest.operations);
  if (problems.length) {
    const first = problems[0]!;
    throw appError(ErrorCode.BAD_USER_INPUT, `Operation ${first.name} is not valid against the current supergraph: ${first.message}`, {
      field: 'manifest',
      operation: first.name,
      problems: problems.slice(0, 50),
    });
  }
  const events = await decideAndAppend(ctx, caller, client, { type: 'PublishPersistedOperations', client, operations: manifest.operations });
  return events.reduce((n, e) => n + (e.type === 'PersistedOperationsPublished' ? e.data.operations.length : 0), 0);
}

/**
 * ADMIN/OWNER withdraw one trusted document from a client: from the next request on, the gateway refuses it
 * (OPERATION_NOT_ALLOWED; its cached copy goes with the event). NOT_FOUND when it is not registered for that client.
 */
export async function revokePersistedOperation(ctx: Context, raw: { client: string; id: string }): Promise<boolean> {
  const caller = requireRole(ctx.principal, 'ADMIN');
  const client = validate(clientNameSchema, raw.client, 'client');
  const id = validate(documentIdSchema, raw.id, 'id');
  const events = await decideAndAppend(ctx, caller, client, { type: 'RevokePersistedOperations', client, ids: [id] });
  if (events.length === 0) throw appError(ErrorCode.NOT_FOUND, `No trusted document ${id} is registered for client ${client}`);
  return true;
}

/** Loads the client's stream, decides, appends (optimistic, retried on a concurrent write); answers the events. */
async function decideAndAppend(
  ctx: Context,
  caller: { orgId: string; userId: string },
  client: string,
  cmd: PublishCommand | RevokeCommand,
): Promise<IdentityEvent[]> {
  const streamId = persistedClientStream(caller.orgId, client);
  return retryOnConflict(() =>
    ctx.deps.db.tx({ orgId: caller.orgId, userId: caller.userId }, async (tx) => {
      const current = await eventStore.load(tx, streamId, persistedClientAggregate);
      const events = decidePersistedClient(cmd, current.state);
      if (events.length === 0) return [];
      await eventStore.append(tx, {
        orgId: caller.orgId,
        streamId,
        streamType: streamTypeOf('identity', 'PersistedClient'),
        expectedVersion: current.version,
        events,
        metadata: metadataFor(ctx),
      });
      return events;
    }),
  );
}
