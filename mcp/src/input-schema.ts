/**
 * An operation's variable definitions → the JSON Schema of an MCP tool's input, against the graph's API schema.
 *
 * - scalars: String/ID → string, Int → 32-bit integer, Float → number, Boolean → boolean, DateTime → string with
 *   format date-time, JSON → any value, other custom scalars → any value with the scalar's description;
 * - enums → string with the enum's (non-deprecated) values, descriptions of the values in the description;
 * - input objects → object with their fields (recursively), `additionalProperties: false`, non-null fields
 *   without a default `required`; a type met again inside itself stops at a plain object (no infinite schema);
 * - lists → array of the item schema;
 * - nullable → `null` is accepted too; non-null without a default → required; defaults → `default`.
 * Descriptions: the variable's own comment (see comments.ts), else the description of its type in the schema.
 */
import {
  astFromValue,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  typeFromAST,
  valueFromASTUntyped,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

/** The subset of JSON Schema (draft-07 / 2020-12 compatible) the mapping produces. */
export type JsonSchema = {
  type?: JsonType | JsonType[];
  description?: string;
  format?: string;
  enum?: Array<string | null>;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  default?: unknown;
};
type JsonType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null';

/** The input schema of a tool: always an object (MCP requires `type: "object"`). */
export type ToolInputSchema = JsonSchema & {
  type: 'object';
  properties: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties: false;
};

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/** Custom scalars with a well-known JSON Schema format. */
const SCALAR_FORMATS: Record<string, JsonSchema> = {
  DateTime: { type: 'string', format: 'date-time', description: 'ISO-8601 date-time, e.g. 2026-01-31T09:00:00Z' },
};

/**
 * The tool input schema of `operation`'s variables. `describe(variableName)` gives a variable's own description
 * (its comment in the operation file) when it has one. Throws when a variable's type is not an input type of
 * `schema` (the operation is then invalid against the graph; manifests are validated before this runs).
 */
export function variablesToJsonSchema(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  describe: (variable: string) => string | undefined = () => undefined,
): ToolInputSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const def of operation.variableDefinitions ?? []) {
    const name = def.variable.name.value;
    const type = typeFromAST(schema, def.type) as GraphQLInputType | undefined;
    if (!type) throw new Error(`variable $${name} of ${operation.name?.value ?? 'the operation'} has an unknown type`);
    const prop = inputTypeToJsonSchema(type, new Set());
    const own = describe(name);
    if (own) prop.description = own;
    if (def.defaultValue) prop.default = valueFromASTUntyped(def.defaultValue);
    else if (isNonNullType(type)) required.push(name);
    properties[name] = prop;
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

/** The JSON Schema of one GraphQL input type. `seen`: input object types on the current path (recursion guard). */
export function inputTypeToJsonSchema(type: GraphQLInputType, seen: ReadonlySet<string>): JsonSchema {
  if (isNonNullType(type)) return nonNull(type.ofType, seen);
  return nullable(nonNull(type, seen));
}

/** The schema of `type` as if it were non-null. */
function nonNull(type: GraphQLInputType, seen: ReadonlySet<string>): JsonSchema {
  if (isNonNullType(type)) return nonNull(type.ofType, seen);
  if (isListType(type)) return { type: 'array', items: inputTypeToJsonSchema(type.ofType as GraphQLInputType, seen) };
  const named = getNamedType(type) as GraphQLNamedType;
  if (isScalarType(named)) return scalarSchema(named.name, named.description);
  if (isEnumType(named)) {
    const values = named.getValues().filter((v) => !v.deprecationReason);
    const described = values.filter((v) => v.description).map((v) => `${v.name}: ${v.description}`);
    const description = [named.description, described.join('; ')].filter(Boolean).join(' — ');
    return { type: 'string', enum: values.map((v) => v.name), ...(description ? { description } : {}) };
  }
  if (isInputObjectType(named)) {
    if (seen.has(named.name)) {
      return { type: 'object', description: `${named.name} (nested again; see the outer ${named.name})` };
    }
    const inner = new Set(seen).add(named.name);
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of Object.values(named.getFields())) {
      const mandatory = isNonNullType(field.type) && field.defaultValue === undefined;
      // Deprecated optional fields are left out so an assistant does not start using them.
      if (field.deprecationReason && !mandatory) continue;
      const prop = inputTypeToJsonSchema(field.type, inner);
      if (field.description) prop.description = field.description;
      if (field.defaultValue !== undefined) {
        const ast = astFromValue(field.defaultValue, field.type);
        if (ast) prop.default = valueFromASTUntyped(ast);
      }
      if (mandatory) required.push(field.name);
      properties[field.name] = prop;
    }
    return {
      type: 'object',
      ...(named.description ? { description: named.description } : {}),
      properties,
      ...(required.length ? { required } : {}),
      additionalProperties: false,
    };
  }
  throw new Error(`${String(type)} is not an input type`);
}

function scalarSchema(name: string, description: string | null | undefined): JsonSchema {
  // Built-in scalars: their spec descriptions are noise to an assistant.
  switch (name) {
    case 'String':
      return { type: 'string' };
    case 'ID':
      return { type: 'string', description: 'An id (as returned by other tools)' };
    case 'Int':
      return { type: 'integer', minimum: INT_MIN, maximum: INT_MAX };
    case 'Float':
      return { type: 'number' };
    case 'Boolean':
      return { type: 'boolean' };
    case 'JSON':
      return { description: description ?? 'Any JSON value' };
    default: {
      const known = SCALAR_FORMATS[name];
      if (known) return { ...known };
      // An unknown custom scalar: any JSON value, the gateway validates it.
      return { description: description ?? `A ${name} value` };
    }
  }
}

/** Adds `null` to what a schema accepts (a nullable GraphQL type). */
function nullable(s: JsonSchema): JsonSchema {
  if (s.type === undefined) return s; // any value already includes null
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const out: JsonSchema = { ...s, type: types.includes('null') ? types : [...types, 'null'] };
  if (s.enum && !s.enum.includes(null)) out.enum = [...s.enum, null];
  return out;
}
