import {
  GraphQLError,
  Kind,
  isAbstractType,
  parse,
  print,
  visit,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionNode,
} from 'graphql';
import { RepresentationIndex } from '../representation-index';
import type { FetchAlignment } from './fetch-alignment';
import { HIDDEN_PREFIX, type HiddenFields } from './planning-supergraph';
import { ARG_ALIAS_PREFIX } from './shape';
import type { FetchDataRewrite, FetchNode, PlanNode, QueryPlan, QueryPlanSelectionNode } from '@apollo/query-planner';

/**
 * A query plan from @apollo/query-planner compiled into closures: `requires` selections become representation
 * builders, `Flatten` paths become collectors, input/output rewrites become appliers, type conditions become
 * memoized typename checks against the supergraph. Nothing here walks the schema per request.
 */

/** What the executor needs from a subgraph transport (the gateway's CosDataSource.process fits). */
export interface SubgraphCall {
  (
    serviceName: string,
    request: { query: string; operationName: string | undefined; variables: Record<string, unknown> },
    pathInIncomingRequest: (string | number)[],
  ): Promise<{ data?: Record<string, unknown> | null; errors?: readonly GraphQLFormattedError[] }>;
}

export interface RunState {
  call: SubgraphCall;
  /** The client's variables as sent (subgraphs coerce them themselves, as with @apollo/gateway). */
  variables: Record<string, unknown>;
  /** Coerced values (defaults applied) for Condition nodes. */
  coerced: Record<string, unknown>;
  data: Record<string, unknown>;
  errors: GraphQLError[];
  /** Holds entity fetches for a sibling branch's next fetch to the same subgraph, so the batcher merges them. */
  alignment?: FetchAlignment;
}

export type Step = (state: RunState, cursor: Cursor) => Promise<void>;

interface Cursor {
  /** Plan path from the root ('@' = every element of a list). */
  path: readonly (string | number)[];
  /** The objects at `path` (never null). */
  objects: Record<string, unknown>[];
}

/** `typename` is `condition` or one of its subtypes (interfaces included), as @apollo/gateway's isObjectOfType. */
export type TypeMatcher = (typename: unknown, condition: string, unknownTypename: boolean) => boolean;

export function typeMatcher(supergraph: GraphQLSchema): TypeMatcher {
  const memo = new Map<string, Map<string, boolean>>();
  return (typename, condition, unknownTypename) => {
    if (typeof typename !== 'string' || typename === '') return unknownTypename;
    if (typename === condition) return true;
    let m = memo.get(condition);
    if (!m) memo.set(condition, (m = new Map()));
    let r = m.get(typename);
    if (r === undefined) {
      const type = supergraph.getType(typename);
      const cond = supergraph.getType(condition);
      r = !!type && !!cond && isAbstractType(cond) && ('getInterfaces' in type) && supergraph.isSubType(cond, type as never);
      m.set(typename, r);
    }
    return r;
  };
}

/** Compiles a plan; `undefined` node: the answer needs no subgraph (only __typename or introspection). */
export function compilePlan(plan: QueryPlan, matches: TypeMatcher, hidden: HiddenFields = NO_HIDDEN_FIELDS): Step | undefined {
  const node = plan.node;
  if (!node) return undefined;
  if (node.kind === 'Subscription') {
    return async () => {
      throw new GraphQLError('Subscriptions are served over WebSocket or SSE, not by the query executor');
    };
  }
  return compileNode(joinLeafEntityFetches(node), matches, hidden, NOTHING_NEXT);
}

/**
 * A plan rewrite that saves subgraph requests: in a Parallel node, an `_entities` fetch with nothing after it (a leaf)
 * moves beside a later entity fetch to the same subgraph inside a sibling Sequence (after that Sequence's first step,
 * at any depth below it), and the entity batcher sends both in one request. The Guild workload's plan has four lone
 * inventory fetches beside Sequences that end with inventory's `shippingEstimate` (which @requires products' price
 * and weight): 9 → 6 subgraph requests per answer with the batcher's hold (Hive Gateway's planner: 7).
 *
 * Nothing is lost: the Parallel waited for that Sequence anyway and the moved fetch has no continuation, so the
 * Parallel ends no later. No sibling depended on the moved fetch's data, nor it on theirs (they ran in parallel). It
 * must still read the same objects when it runs later: so no fetch that runs before its new place may merge at a
 * proper prefix of its path (that could add or replace the objects it reads); merges at its path or below only add
 * fields to them.
 */
export function joinLeafEntityFetches(node: PlanNode): PlanNode {
  switch (node.kind) {
    case 'Sequence':
      return { ...node, nodes: node.nodes.map(joinLeafEntityFetches) };
    case 'Flatten':
      return { ...node, node: joinLeafEntityFetches(node.node) };
    case 'Condition':
      return {
        ...node,
        ifClause: node.ifClause ? joinLeafEntityFetches(node.ifClause) : undefined,
        elseClause: node.elseClause ? joinLeafEntityFetches(node.elseClause) : undefined,
      };
    case 'Parallel': {
      const nodes = node.nodes.map(joinLeafEntityFetches);
      const sequences = nodes.filter((n): n is SequenceNode => n.kind === 'Sequence');
      const kept: PlanNode[] = [];
      for (const n of nodes) {
        const leaf = leafEntityFetch(n);
        if (!leaf || !sequences.some((seq) => joinLater(seq, n, leaf, false))) kept.push(n);
      }
      if (kept.length === nodes.length) return { ...node, nodes };
      return kept.length === 1 ? kept[0]! : { ...node, nodes: kept };
    }
    default:
      return node;
  }
}

type SequenceNode = Extract<PlanNode, { kind: 'Sequence' }>;
type ParallelNode = Extract<PlanNode, { kind: 'Parallel' }>;

/** The subgraph and path of an `_entities` fetch that nothing follows (`Fetch` with requires, or `Flatten` over one). */
function leafEntityFetch(node: PlanNode): { service: string; path: string } | undefined {
  if (node.kind === 'Fetch') return node.requires ? { service: node.serviceName, path: '' } : undefined;
  if (node.kind === 'Flatten' && node.node.kind === 'Fetch' && node.node.requires) return { service: node.node.serviceName, path: node.path.join('.') };
  return undefined;
}

/** Paths (joined by '.') every fetch under `node` merges at; a root fetch merges at ''. */
function mergePaths(node: PlanNode | undefined, at = '', out: string[] = []): string[] {
  switch (node?.kind) {
    case 'Fetch':
      out.push(at);
      break;
    case 'Flatten':
      mergePaths(node.node, [at, node.path.join('.')].filter(Boolean).join('.'), out);
      break;
    case 'Sequence':
    case 'Parallel':
      for (const n of node.nodes) mergePaths(n, at, out);
      break;
    case 'Condition':
      mergePaths(node.ifClause, at, out);
      mergePaths(node.elseClause, at, out);
      break;
    default:
      // Defer and anything unknown: assume it merges at the root.
      if (node) out.push('');
  }
  return out;
}

const isProperPrefix = (q: string, p: string) => q !== p && (q === '' || p.startsWith(`${q}.`));

/**
 * Puts `fetch` beside the first entity fetch to `leaf.service` that `seq` runs after its first step (`later`: the
 * caller's own first step is already behind), searching nested Parallel and Sequence nodes in order; stops at the
 * first step that merges at a proper prefix of `leaf.path`. Mutates `seq` (a fresh copy made by
 * joinLeafEntityFetches); false when it found no place.
 */
function joinLater(seq: SequenceNode, fetch: PlanNode, leaf: { service: string; path: string }, later: boolean): boolean {
  for (let k = 0; k < seq.nodes.length; k++) {
    const step = seq.nodes[k]!;
    if (later || k > 0) {
      if (leafEntityFetch(step)?.service === leaf.service) {
        seq.nodes[k] = { kind: 'Parallel', nodes: [step, fetch] };
        return true;
      }
      if (step.kind === 'Parallel' && joinParallel(step, fetch, leaf)) return true;
      if (step.kind === 'Sequence' && joinLater(step, fetch, leaf, true)) return true;
    } else if (step.kind === 'Parallel' || step.kind === 'Sequence') {
      // The first step's own nested sequences run their later steps after their first: places too.
      const inner = step.kind === 'Sequence' ? [step] : step.nodes.filter((n): n is SequenceNode => n.kind === 'Sequence');
      if (inner.some((s) => joinLater(s, fetch, leaf, false))) return true;
    }
    if (mergePaths(step).some((q) => isProperPrefix(q, leaf.path))) return false;
  }
  return false;
}

function joinParallel(par: ParallelNode, fetch: PlanNode, leaf: { service: string; path: string }): boolean {
  if (par.nodes.some((n) => leafEntityFetch(n)?.service === leaf.service)) {
    par.nodes.push(fetch);
    return true;
  }
  return par.nodes.some((n) => n.kind === 'Sequence' && joinLater(n, fetch, leaf, true));
}

const NOTHING_NEXT: readonly string[] = [];

/**
 * Subgraphs of the entity fetches a node starts first (what a fetch's continuation calls when this node follows it
 * in a Sequence): the fetches the entity batcher could merge with a sibling branch's.
 */
function firstEntityFetches(node: PlanNode | undefined, out: Set<string> = new Set()): Set<string> {
  switch (node?.kind) {
    case 'Fetch':
      if (node.requires) out.add(node.serviceName);
      break;
    case 'Flatten':
      firstEntityFetches(node.node, out);
      break;
    case 'Sequence':
      firstEntityFetches(node.nodes[0], out);
      break;
    case 'Parallel':
      for (const n of node.nodes) firstEntityFetches(n, out);
      break;
    case 'Condition':
      firstEntityFetches(node.ifClause, out);
      firstEntityFetches(node.elseClause, out);
      break;
    default:
      break;
  }
  return out;
}

/** Steps run side by side on the same cursor (a plan's Parallel node, the variants of a split fetch). */
const parallel =
  (steps: Step[]): Step =>
  async (state, cursor) => {
    await Promise.all(steps.map((s) => s(state, cursor)));
  };

const NO_HIDDEN_FIELDS: HiddenFields = { fields: new Map(), requiredBy: new Map() };

/** `next`: the subgraphs the continuation after this node calls first (see firstEntityFetches). */
function compileNode(node: PlanNode, matches: TypeMatcher, hidden: HiddenFields, next: readonly string[]): Step {
  switch (node.kind) {
    case 'Sequence': {
      const steps = node.nodes.map((n, i) =>
        compileNode(n, matches, hidden, i + 1 < node.nodes.length ? [...firstEntityFetches(node.nodes[i + 1])] : next),
      );
      return async (state, cursor) => {
        for (const s of steps) await s(state, cursor);
      };
    }
    case 'Parallel':
      // What follows a Parallel waits for all its branches: no single branch's answer starts it.
      return parallel(node.nodes.map((n) => compileNode(n, matches, hidden, NOTHING_NEXT)));
    case 'Flatten': {
      const inner = compileNode(node.node, matches, hidden, next);
      const rel = node.path;
      return async (state, cursor) => {
        const objects: Record<string, unknown>[] = [];
        for (const o of cursor.objects) collectAt(o, rel, 0, objects);
        if (objects.length === 0) return;
        await inner(state, { path: cursor.path.concat(rel), objects });
      };
    }
    case 'Fetch':
      return compileFetchWithHiddenFields(node, matches, hidden, next);
    case 'Condition': {
      const yes = node.ifClause ? compileNode(node.ifClause, matches, hidden, next) : undefined;
      const no = node.elseClause ? compileNode(node.elseClause, matches, hidden, next) : undefined;
      const variable = node.condition;
      return async (state, cursor) => {
        const v = state.coerced[variable];
        const branch = v === true ? yes : no;
        if (branch) await branch(state, cursor);
      };
    }
    case 'Defer':
      return async () => {
        throw new GraphQLError('@defer is not supported by this gateway');
      };
  }
}

/** Objects at `path` under `value` (lists flattened at '@'); nulls and missing values are skipped. */
function collectAt(value: unknown, path: readonly (string | number)[], i: number, out: Record<string, unknown>[]): void {
  if (value === null || value === undefined) return;
  if (i === path.length) {
    if (Array.isArray(value)) {
      for (const v of value) collectAt(v, path, i, out);
    } else if (typeof value === 'object') out.push(value as Record<string, unknown>);
    return;
  }
  const step = path[i]!;
  if (step === '@') {
    if (Array.isArray(value)) for (const v of value) collectAt(v, path, i + 1, out);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return;
  collectAt(own(value as Record<string, unknown>, String(step)), path, i + 1, out);
}

/** [object, path] pairs under `root` along a plan path: only computed when a subgraph error must be located. */
function locate(root: unknown, path: readonly (string | number)[]): Map<object, (string | number)[]> {
  const out = new Map<object, (string | number)[]>();
  const walk = (value: unknown, i: number, at: (string | number)[]) => {
    if (value === null || value === undefined) return;
    if (i === path.length) {
      if (Array.isArray(value)) value.forEach((v, k) => walk(v, i, [...at, k]));
      else if (typeof value === 'object' && !out.has(value)) out.set(value, at);
      return;
    }
    const step = path[i]!;
    if (step === '@') {
      if (Array.isArray(value)) value.forEach((v, k) => walk(v, i + 1, [...at, k]));
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value)) return;
    walk(own(value as Record<string, unknown>, String(step)), i + 1, [...at, step]);
  };
  walk(root, 0, []);
  return out;
}

type Representation = Record<string, unknown>;
type RepresentationBuilder = (entity: Record<string, unknown>) => Representation | null;

/** @apollo/gateway's executeSelectionSet over a `requires` selection, compiled. A missing field voids its object. */
function compileRequires(selections: readonly QueryPlanSelectionNode[], matches: TypeMatcher, hidden: HiddenFields): RepresentationBuilder {
  type Part =
    | { kind: 'field'; name: string; outName: string; sub: RepresentationBuilder | undefined }
    | { kind: 'fragment'; condition: string; sub: RepresentationBuilder };
  const parts: Part[] = [];
  for (const s of selections) {
    if (s.kind === Kind.FIELD) {
      const name = s.alias ?? s.name;
      // A hidden field of the planning supergraph is read under its hidden name and sent under the real one.
      const outName = hidden.fields.get(name)?.name ?? name;
      parts.push({ kind: 'field', name, outName, sub: s.selections ? compileRequires(s.selections, matches, hidden) : undefined });
    } else if (s.typeCondition) {
      parts.push({ kind: 'fragment', condition: s.typeCondition, sub: compileRequires(s.selections, matches, hidden) });
    }
  }
  const build = (source: Record<string, unknown>): Representation | null => {
    // A plan's requires are usually one `... on T { … }`: its object (fresh, never shared) becomes the result.
    let result: Representation | undefined;
    for (const p of parts) {
      if (p.kind === 'field') {
        const v = own(source, p.name);
        if (v === undefined) return null;
        setOwn((result ??= {}), p.outName, p.sub ? mapValue(v, p.sub) : v);
      } else if (matches(source.__typename, p.condition, false)) {
        const r = p.sub(source);
        if (r) {
          if (result) mergeInto(result, r);
          else result = r;
        }
      }
    }
    return result ?? {};
  };
  return build;
}

function mapValue(v: unknown, sub: RepresentationBuilder): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x) => mapValue(x, sub));
  if (typeof v !== 'object') return null;
  return sub(v as Record<string, unknown>);
}

type Rewriter = (value: Record<string, unknown>) => void;

/** dataRewrites.ts of @apollo/gateway, compiled: `... on T` steps check the typename, the last step sets or renames. */
function compileRewrites(rewrites: readonly FetchDataRewrite[] | undefined, matches: TypeMatcher): Rewriter | undefined {
  if (!rewrites || rewrites.length === 0) return undefined;
  const fns = rewrites.map((r): Rewriter => {
    const path = r.path.slice(0, -1);
    const last = r.path[r.path.length - 1];
    if (last === undefined || last.startsWith('... on ')) return () => {};
    const apply: Rewriter =
      r.kind === 'ValueSetter'
        ? (obj) => setOwn(obj, last, r.setValueTo)
        : (obj) => {
            const v = own(obj, last);
            if (v) {
              setOwn(obj, r.renameKeyTo, v);
              obj[last] = undefined;
            }
          };
    const at = (value: unknown, i: number): void => {
      if (Array.isArray(value)) {
        for (const v of value) at(v, i);
        return;
      }
      if (typeof value !== 'object' || value === null) return;
      const obj = value as Record<string, unknown>;
      if (i === path.length) return apply(obj);
      const step = path[i]!;
      if (step.startsWith('... on ')) {
        if (matches(obj.__typename, step.slice(7), true)) at(obj, i + 1);
      } else at(own(obj, step), i + 1);
    };
    return (obj) => at(obj, 0);
  });
  return (obj) => {
    for (const f of fns) f(obj);
  };
}

/**
 * A fetch of a plan made on the planning supergraph (planning-supergraph.ts): hidden fields in its operation are asked
 * as `hidden: real(args)`; an `_entities` fetch whose @requires inputs carry two variants of one real field is split
 * into one fetch per compatible group of fields, run in parallel, so each representation carries one variant.
 */
function compileFetchWithHiddenFields(fetch: FetchNode, matches: TypeMatcher, hidden: HiddenFields, next: readonly string[]): Step {
  if (hidden.fields.size === 0) return compileFetch(fetch, matches, hidden, next);
  const operation = fetch.operation.includes(HIDDEN_PREFIX) ? print(askHiddenFields(parse(fetch.operation, { noLocation: true }), hidden)) : fetch.operation;
  const node = operation === fetch.operation ? fetch : { ...fetch, operation };
  const parts = node.requires ? splitByVariants(node, hidden) : [node];
  if (parts.length === 1) return compileFetch(parts[0]!, matches, hidden, next);
  return parallel(parts.map((p) => compileFetch(p, matches, hidden, next)));
}

/** `_cos_req_T_f_0` → `_cos_req_T_f_0: f(args)`: the subgraph knows only the real field. */
function askHiddenFields(doc: DocumentNode, hidden: HiddenFields): DocumentNode {
  return visit(doc, {
    Field(f) {
      const h = f.alias ? undefined : hidden.fields.get(f.name.value);
      return h ? { ...f, alias: f.name, name: { kind: Kind.NAME, value: h.name }, arguments: h.arguments } : undefined;
    },
  });
}

/**
 * Groups the fields an `_entities` fetch selects so that no group's @requires use two hidden fields of one real field
 * (first fit, in selection order); one fetch per group, its requires without the other groups' hidden fields.
 */
function splitByVariants(fetch: FetchNode, hidden: HiddenFields): FetchNode[] {
  const requires = fetch.requires ?? [];
  const requiresHidden = (sels: readonly QueryPlanSelectionNode[]): boolean =>
    sels.some((s) => (s.kind === Kind.FIELD ? hidden.fields.has(s.alias ?? s.name) : requiresHidden(s.selections)));
  if (!requiresHidden(requires)) return [fetch];
  const doc = parse(fetch.operation, { noLocation: true });
  const op = doc.definitions[0];
  if (op?.kind !== Kind.OPERATION_DEFINITION) return [fetch];
  const entities = op.selectionSet.selections[0];
  if (entities?.kind !== Kind.FIELD || entities.name.value !== '_entities' || !entities.selectionSet) return [fetch];
  const entitySet = entities.selectionSet;

  interface Group {
    /** Real field (`T.f`) → the hidden field this group sends for it. */
    variants: Map<string, string>;
    fields: Set<SelectionNode>;
  }
  const groups: Group[] = [];
  const groupOf = (uses: readonly string[]): Group => {
    const fits = (g: Group) => uses.every((u) => {
      const at = g.variants.get(hidden.fields.get(u)?.of ?? u);
      return at === undefined || at === u;
    });
    let g = groups.find(fits);
    if (!g) groups.push((g = { variants: new Map(), fields: new Set() }));
    for (const u of uses) g.variants.set(hidden.fields.get(u)?.of ?? u, u);
    return g;
  };
  for (const frag of entitySet.selections) {
    if (frag.kind !== Kind.INLINE_FRAGMENT) continue;
    const type = frag.typeCondition?.name.value ?? '';
    for (const s of frag.selectionSet.selections) {
      if (s.kind !== Kind.FIELD || s.name.value === '__typename') continue;
      groupOf(hidden.requiredBy.get(`${type}.${s.name.value}`) ?? []).fields.add(s);
    }
  }
  if (groups.length <= 1) return [fetch];

  return groups.map((g, i) => {
    const keep = (s: SelectionNode) => {
      if (s.kind !== Kind.FIELD) return i === 0; // nested fragments: left to the first fetch
      return s.name.value === '__typename' || g.fields.has(s);
    };
    const selections = entitySet.selections
      .map((frag) => (frag.kind === Kind.INLINE_FRAGMENT ? { ...frag, selectionSet: { ...frag.selectionSet, selections: frag.selectionSet.selections.filter(keep) } } : frag))
      .filter((frag) => frag.kind !== Kind.INLINE_FRAGMENT || frag.selectionSet.selections.some((s) => s.kind !== Kind.FIELD || s.name.value !== '__typename'));
    const operation = print({
      ...doc,
      definitions: [{ ...op, selectionSet: { ...op.selectionSet, selections: [{ ...entities, selectionSet: { ...entitySet, selections } }] } }, ...doc.definitions.slice(1)],
    });
    const sent = new Set(g.variants.values());
    const filter = (sels: readonly QueryPlanSelectionNode[]): QueryPlanSelectionNode[] =>
      sels
        .filter((s) => s.kind !== Kind.FIELD || !hidden.fields.has(s.alias ?? s.name) || sent.has(s.alias ?? s.name))
        .map((s) => (s.kind === Kind.FIELD || !s.selections ? s : { ...s, selections: filter(s.selections) }));
    return { ...fetch, operation, requires: filter(requires) };
  });
}

function compileFetch(fetch: FetchNode, matches: TypeMatcher, hidden: HiddenFields, next: readonly string[]): Step {
  const usages = fetch.variableUsages ?? [];
  const request = { query: fetch.operation, operationName: fetch.operationName };
  const output = compileRewrites(fetch.outputRewrites, matches);
  const input = compileRewrites(fetch.inputRewrites, matches);
  const requires = fetch.requires ? compileRequires(fetch.requires, matches, hidden) : undefined;
  const service = fetch.serviceName;

  const variablesOf = (state: RunState): Record<string, unknown> => {
    const vars: Record<string, unknown> = {};
    for (const name of usages) {
      const v = own(state.variables, name);
      if (v !== undefined) vars[name] = v;
    }
    return vars;
  };

  // Sends one fetch, telling the request's alignment that its continuation will call `next` once it is answered.
  const send = async (state: RunState, variables: Record<string, unknown>, path: (string | number)[]) => {
    const alignment = state.alignment;
    if (!alignment || next.length === 0) return state.call(service, { ...request, variables }, path);
    alignment.sent(next);
    try {
      return await state.call(service, { ...request, variables }, path);
    } finally {
      alignment.answered(next);
    }
  };

  if (!requires) {
    return async (state, cursor) => {
      const res = await send(state, variablesOf(state), cursor.path as (string | number)[]);
      if (res.errors?.length) {
        for (const e of res.errors) state.errors.push(subgraphError(e, service, e.path ? [...pathOf(state, cursor, cursor.objects[0]), ...e.path] : undefined, hidden));
      }
      const data = res.data;
      if (!data) return;
      if (output) output(data);
      for (const o of cursor.objects) deepMerge(o, data);
    };
  }

  return async (state, cursor) => {
    // One representation per distinct entity: the same user under fifty tasks is asked for once.
    const representations: Representation[] = [];
    // The entity each representation was made from, and (only for representations several entities share) the others.
    const firsts: Record<string, unknown>[] = [];
    let others: Map<number, Record<string, unknown>[]> | undefined;
    const index = new RepresentationIndex();
    // Merged answers are shared between equal entities, so the same object can be reached along several paths.
    const seen = new Set<Record<string, unknown>>();
    for (const entity of cursor.objects) {
      if (seen.has(entity)) continue;
      seen.add(entity);
      const rep = requires(entity);
      if (!rep || !rep.__typename) continue;
      if (input) input(rep);
      const at = index.positionOf(rep, representations.length);
      if (at < 0) {
        representations.push(rep);
        firsts.push(entity);
      } else {
        const list = (others ??= new Map()).get(at);
        if (list) list.push(entity);
        else others.set(at, [entity]);
      }
    }
    if (representations.length === 0) return;
    const variables = variablesOf(state);
    if ('representations' in variables) throw new GraphQLError('Variables cannot contain key "representations"');
    variables.representations = representations;
    const held = state.alignment?.hold(service);
    if (held) await held;
    const res = await send(state, variables, cursor.path as (string | number)[]);
    if (res.errors?.length) {
      let located: Map<object, (string | number)[]> | undefined;
      for (const e of res.errors) {
        let path: (string | number)[] | undefined;
        const p = e.path;
        if (p && p[0] === '_entities' && typeof p[1] === 'number') {
          const entity = firsts[p[1]];
          located ??= locate(state.data, cursor.path);
          const base = entity ? located.get(entity) : undefined;
          path = base ? [...base, ...p.slice(2)] : undefined;
        } else if (p) path = [...pathPrefix(cursor.path), ...p];
        state.errors.push(subgraphError(e, service, path, hidden));
      }
    }
    const data = res.data;
    if (!data) return;
    const received = data._entities;
    if (!Array.isArray(received)) throw new GraphQLError(`Expected "data._entities" in the answer of ${service} to be an array`);
    if (received.length !== representations.length) {
      throw new GraphQLError(`Expected "data._entities" of ${service} to contain ${representations.length} elements`);
    }
    for (let i = 0; i < received.length; i++) {
      const r = received[i] as Record<string, unknown> | null;
      const first = firsts[i]!;
      if (r && typeof r === 'object' && !r.__typename) r.__typename = first.__typename;
      if (r && output) output(r);
      deepMerge(first, r);
      const rest = others?.get(i);
      if (rest) for (const e of rest) deepMerge(e, r);
    }
  };
}

function pathOf(state: RunState, cursor: Cursor, object: Record<string, unknown> | undefined): (string | number)[] {
  if (cursor.path.length === 0 || !object) return [];
  return locate(state.data, cursor.path).get(object) ?? pathPrefix(cursor.path);
}

/** A plan path as an error path prefix, up to its first list step. */
function pathPrefix(path: readonly (string | number)[]): (string | number)[] {
  const i = path.indexOf('@');
  return (i < 0 ? path : path.slice(0, i)) as (string | number)[];
}

/**
 * A subgraph error as @apollo/gateway reports it: message kept, path rewritten to the client's, serviceName added.
 * Names the client never wrote are mapped back: the ARG_ALIAS_PREFIX aliases, and the hidden fields of the planning
 * supergraph (asked as `_cos_req_T_f_0: f(args)`, so a subgraph names the alias in its error path) to the real field.
 */
function subgraphError(e: GraphQLFormattedError, serviceName: string, path: (string | number)[] | undefined, hidden: HiddenFields): GraphQLError {
  const extensions = { ...(e.extensions ?? {}), serviceName } as Record<string, unknown>;
  if (typeof extensions.code !== 'string') extensions.code = 'DOWNSTREAM_SERVICE_ERROR';
  return new GraphQLError(e.message || `Error while fetching subquery from service "${serviceName}"`, {
    path: path?.map((k) => (typeof k !== 'string' ? k : k.startsWith(ARG_ALIAS_PREFIX) ? k.slice(ARG_ALIAS_PREFIX.length) : (hidden.fields.get(k)?.name ?? k))),
    extensions,
    originalError: Object.assign(new Error(e.message), { extensions: e.extensions }),
  });
}

const hasOwn = Object.prototype.hasOwnProperty;
function own(o: Record<string, unknown>, key: string): unknown {
  return hasOwn.call(o, key) ? o[key] : undefined;
}

function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** @apollo/gateway's deepMerge: objects merged key by key, equal-length lists element-wise, anything else replaced. */
export function deepMerge(target: Record<string, unknown>, source: unknown): void {
  if (!isObject(source)) return;
  for (const key in source) {
    if (!hasOwn.call(source, key)) continue;
    const s = source[key];
    if (s === undefined) continue;
    const t = hasOwn.call(target, key) ? target[key] : undefined;
    if (t && isObject(s) && isObject(t)) {
      deepMerge(t, s);
    } else if (Array.isArray(s) && Array.isArray(t) && s.length === t.length) {
      for (let i = 0; i < s.length; i++) {
        const se = s[i];
        const te = t[i];
        if (isObject(te) && isObject(se)) deepMerge(te, se);
        else t[i] = se;
      }
    } else setOwn(target, key, s);
  }
}

function mergeInto(target: Representation, source: Representation): void {
  deepMerge(target, source);
}
