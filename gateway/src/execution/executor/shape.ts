import {
  GraphQLBoolean,
  GraphQLError,
  GraphQLFloat,
  GraphQLID,
  GraphQLInt,
  GraphQLString,
  Kind,
  getNamedType,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type DirectiveNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLNamedType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * The final shaping of an answer, compiled once per operation (and per set of @skip/@include values): the merged
 * subgraph data is walked along precomputed field lists — one per runtime type of each selection — so only the
 * requested fields come out, under their aliases, in document order, with `__typename` resolved, leaf values checked
 * and nulls propagated by the non-null rules. No per-request walk of the schema or of the document.
 *
 * Semantics follow @apollo/gateway's resultShaping.ts, so both executors answer alike: a null in a non-null position
 * nulls the nearest nullable parent; the errors this raises ("Cannot return null for non-nullable field …",
 * invalid leaf values, unknown __typename) are reported in `extensions.valueCompletion` and only when the subgraphs
 * reported no error (a subgraph error usually explains the null).
 */

/** Reads the value of a `@skip`/`@include` condition: a literal or a variable. */
type Condition = { kind: 'skip' | 'include'; value: boolean } | { kind: 'skip' | 'include'; variable: string };

/** Shapes one composite value (an object) for its runtime type. */
export interface ObjectShape {
  /** The fields to output for `typename` (the input's __typename, or the static type when it has none). */
  fieldsFor(typename: string): readonly FieldShape[];
  /** The static (declared) type of the position. */
  readonly staticType: GraphQLCompositeType;
}

/**
 * `responseName` is the client's; `inputKey` is where the merged data holds the value (differs for fields the
 * executor aliased before planning, see ARG_ALIAS_PREFIX).
 */
export type FieldShape =
  | { kind: 'typename'; responseName: string; inputKey: string }
  | { kind: 'introspection'; responseName: string; inputKey: string }
  | { kind: 'value'; responseName: string; inputKey: string; parentName: string; type: GraphQLOutputType; sub: ObjectShape | undefined };

/**
 * Prefix of the aliases the executor gives, before planning, to client fields with arguments that some @requires also
 * selects (with other arguments): @apollo/query-planner merges both into one subgraph field otherwise and the client
 * gets the @requires' arguments' answer (federation-gateway-audit requires-with-argument#2-4).
 */
export const ARG_ALIAS_PREFIX = '_cos_arg_';
const clientName = (key: string) => (key.startsWith(ARG_ALIAS_PREFIX) ? key.slice(ARG_ALIAS_PREFIX.length) : key);

export interface ShapeErrors {
  errors: GraphQLError[];
}

/** Names of the variables used by @skip/@include anywhere in the operation (the key of its compiled variants). */
export function conditionVariables(op: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): string[] {
  const out = new Set<string>();
  const visitDirectives = (dirs: readonly DirectiveNode[] | undefined) => {
    for (const d of dirs ?? []) {
      if (d.name.value !== 'skip' && d.name.value !== 'include') continue;
      const arg = d.arguments?.find((a) => a.name.value === 'if');
      if (arg?.value.kind === Kind.VARIABLE) out.add(arg.value.name.value);
    }
  };
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode | undefined) => {
    for (const s of set?.selections ?? []) {
      visitDirectives(s.directives);
      if (s.kind === Kind.FIELD) walk(s.selectionSet);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        walk(fragments.get(s.name.value)?.selectionSet);
      }
    }
  };
  walk(op.selectionSet);
  return [...out].sort();
}

function conditionsOf(dirs: readonly DirectiveNode[] | undefined): Condition[] {
  const out: Condition[] = [];
  for (const d of dirs ?? []) {
    const kind = d.name.value;
    if (kind !== 'skip' && kind !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    if (!arg) continue;
    if (arg.value.kind === Kind.VARIABLE) out.push({ kind, variable: arg.value.name.value });
    else if (arg.value.kind === Kind.BOOLEAN) out.push({ kind, value: arg.value.value });
  }
  return out;
}

/**
 * Compiles the shaping of one operation for fixed @skip/@include values (`conditionValues`: variable → boolean).
 * Field lists per runtime type are built lazily on first use and memoized, so a union with fifty members costs only
 * the members actually seen.
 */
export function compileShape(
  schema: GraphQLSchema,
  op: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  conditionValues: Readonly<Record<string, boolean>>,
): ObjectShape {
  const rootType =
    op.operation === 'query' ? schema.getQueryType() : op.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!rootType) throw new GraphQLError(`The schema has no ${op.operation} type`);
  const included = (dirs: readonly DirectiveNode[] | undefined): boolean => {
    if (!dirs || dirs.length === 0) return true;
    for (const c of conditionsOf(dirs)) {
      const v = 'value' in c ? c.value : conditionValues[c.variable] === true;
      if (c.kind === 'skip' ? v : !v) return false;
    }
    return true;
  };
  return objectShape(schema, rootType, [op.selectionSet], fragments, included);
}

function objectShape(
  schema: GraphQLSchema,
  staticType: GraphQLCompositeType,
  sets: readonly SelectionSetNode[],
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  included: (dirs: readonly DirectiveNode[] | undefined) => boolean,
): ObjectShape {
  const byType = new Map<string, readonly FieldShape[]>();
  return {
    staticType,
    fieldsFor(typename) {
      let fields = byType.get(typename);
      if (!fields) {
        fields = collect(schema, staticType, typename, sets, fragments, included);
        byType.set(typename, fields);
      }
      return fields;
    },
  };
}

/** graphql-js CollectFields for one runtime type, field nodes merged per response name, then compiled. */
function collect(
  schema: GraphQLSchema,
  staticType: GraphQLCompositeType,
  typename: string,
  sets: readonly SelectionSetNode[],
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  included: (dirs: readonly DirectiveNode[] | undefined) => boolean,
): FieldShape[] {
  const runtime = schema.getType(typename) ?? staticType;
  const groups = new Map<string, { node: FieldNode; parent: GraphQLCompositeType; sets: SelectionSetNode[] }>();
  const applies = (condition: string | undefined): boolean => {
    if (!condition) return true;
    if (condition === runtime.name) return true;
    const cond = schema.getType(condition);
    return !!cond && isAbstractType(cond) && (isObjectType(runtime) || 'getInterfaces' in runtime) && schema.isSubType(cond, runtime as never);
  };
  const visitedFragments = new Set<string>();
  const walk = (set: SelectionSetNode, parent: GraphQLCompositeType) => {
    for (const s of set.selections) {
      if (!included(s.directives)) continue;
      if (s.kind === Kind.FIELD) {
        const responseName = s.alias?.value ?? s.name.value;
        const g = groups.get(responseName);
        if (g) {
          if (s.selectionSet) g.sets.push(s.selectionSet);
        } else {
          groups.set(responseName, { node: s, parent, sets: s.selectionSet ? [s.selectionSet] : [] });
        }
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        const cond = s.typeCondition?.name.value;
        if (!applies(cond)) continue;
        walk(s.selectionSet, cond ? ((schema.getType(cond) as GraphQLCompositeType | undefined) ?? parent) : parent);
      } else {
        const frag = fragments.get(s.name.value);
        if (!frag || visitedFragments.has(s.name.value)) continue;
        const cond = frag.typeCondition.name.value;
        if (!applies(cond)) continue;
        visitedFragments.add(s.name.value);
        walk(frag.selectionSet, (schema.getType(cond) as GraphQLCompositeType | undefined) ?? parent);
      }
    }
  };
  for (const set of sets) walk(set, staticType);

  const out: FieldShape[] = [];
  for (const [inputKey, g] of groups) {
    const name = g.node.name.value;
    const responseName = clientName(inputKey);
    if (name === '__typename') {
      out.push({ kind: 'typename', responseName, inputKey });
      continue;
    }
    if (name === '__schema' || name === '__type') {
      out.push({ kind: 'introspection', responseName, inputKey });
      continue;
    }
    const def = fieldDef(g.parent, name) ?? fieldDef(runtime, name);
    if (!def) continue; // not in the API schema: validation refused it already
    const named = getNamedType(def.type);
    const sub = isCompositeType(named) ? objectShape(schema, named, g.sets, fragments, included) : undefined;
    out.push({ kind: 'value', responseName, inputKey, parentName: g.parent.name, type: def.type, sub });
  }
  return out;
}

function fieldDef(type: GraphQLNamedType, name: string) {
  if (!('getFields' in type) || isEnumType(type) || isScalarType(type)) return undefined;
  return (type as { getFields(): Record<string, { type: GraphQLOutputType } | undefined> }).getFields()[name];
}

/** Sentinel: a null reached a non-null position and must bubble to the nearest nullable parent. */
const BUBBLE = Symbol('bubble');

export interface ShapeRun {
  schema: GraphQLSchema;
  /** Errors of value completion (reported as `extensions.valueCompletion` when the subgraphs reported none). */
  errors: GraphQLError[];
  /** Values of the introspection fields, by response name (executed by graphql-js beforehand). */
  introspection: Record<string, unknown> | undefined;
}

/** Shapes the merged subgraph data of the root; null when a non-null root field was null. */
export function shapeRoot(run: ShapeRun, shape: ObjectShape, input: Record<string, unknown>): Record<string, unknown> | null {
  const out = shapeObject(run, shape, input, shape.staticType.name, []);
  return out === BUBBLE ? null : out;
}

function shapeObject(
  run: ShapeRun,
  shape: ObjectShape,
  input: Record<string, unknown>,
  typename: string,
  path: (string | number)[],
): Record<string, unknown> | typeof BUBBLE {
  const fields = shape.fieldsFor(typename);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const key = f.responseName;
    let value: unknown;
    if (f.kind === 'typename') {
      let v = own(input, f.inputKey);
      if ((v === undefined || v === null) && key !== '__typename') v = own(input, '__typename');
      const t = typeof v === 'string' ? run.schema.getType(v) : undefined;
      const resolved = t ?? run.schema.getType(typename);
      // An interface or union here means no subgraph told the concrete type: the object cannot be answered.
      if (!resolved || !isObjectType(resolved)) return BUBBLE;
      value = resolved.name;
    } else if (f.kind === 'introspection') {
      value = run.introspection?.[f.inputKey] ?? null;
    } else {
      path.push(key);
      const v = own(input, f.inputKey);
      const r = complete(run, f.type, v === undefined ? null : v, f.sub, path, f.parentName);
      path.pop();
      if (r === BUBBLE) return BUBBLE;
      value = r;
    }
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

/** Returns the completed value, or BUBBLE when it is null in a non-null position (the error is recorded here). */
function complete(
  run: ShapeRun,
  type: GraphQLOutputType,
  input: unknown,
  sub: ObjectShape | undefined,
  path: (string | number)[],
  parentName: string,
): unknown {
  if (isNonNullType(type)) {
    const before = run.errors.length;
    const r = complete(run, type.ofType, input, sub, path, parentName);
    if (r === null || r === BUBBLE) {
      // A nested error already explains it (Apollo reports one error per null, not one per level).
      if (r === null && run.errors.length === before) {
        run.errors.push(
          new GraphQLError(`Cannot return null for non-nullable ${describe(path, type.ofType, parentName)}.`, {
            path: [...path],
            extensions: { code: 'INVALID_GRAPHQL' },
          }),
        );
      }
      return BUBBLE;
    }
    return r;
  }
  if (input === null) return null;
  if (isListType(type)) {
    if (!Array.isArray(input)) return invalid(run, path, type, parentName);
    const out = new Array<unknown>(input.length);
    const item = type.ofType;
    for (let i = 0; i < input.length; i++) {
      path.push(i);
      const r = complete(run, item, input[i] === undefined ? null : input[i], sub, path, parentName);
      path.pop();
      if (r === BUBBLE) return null;
      out[i] = r;
    }
    return out;
  }
  if (sub) {
    if (typeof input !== 'object' || Array.isArray(input)) return invalid(run, path, type, parentName);
    const obj = input as Record<string, unknown>;
    const tn = own(obj, '__typename');
    let typename = type.name;
    if (typeof tn === 'string') {
      const t = run.schema.getType(tn);
      if (!t || !isCompositeType(t)) {
        run.errors.push(
          new GraphQLError(`Invalid __typename found for object at ${describe(path, type, parentName)}.`, {
            path: [...path],
            extensions: { code: 'INVALID_GRAPHQL' },
          }),
        );
        return null;
      }
      typename = tn;
    }
    const r = shapeObject(run, sub, obj, typename, path);
    return r === BUBBLE ? null : r;
  }
  return validLeaf(type as GraphQLNamedType, input) ? input : invalid(run, path, type, parentName);
}

function invalid(run: ShapeRun, path: (string | number)[], type: GraphQLOutputType, parentName: string): null {
  run.errors.push(
    new GraphQLError(`Invalid value found for ${describe(path, type, parentName)}.`, {
      path: [...path],
      extensions: { code: 'INVALID_GRAPHQL' },
    }),
  );
  return null;
}

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/** federation-internals' isValidLeafValue on graphql-js types. */
function validLeaf(type: GraphQLNamedType, value: unknown): boolean {
  if (isEnumType(type)) return typeof value === 'string' && type.getValue(value) !== undefined;
  if (type === GraphQLBoolean || type.name === 'Boolean') return typeof value === 'boolean';
  const builtIn = type === GraphQLInt || type === GraphQLFloat || type === GraphQLString || type === GraphQLID || ['Int', 'Float', 'String', 'ID'].includes(type.name);
  if (!builtIn) return true;
  if (typeof value === 'number' && Number.isFinite(value)) {
    if (type.name === 'Int' || type.name === 'ID') return INTEGER.test(String(value));
    return type.name === 'Float';
  }
  if (typeof value === 'string') return type.name === 'String' || type.name === 'ID';
  return false;
}

function describe(path: (string | number)[], type: GraphQLOutputType, parentName: string): string {
  const last = path[path.length - 1];
  return typeof last === 'string' ? `field ${parentName}.${last}` : `array element of type ${String(type)} at index ${String(last)}`;
}

const hasOwn = Object.prototype.hasOwnProperty;
function own(o: Record<string, unknown>, key: string): unknown {
  return hasOwn.call(o, key) ? o[key] : undefined;
}
