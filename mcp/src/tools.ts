/**
 * The MCP tools of a client's trusted documents: one tool per query or mutation of an Apollo persisted-query
 * manifest (subscriptions are not tools). Name = the operation's name, description = its comment (comments.ts),
 * input schema = its variables (input-schema.ts), executed by document id through the gateway (gateway-client.ts).
 */
import { readFile } from 'node:fs/promises';
import { Kind, parse, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { apiSchemaOf, manifestSchema, readSupergraph, validateOperations, type Manifest, type ManifestOperation } from '@cos/persisted';
import { operationDocs } from './comments';
import { variablesToJsonSchema, type ToolInputSchema } from './input-schema';

/** MCP tool names (and so operation names used as tools): what clients accept everywhere. */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface OperationTool {
  /** What tools/list answers. */
  tool: Tool & { inputSchema: ToolInputSchema };
  /** The trusted document: its id (sha256 of the body, sent to the gateway) and body. */
  operation: ManifestOperation;
  /** Validates a call's arguments against the input schema: an error message or null. */
  check(args: unknown): string | null;
}

export interface Toolset {
  tools: readonly OperationTool[];
  get(name: string): OperationTool | undefined;
}

/**
 * Builds the tools of `manifest` against `schema` (the graph's API schema). Throws, naming every problem, when an
 * operation is invalid against the schema or its name is not usable as a tool name or taken twice: a server with
 * a broken tool list must not start.
 */
export function buildToolset(schema: GraphQLSchema, manifest: Manifest): Toolset {
  const problems = validateOperations(schema, manifest.operations).map((p) => `${p.name}: ${p.message}`);
  const validator = new AjvJsonSchemaValidator();
  const tools: OperationTool[] = [];
  const names = new Set<string>();
  if (problems.length === 0) {
    for (const op of manifest.operations) {
      if (op.type === 'subscription') continue;
      if (!TOOL_NAME.test(op.name)) problems.push(`${op.name}: not usable as an MCP tool name (letters, digits, _ and -, at most 64)`);
      if (names.has(op.name)) problems.push(`${op.name}: two operations have this name`);
      names.add(op.name);
      const def = parse(op.body).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
      const docs = operationDocs(def);
      if (!docs.description) problems.push(`${op.name}: no description (write one as # comment lines above the operation)`);
      const inputSchema = variablesToJsonSchema(schema, def, (v) => docs.variables.get(v));
      const validate = validator.getValidator(inputSchema);
      tools.push({
        tool: {
          name: op.name,
          title: titleOf(op.name),
          description: docs.description ?? op.name,
          inputSchema,
          annotations: annotationsOf(op),
        },
        operation: op,
        check: (args) => {
          const r = validate(args ?? {});
          return r.valid ? null : r.errorMessage;
        },
      });
    }
  }
  if (problems.length) throw new Error(`the tool manifest has problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const byName = new Map(tools.map((t) => [t.tool.name, t]));
  return { tools, get: (name) => byName.get(name) };
}

/** "FindAtRiskCustomers" → "Find at risk customers" (a human-readable title for clients that show one). */
export function titleOf(name: string): string {
  const words = name
    .replace(/[_-]+/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .trim()
    .split(/\s+/);
  return words.map((w, i) => (i === 0 ? w : w.toLowerCase())).join(' ');
}

/**
 * Hints for clients (they decide, e.g., whether to ask the user before a call): queries only read; mutations change
 * the organization's data, and are left with MCP's conservative defaults (may be destructive, not idempotent) since
 * a manifest may hold any mutation. Both reach only the graph (closed world).
 */
function annotationsOf(op: ManifestOperation): Tool['annotations'] {
  return op.type === 'query'
    ? { title: titleOf(op.name), readOnlyHint: true, openWorldHint: false }
    : { title: titleOf(op.name), readOnlyHint: false, openWorldHint: false };
}

/** Reads a manifest file (Apollo's persisted-query manifest format) and the supergraph, and builds the tools. */
export async function loadToolset(manifestPath: string, supergraphSource: string): Promise<Toolset> {
  const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  const schema = apiSchemaOf(await readSupergraph(supergraphSource));
  return buildToolset(schema, manifest);
}
