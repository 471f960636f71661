/**
 * Trusted documents (persisted operations) shared by the gateway, identity (registration) and the scripts
 * (manifest generation, `pnpm schema:check`): Apollo's persisted-query manifest format, document ids (sha256 of the
 * body, hex, as Apollo's tooling computes them) and validation of operations against a supergraph's API schema.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Supergraph } from '@apollo/federation-internals';
import { Kind, parse, validate, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { z } from 'zod';

export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';

/** Client names: what a partner API key's name must be to use that client's manifest. */
export const clientNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._ -]*$/, 'letters, digits, space, dot, dash and underscore only');

/** A trusted document's id: the sha256 hex digest of its body (Apollo's manifest format). */
export const documentIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be the sha256 hex digest of body');

export const manifestOperationSchema = z.object({
  id: documentIdSchema,
  name: z.string().min(1).max(200),
  type: z.enum(['query', 'mutation', 'subscription']),
  body: z.string().min(1).max(100_000),
});
export type ManifestOperation = z.infer<typeof manifestOperationSchema>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(1),
  operations: z.array(manifestOperationSchema).max(5_000),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const sha256Hex = (body: string): string => createHash('sha256').update(body, 'utf8').digest('hex');

/** The API schema (what clients may query) of a composed supergraph. */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema();
}

/** Reads a supergraph from a file path or an http(s) URL. */
export async function readSupergraph(source: string): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`supergraph ${source} answered HTTP ${res.status}`);
    return res.text();
  }
  return readFile(source, 'utf8');
}

export interface OperationProblem {
  /** The operation's manifest name (or its id when it has none). */
  name: string;
  id: string;
  message: string;
}

/**
 * Every problem of every operation: the id must be the body's sha256, the body one named operation whose name and
 * type match the manifest entry, valid against `schema`. Empty = all good.
 */
export function validateOperations(schema: GraphQLSchema, operations: readonly ManifestOperation[]): OperationProblem[] {
  const problems: OperationProblem[] = [];
  const seen = new Map<string, string>();
  for (const op of operations) {
    const fail = (message: string) => problems.push({ name: op.name, id: op.id, message });
    if (sha256Hex(op.body) !== op.id) {
      fail('id is not the sha256 of body');
      continue;
    }
    const previous = seen.get(op.id);
    if (previous !== undefined && previous !== op.name) fail(`same body as operation ${previous}`);
    seen.set(op.id, op.name);
    let doc;
    try {
      doc = parse(op.body, { noLocation: false });
    } catch (err) {
      fail(`syntax error: ${(err as Error).message}`);
      continue;
    }
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    if (ops.length !== 1) {
      fail(`must contain exactly one operation (found ${ops.length})`);
      continue;
    }
    const def = ops[0]!;
    if (def.name?.value !== op.name) fail(`name "${op.name}" does not match the operation's name "${def.name?.value ?? ''}"`);
    if (def.operation !== op.type) fail(`type "${op.type}" does not match the operation (${def.operation})`);
    for (const e of validate(schema, doc)) fail(e.message);
  }
  return problems;
}

/** A manifest from operation documents (each body one named operation); sorted by name, deduplicated by id. */
export function manifestFromBodies(bodies: readonly string[]): Manifest {
  const byId = new Map<string, ManifestOperation>();
  for (const body of bodies) {
    const doc = parse(body);
    const def = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    if (!def?.name) throw new Error(`operation without a name:\n${body}`);
    const id = sha256Hex(body);
    byId.set(id, { id, name: def.name.value, type: def.operation, body });
  }
  const operations = [...byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  return { format: MANIFEST_FORMAT, version: 1, operations };
}
