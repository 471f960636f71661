import type { ApolloGateway } from '@apollo/gateway';
import type { GraphQLDataSource } from '@apollo/gateway';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlan } from '@apollo/query-planner';
import {
  GraphQLError,
  Kind,
  executeSync,
  getVariableValues,
  getOperationAST,
  parse,
  print,
  visit,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { Logger } from '@cos/logger';
import type { GatewayContext } from '../../context';
import { FetchAlignment } from './fetch-alignment';
import { compilePlan, typeMatcher, type RunState, type Step, type SubgraphCall } from './plan';
import { planningSupergraph, type HiddenFields } from './planning-supergraph';
import { ARG_ALIAS_PREFIX, compileShape, conditionVariables, shapeRoot, type ObjectShape } from './shape';
import { createAnswerStringifier } from './serialize';
import { releaseTree } from './release';

const stringifyAnswer = createAnswerStringifier();

/**
 * The gateway's own query-plan executor (GATEWAY_EXECUTOR=native). Plans still come from @apollo/query-planner over
 * the supergraph @apollo/gateway loaded — same planner, same plans — cached per document and operation name; what
 * runs them is ours: each plan is compiled once (plan.ts: fetch steps, representation builders, rewrites, flatten
 * collectors; shape.ts: the answer's field lists per runtime type) and a request only fetches, merges and walks the
 * compiled shape. Subgraph calls go through the same data sources as @apollo/gateway's executor (CosDataSource:
 * signed principal, entity batching, in-flight dedup, the response cache's subgraph answers, circuit breakers).
 */

/** One operation of one document, ready to run. */
interface CompiledOperation {
  operation: OperationDefinitionNode;
  fragments: Map<string, FragmentDefinitionNode>;
  step: Step | undefined;
  /** Variables of @skip/@include: the shape is compiled per combination of their values (usually none). */
  conditionVars: string[];
  shapes: Map<string, ObjectShape>;
  /** The introspection fields of the root (`__schema`, `__type`) as their own document, run by graphql-js. */
  introspection: DocumentNode | undefined;
  plan: QueryPlan;
}

interface SchemaState {
  planner: QueryPlanner;
  apiSchema: ReturnType<Supergraph['apiSchema']>;
  matches: ReturnType<typeof typeMatcher>;
  /** By parsed document (yoga and the authorization plugin reuse document objects), then by operation name. */
  byDocument: WeakMap<DocumentNode, Map<string, CompiledOperation>>;
  /** By printed document + operation name: equal texts parsed twice share one plan. */
  byText: LRUCache<string, CompiledOperation>;
  /** Names of fields some @requires selects with arguments (client fields of these names are aliased before planning). */
  requiredWithArgs: ReadonlySet<string>;
  /** Hidden fields of the planning supergraph (planning-supergraph.ts), mapped back by plan.ts. */
  hidden: HiddenFields;
}

export interface NativeExecutorOptions {
  apollo: ApolloGateway;
  /** The data source of each subgraph by name (@apollo/gateway's buildService made them). */
  dataSources: ReadonlyMap<string, GraphQLDataSource<GatewayContext>>;
  log: Logger;
  /** Compiled plans kept (LRU), default 2000. */
  planCacheSize?: number;
  /** Plan cache lookups (metrics: cos_query_plan_cache_total). */
  onPlanCache?: (result: 'hit' | 'miss') => void;
  /**
   * How long a ready `_entities` fetch may wait for a sibling branch's answer whose continuation calls the same
   * subgraph, so the entity batcher sends both as one request (fetch-alignment.ts). Default
   * DEFAULT_ENTITY_FETCH_HOLD_MS; 0 = never (the data sources do not batch entity fetches).
   */
  entityFetchHoldMs?: number;
}

/**
 * 5 ms: on a quiet machine (bench/README.md, 2026-12-06 evening) the hold won or tied in five of five back-to-back
 * pairs — Guild workload 205 → 241, 233 → 277, 272 → 267 req/s with 7–8 instead of 8–13 subgraph requests per answer;
 * our own workload 3.81 → 3.64 and 3.52 → 3.37 gateway CPU-ms and 5.54 → 5.37, 5.27 → 5.05 subgraph CPU-ms per
 * request. (Earlier pairs on a loaded shared machine had pointed the other way: 5.00–5.75 vs 4.33–4.45 CPU-ms.)
 * GATEWAY_ENTITY_FETCH_HOLD_MS=0 turns it off.
 */
export const DEFAULT_ENTITY_FETCH_HOLD_MS = 5;

export interface NativeExecutor {
  plugin: Plugin<GatewayContext>;
  /** The plan of an operation as the executor runs it (tests, debugging). */
  planOf(document: DocumentNode, operationName?: string | null): QueryPlan;
}

/**
 * Must be created before `apollo.load()`: it listens for the supergraph (first load and every update) and rebuilds
 * its planner and caches from it.
 */
export function createNativeExecutor(opts: NativeExecutorOptions): NativeExecutor {
  let state: SchemaState | undefined;
  let schemaListener: ((schema: GraphQLSchema) => void) | undefined;
  const cacheSize = opts.planCacheSize ?? 2000;
  const holdMs = opts.entityFetchHoldMs ?? DEFAULT_ENTITY_FETCH_HOLD_MS;

  opts.apollo.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    const planning = planningSupergraph(coreSupergraphSdl);
    for (const warning of planning.warnings) opts.log.warn({ workaround: 'planning-supergraph' }, warning);
    const supergraph = Supergraph.build(planning.sdl);
    state = {
      planner: new QueryPlanner(supergraph),
      apiSchema: supergraph.apiSchema(),
      matches: typeMatcher(supergraph.schema.toGraphQLJSSchema()),
      byDocument: new WeakMap(),
      byText: new LRUCache({ max: cacheSize }),
      requiredWithArgs: fieldsRequiredWithArguments(coreSupergraphSdl),
      hidden: planning.hidden,
    };
    schemaListener?.(apiSchema);
  });

  const compiled = (s: SchemaState, document: DocumentNode, operationName: string | null | undefined): CompiledOperation => {
    const name = operationName ?? '';
    let perDoc = s.byDocument.get(document);
    const hit = perDoc?.get(name);
    if (hit) {
      opts.onPlanCache?.('hit');
      return hit;
    }
    const textKey = `${name}\u0000${print(document)}`;
    let c = s.byText.get(textKey);
    opts.onPlanCache?.(c ? 'hit' : 'miss');
    if (!c) {
      c = compileOperation(s, document, operationName);
      s.byText.set(textKey, c);
    }
    if (!perDoc) s.byDocument.set(document, (perDoc = new Map()));
    perDoc.set(name, c);
    return c;
  };

  const plugin: Plugin<GatewayContext> = {
    onPluginInit({ setSchema }) {
      const schema = (opts.apollo as unknown as { schema?: GraphQLSchema }).schema;
      if (schema) setSchema(schema);
      schemaListener = setSchema;
    },
    onExecute({ setExecuteFn }) {
      setExecuteFn(async (exec): Promise<ExecutionResult> => {
        const s = state;
        if (!s) return { errors: [new GraphQLError('The supergraph is not loaded yet')] };
        let c: CompiledOperation;
        try {
          c = compiled(s, exec.document, exec.operationName);
        } catch (err) {
          if (err instanceof GraphQLError) return { errors: [err] };
          throw err;
        }
        return run(c, exec.schema, (exec.variableValues ?? {}) as Record<string, unknown>, exec.contextValue as GatewayContext, opts.dataSources, holdMs);
      });
    },
  };

  return {
    plugin,
    planOf(document, operationName) {
      if (!state) throw new Error('The supergraph is not loaded yet');
      return compiled(state, document, operationName).plan;
    },
  };
}

/** Field names selected with arguments inside the `requires:` field sets of the supergraph's @join__field. */
function fieldsRequiredWithArguments(supergraphSdl: string): Set<string> {
  const out = new Set<string>();
  for (const m of supergraphSdl.matchAll(/requires:\s*"((?:[^"\\]|\\.)*)"/g)) {
    const fields = m[1]!.replace(/\\"/g, '"');
    if (!fields.includes('(')) continue;
    try {
      visit(parse(`{${fields}}`), {
        Field(node) {
          if (node.arguments?.length) out.add(node.name.value);
        },
      });
    } catch {
      // not a field set we can read: no workaround for it
    }
  }
  return out;
}

/** Client fields named in `names` that have arguments get an ARG_ALIAS_PREFIX alias (see shape.ts). */
function aliasArgumentFields(document: DocumentNode, names: ReadonlySet<string>): DocumentNode {
  if (names.size === 0) return document;
  return visit(document, {
    Field(node) {
      if (!node.arguments?.length || !names.has(node.name.value)) return undefined;
      const responseName = node.alias?.value ?? node.name.value;
      return { ...node, alias: { kind: Kind.NAME, value: ARG_ALIAS_PREFIX + responseName } };
    },
  });
}

function compileOperation(s: SchemaState, original: DocumentNode, operationName: string | null | undefined): CompiledOperation {
  const document = aliasArgumentFields(original, s.requiredWithArgs);
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) throw new GraphQLError(operationName ? `Unknown operation named "${operationName}".` : 'Must provide an operation.');
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const op = operationFromDocument(s.apiSchema, document, { operationName: operationName ?? undefined });
  const plan = s.planner.buildQueryPlan(op);
  // @apollo/query-planner answers an empty plan, instead of failing, when no subgraph can resolve the selected fields
  // (e.g. a field only on a non-resolvable @interfaceObject): answering `{ a: null }` without an error would hide it.
  if (!plan.node && selectsData(operation.selectionSet, fragments)) {
    throw new GraphQLError('No subgraph can resolve the requested fields (the query planner found no way to fetch them)', {
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  }
  const introspectionFields = operation.operation === 'query' ? rootIntrospection(operation.selectionSet, fragments) : [];
  return {
    operation,
    fragments,
    plan,
    step: compilePlan(plan, s.matches, s.hidden),
    conditionVars: conditionVariables(operation, fragments),
    shapes: new Map(),
    introspection:
      introspectionFields.length > 0
        ? {
            kind: Kind.DOCUMENT,
            definitions: [
              { ...operation, selectionSet: { kind: Kind.SELECTION_SET, selections: introspectionFields } },
              ...fragments.values(),
            ],
          }
        : undefined,
  };
}

/** Whether a root selection asks for anything besides __typename and introspection (literal @skip/@include applied). */
function selectsData(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>): boolean {
  const literalSkip = (dirs: readonly { name: { value: string }; arguments?: readonly { name: { value: string }; value: { kind: string; value?: unknown } }[] }[] | undefined) =>
    (dirs ?? []).some((d) => {
      const arg = d.arguments?.find((a) => a.name.value === 'if');
      if (arg?.value.kind !== Kind.BOOLEAN) return false;
      return d.name.value === 'skip' ? arg.value.value === true : d.name.value === 'include' && arg.value.value === false;
    });
  const seen = new Set<string>();
  const walk = (ss: SelectionSetNode): boolean =>
    ss.selections.some((sel) => {
      if (literalSkip(sel.directives)) return false;
      if (sel.kind === Kind.FIELD) return !sel.name.value.startsWith('__');
      if (sel.kind === Kind.INLINE_FRAGMENT) return walk(sel.selectionSet);
      if (seen.has(sel.name.value)) return false;
      seen.add(sel.name.value);
      const f = fragments.get(sel.name.value);
      return !!f && walk(f.selectionSet);
    });
  return walk(set);
}

/** `__schema` / `__type` fields of the root selection (also inside root-level fragments). */
function rootIntrospection(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>): FieldNode[] {
  const out: FieldNode[] = [];
  const seen = new Set<string>();
  const walk = (ss: SelectionSetNode) => {
    for (const sel of ss.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value === '__schema' || sel.name.value === '__type') out.push(sel);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) walk(sel.selectionSet);
      else if (!seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const f = fragments.get(sel.name.value);
        if (f) walk(f.selectionSet);
      }
    }
  };
  walk(set);
  return out;
}

async function run(
  c: CompiledOperation,
  schema: GraphQLSchema,
  variables: Record<string, unknown>,
  context: GatewayContext,
  dataSources: ReadonlyMap<string, GraphQLDataSource<GatewayContext>>,
  holdMs: number,
): Promise<ExecutionResult> {
  // graphql-js's execute would coerce the variables; the executor replaced it, so it is done here (BAD_USER_INPUT).
  const coercion = getVariableValues(schema, c.operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
  if (coercion.errors) return { errors: coercion.errors };
  const coerced = coercion.coerced;

  const call: SubgraphCall = async (serviceName, request, path) => {
    const ds = dataSources.get(serviceName);
    if (!ds) throw new GraphQLError(`Couldn't find service with name "${serviceName}"`);
    const res = await ds.process({
      // GraphQLDataSourceRequestKind.INCOMING_OPERATION (a const enum @apollo/gateway does not export at runtime).
      kind: 'incoming operation' as never,
      request,
      // Only what CosDataSource reads (its context; no cache policy is tracked in yoga).
      incomingRequestContext: { context } as never,
      context,
      pathInIncomingRequest: path as never,
    });
    return res as Awaited<ReturnType<SubgraphCall>>;
  };
  const state: RunState = { call, variables, coerced, data: {}, errors: [], alignment: holdMs > 0 ? new FetchAlignment(holdMs) : undefined };
  if (c.step) {
    try {
      await c.step(state, { path: [], objects: [state.data] });
    } catch (err) {
      if (!(err instanceof GraphQLError)) throw err;
      state.errors.push(err);
    }
  }

  let introspection: Record<string, unknown> | undefined;
  if (c.introspection) {
    const r = executeSync({ schema, document: c.introspection, variableValues: variables, operationName: c.operation.name?.value });
    if (r.errors?.length) state.errors.push(...r.errors);
    introspection = (r.data ?? undefined) as Record<string, unknown> | undefined;
  }

  let key = '';
  for (const v of c.conditionVars) key += coerced[v] === true ? '1' : '0';
  let shape = c.shapes.get(key);
  if (!shape) {
    const values: Record<string, boolean> = {};
    for (const v of c.conditionVars) values[v] = coerced[v] === true;
    shape = compileShape(schema, c.operation, c.fragments, values);
    c.shapes.set(key, shape);
  }
  const completion = { schema, errors: [] as GraphQLError[], introspection };
  const data = shapeRoot(completion, shape, state.data);
  if (state.errors.length > 0) return { data, errors: state.errors };
  if (completion.errors.length > 0) return { data, extensions: { valueCompletion: completion.errors } };
  // yoga serialises with `result.stringify` when there is one (serialize.ts: JSON.stringify, guarded against two-byte names).
  // Once the text exists, the merged tree is cut apart (release.ts: promoted parts of it would otherwise keep the
  // young parts alive until the next mark-compact). Paths that read the result instead (the response cache, in-process
  // execute) never call this, and keep theirs.
  const result: ExecutionResult & { stringify: (r: ExecutionResult) => string } = {
    data,
    stringify: (r) => {
      if (r.data !== data || r.errors !== undefined || r.extensions !== undefined) return JSON.stringify(r);
      const text = stringifyAnswer(data);
      releaseTree(state.data);
      return text;
    },
  };
  return result;
}
