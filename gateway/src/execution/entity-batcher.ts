import DataLoader from 'dataloader';
import { Kind, parse, type GraphQLFormattedError } from 'graphql';
import { RepresentationIndex } from './representation-index';

/**
 * Entity-fetch batching. A query plan's `Parallel` node often holds several `_entities` fetches to the same subgraph
 * (the bench page: assignee, createdBy and comments.author all ask identity for `User { name }`). Each would be its
 * own HTTP round trip and its own subgraph execution; here the fetches of ONE client request to ONE subgraph that are
 * issued in the same tick go out as one HTTP request:
 * - fetches with the same selection share one `_entities` field whose representations are de-duplicated;
 * - fetches with different selections become aliased `_entities` fields of the same operation (e0, e1, ...);
 * - the answer is split back per fetch, in its own representation order, with its own objects (@apollo/gateway
 *   mutates and merges into the results it gets) and with entity errors re-pathed to `["_entities", i, ...]`.
 * Anything that is not a plain single-`_entities` query is not handled here (the caller sends it as is).
 */

/**
 * One subgraph answer as the transport returns it: text, so that deduplicated callers can parse it each (each caller
 * gets its own SubgraphAnswer object). Read the text once, with takeText.
 */
export interface SubgraphAnswer {
  text: string;
  cacheControl: string | null;
}

/**
 * The answer's text, handed over: the answer lets go of it. An answer object is the settled value of several promises
 * of the exchange (in-flight sharing, retry policy, async steps); when one of them lived through two scavenges it is
 * in V8's old generation, and anything it still reaches stays alive until the next mark-compact. On the Guild
 * workload the subgraph texts were most of what outlived a scavenge (~60–70 KiB per request, `BENCH_PROFILE=
 * heap-survivors pnpm bench guild`); handed over, ~1 KiB.
 */
export function takeText(answer: SubgraphAnswer): string {
  const text = answer.text;
  answer.text = '';
  return text;
}

/** The GraphQL request body sent to a subgraph. */
export interface SubgraphPayload {
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
}

/** What one entity fetch gets back: a GraphQL response of its own (never shared with another fetch). */
export interface EntityFetchResult {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
  extensions?: Record<string, unknown>;
}

/** Sends one payload for a client request (signing, in-flight dedup and timeouts are the transport's business). */
export type SendPayload<C> = (ctx: C, payload: SubgraphPayload) => Promise<SubgraphAnswer>;

/** Counters for metrics and the bench; HTTP requests saved = `fetches - requests`. */
export interface EntityBatchStats {
  /** Entity fetches that went through the batcher. */
  fetches: number;
  /** HTTP requests the batcher sent for them. */
  requests: number;
  /** Fetches that shared their HTTP request with at least one other fetch. */
  merged: number;
  /** Representations left out of a request because an earlier one in it was identical. */
  representationsDeduplicated: number;
  /** Fetches sent again on their own because the merged field they were part of failed as a whole. */
  retried: number;
}

/** The parts of a plain `_entities` query that merging needs, sliced from its text. */
interface EntityShape {
  operationName: string | undefined;
  /** The representations variable: its name and its type as written (`[_Any!]!`). */
  variableName: string;
  variableType: string;
  /** The `_entities` field's selection set, braces included. */
  selection: string;
  /** Fragment definitions by name, as written. */
  fragments: Map<string, string>;
  /** Fetches with equal keys ask for the same fields: selection plus fragments (the operation name does not matter). */
  key: string;
}

interface EntityFetch<C> {
  ctx: C;
  shape: EntityShape;
  representations: unknown[];
  /** The request as @apollo/gateway built it: sent unchanged when there is nothing to merge. */
  original: SubgraphPayload;
}

/** Fetches sharing one `_entities` field of a request. */
interface Group<C> {
  alias: string;
  shape: EntityShape;
  fetches: EntityFetch<C>[];
  /** For each fetch of the group, the merged index of each of its representations. */
  positions: number[][];
  representations: unknown[];
}

interface PlannedRequest<C> {
  payload: SubgraphPayload;
  groups: Group<C>[];
  /** A single fetch without duplicate representations: its own answer is returned as is. */
  unchanged: boolean;
}

type Outcome = { result: EntityFetchResult; cacheControl: string | null } | Error;

const SHAPE_CACHE_MAX = 2_000;
/** Query texts come from the plan cache, so a few hundred distinct ones is typical; the bound only guards memory. */
const shapes = new Map<string, EntityShape | null>();

/**
 * The shape of `query` if it is exactly `query [Name]($r: [_Any!]!) { _entities(representations: $r) { ... } }` plus
 * fragment definitions; null for anything else (root fetches, mutations, other variables, directives, aliases).
 */
export function entityShapeOf(query: string): EntityShape | null {
  const cached = shapes.get(query);
  if (cached !== undefined) return cached;
  let shape: EntityShape | null;
  try {
    shape = analyse(query);
  } catch {
    shape = null; // not parseable here: the subgraph will say why
  }
  if (shapes.size >= SHAPE_CACHE_MAX) {
    const oldest = shapes.keys().next();
    if (!oldest.done) shapes.delete(oldest.value);
  }
  shapes.set(query, shape);
  return shape;
}

function analyse(query: string): EntityShape | null {
  const doc = parse(query);
  let operation: (typeof doc.definitions)[number] | undefined;
  const fragments = new Map<string, string>();
  for (const def of doc.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) {
      if (operation) return null;
      operation = def;
    } else if (def.kind === Kind.FRAGMENT_DEFINITION) {
      if (fragments.has(def.name.value) || !def.loc) return null;
      fragments.set(def.name.value, query.slice(def.loc.start, def.loc.end));
    } else {
      return null;
    }
  }
  if (!operation || operation.kind !== Kind.OPERATION_DEFINITION || operation.operation !== 'query') return null;
  if (operation.directives?.length || operation.variableDefinitions?.length !== 1) return null;
  const variable = operation.variableDefinitions[0];
  if (!variable || variable.defaultValue || variable.directives?.length || !variable.type.loc) return null;
  const selections = operation.selectionSet.selections;
  const field = selections[0];
  if (selections.length !== 1 || !field || field.kind !== Kind.FIELD) return null;
  if (field.name.value !== '_entities' || field.alias || field.directives?.length || !field.selectionSet?.loc) return null;
  const arg = field.arguments?.[0];
  if (field.arguments?.length !== 1 || !arg || arg.name.value !== 'representations') return null;
  if (arg.value.kind !== Kind.VARIABLE || arg.value.name.value !== variable.variable.name.value) return null;
  const selection = query.slice(field.selectionSet.loc.start, field.selectionSet.loc.end);
  const fragmentText = [...fragments.keys()]
    .sort()
    .map((name) => fragments.get(name))
    .join('\n');
  return {
    operationName: operation.name?.value,
    variableName: variable.variable.name.value,
    variableType: query.slice(variable.type.loc.start, variable.type.loc.end),
    selection,
    fragments,
    key: `${selection}\n${fragmentText}`,
  };
}

/**
 * The client request's entity loaders, one per batcher (subgraph), held by the request context itself. Not a WeakMap
 * keyed by the context: a loader reaches its context (its batch's fetches carry it), and V8's scavenger cannot free
 * a WeakMap entry whose value reaches its key — only a mark-compact can. Every request's context, loaders, fetches and
 * whatever they reach would survive every scavenge and be promoted to the old generation (~36 KiB per request on the
 * Guild workload, the bulk of what was promoted), making mark-compacts under load several times more frequent.
 */
const LOADERS = Symbol('cos.entityLoaders');
function loadersOf<C extends object>(ctx: C): Map<EntityBatcher<C>, DataLoader<EntityFetch<C>, Outcome>> {
  const holder = ctx as { [LOADERS]?: Map<EntityBatcher<C>, DataLoader<EntityFetch<C>, Outcome>> };
  return (holder[LOADERS] ??= new Map());
}

/**
 * Per client request and per subgraph batching of entity fetches (one instance per subgraph data source; the
 * DataLoader behind it is per client request context, so fetches of different requests — and principals — never
 * share an HTTP request).
 */
export class EntityBatcher<C extends object> {
  readonly stats: EntityBatchStats = { fetches: 0, requests: 0, merged: 0, representationsDeduplicated: 0, retried: 0 };

  constructor(private readonly send: SendPayload<C>) {}

  /**
   * Queues an entity fetch of the client request `ctx` and resolves with its own answer; null when `payload` is not a
   * plain `_entities` query (the caller sends it itself). Rejects with the transport's error when the shared HTTP
   * request failed.
   */
  load(ctx: C, payload: SubgraphPayload): Promise<{ result: EntityFetchResult; cacheControl: string | null }> | null {
    const shape = entityShapeOf(payload.query);
    if (!shape) return null;
    const vars = Object.keys(payload.variables);
    const representations = payload.variables[shape.variableName];
    if (vars.length !== 1 || !Array.isArray(representations)) return null;
    const loaders = loadersOf<C>(ctx);
    let loader = loaders.get(this);
    if (!loader) {
      loader = new DataLoader<EntityFetch<C>, Outcome>((fetches) => this.dispatch(fetches), {
        cache: false,
        // setImmediate, not the default microtask: @apollo/gateway starts a Parallel node's fetches from separate
        // async functions, so the whole node is only collected once the microtask queue has drained.
        batchScheduleFn: (run) => setImmediate(run),
      });
      loaders.set(this, loader);
    }
    this.stats.fetches++;
    return loader.load({ ctx, shape, representations, original: payload }).then((o) => {
      if (o instanceof Error) throw o;
      return o;
    });
  }

  private async dispatch(fetches: readonly EntityFetch<C>[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array<Outcome>(fetches.length);
    const index = new Map<EntityFetch<C>, number>(fetches.map((f, i) => [f, i]));
    await Promise.all(
      planRequests(fetches).map(async (planned) => {
        this.stats.requests++;
        const count = planned.groups.reduce((n, g) => n + g.fetches.length, 0);
        if (count > 1) this.stats.merged += count;
        for (const g of planned.groups) {
          this.stats.representationsDeduplicated += g.fetches.reduce((n, f) => n + f.representations.length, 0) - g.representations.length;
        }
        const first = planned.groups[0]?.fetches[0];
        if (!first) return;
        let retry: EntityFetch<C>[] = [];
        try {
          const answer = await this.send(first.ctx, planned.payload);
          const split = splitAnswer(planned, takeText(answer));
          for (const [fetch, result] of split.results) outcomes[index.get(fetch)!] = { result, cacheControl: answer.cacheControl };
          retry = split.failedAsAWhole;
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          for (const g of planned.groups) for (const f of g.fetches) outcomes[index.get(f)!] = error;
        }
        // A merged `_entities` field that failed as a whole (one representation's resolver threw outside its item, or
        // the error nulled `data`) would take fetches down that alone would have succeeded: those go again, unmerged.
        this.stats.retried += retry.length;
        this.stats.requests += retry.length;
        await Promise.all(
          retry.map(async (fetch) => {
            try {
              const answer = await this.send(fetch.ctx, fetch.original);
              outcomes[index.get(fetch)!] = { result: parseAnswer(takeText(answer)), cacheControl: answer.cacheControl };
            } catch (err) {
              outcomes[index.get(fetch)!] = err instanceof Error ? err : new Error(String(err));
            }
          }),
        );
      }),
    );
    return outcomes;
  }
}

/** Representations the index can key (anything else is sent as is, never merged with another). */
const isObjectLike = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Groups fetches by selection (one `_entities` field each, representations de-duplicated by content:
 * RepresentationIndex) and packs groups into as few requests as their fragment definitions allow: two fragments of the
 * same name but different text cannot share an operation.
 */

function planRequests<C>(fetches: readonly EntityFetch<C>[]): PlannedRequest<C>[] {
  const groups = new Map<string, Group<C>>();
  const seen = new Map<Group<C>, RepresentationIndex>();
  for (const fetch of fetches) {
    let group = groups.get(fetch.shape.key);
    if (!group) {
      group = { alias: '', shape: fetch.shape, fetches: [], positions: [], representations: [] };
      groups.set(fetch.shape.key, group);
      seen.set(group, new RepresentationIndex());
    }
    const index = seen.get(group)!;
    const positions: number[] = [];
    for (const rep of fetch.representations) {
      let at = isObjectLike(rep) ? index.positionOf(rep, group.representations.length) : -1;
      if (at < 0) {
        at = group.representations.length;
        group.representations.push(rep);
      }
      positions.push(at);
    }
    group.fetches.push(fetch);
    group.positions.push(positions);
  }

  const bins: { groups: Group<C>[]; fragments: Map<string, string> }[] = [];
  for (const group of groups.values()) {
    let bin = bins.find((b) => [...group.shape.fragments].every(([name, text]) => (b.fragments.get(name) ?? text) === text));
    if (!bin) {
      bin = { groups: [], fragments: new Map() };
      bins.push(bin);
    }
    bin.groups.push(group);
    for (const [name, text] of group.shape.fragments) bin.fragments.set(name, text);
  }
  return bins.map((bin) => buildRequest(bin.groups, bin.fragments));
}

function buildRequest<C>(groups: Group<C>[], fragments: Map<string, string>): PlannedRequest<C> {
  const only = groups.length === 1 ? groups[0] : undefined;
  if (only) {
    const first = only.fetches[0]!;
    only.alias = '_entities';
    // One selection: the first fetch's own operation text, only its representations list changes.
    const unchanged = only.fetches.length === 1 && only.representations.length === first.representations.length;
    const payload: SubgraphPayload = unchanged
      ? first.original
      : { ...first.original, variables: { [only.shape.variableName]: only.representations } };
    return { payload, groups, unchanged };
  }
  const operationName = groups[0]?.shape.operationName;
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  const fields: string[] = [];
  groups.forEach((g, i) => {
    g.alias = `e${i}`;
    variables[`r${i}`] = g.representations;
    definitions.push(`$r${i}:${g.shape.variableType}`);
    fields.push(`e${i}:_entities(representations:$r${i})${g.shape.selection}`);
  });
  const query = `query${operationName ? ` ${operationName}` : ''}(${definitions.join(',')}){${fields.join(' ')}}${[...fragments.values()].map((f) => `\n${f}`).join('')}`;
  return { payload: { query, ...(operationName ? { operationName } : {}), variables }, groups, unchanged: false };
}

function parseAnswer(text: string): EntityFetchResult {
  const parsed: unknown = JSON.parse(text);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Expected a JSON object from the subgraph');
  return parsed as EntityFetchResult;
}

/**
 * One answer per fetch of `planned`, from the subgraph's answer text; fetches that shared a field which failed as a
 * whole (no list: null `data` or a null field) are listed in `failedAsAWhole` instead, unless nothing was merged
 * for them (then the answer is what they would have got alone).
 */
function splitAnswer<C>(
  planned: PlannedRequest<C>,
  text: string,
): { results: Map<EntityFetch<C>, EntityFetchResult>; failedAsAWhole: EntityFetch<C>[] } {
  const body = parseAnswer(text);
  const results = new Map<EntityFetch<C>, EntityFetchResult>();
  const failedAsAWhole: EntityFetch<C>[] = [];
  if (planned.unchanged) {
    results.set(planned.groups[0]!.fetches[0]!, body);
    return { results, failedAsAWhole };
  }
  const data = body.data;
  const aliases = new Set(planned.groups.map((g) => g.alias));
  const alone = planned.groups.length === 1 && planned.groups[0]!.fetches.length === 1;
  for (const group of planned.groups) {
    const merged = data?.[group.alias];
    if (!Array.isArray(merged) && !alone) {
      failedAsAWhole.push(...group.fetches);
      continue;
    }
    // The first use of a merged entity takes the parsed object, every further use a copy of it.
    const used = new Array<boolean>(group.representations.length).fill(false);
    const take = (i: number): unknown => {
      const value = Array.isArray(merged) ? merged[i] : undefined;
      if (value === undefined) return null;
      if (!used[i]) {
        used[i] = true;
        return value;
      }
      return cloneJson(value);
    };
    group.fetches.forEach((fetch, f) => {
      const positions = group.positions[f]!;
      const result: EntityFetchResult = {
        data: data == null ? null : { _entities: Array.isArray(merged) ? positions.map(take) : (merged ?? null) },
      };
      const errors = body.errors ? errorsFor(body.errors, group.alias, positions, aliases) : [];
      if (errors.length > 0) result.errors = errors;
      if (body.extensions) result.extensions = cloneJson(body.extensions) as Record<string, unknown>;
      results.set(fetch, result);
    });
  }
  return { results, failedAsAWhole };
}

/**
 * The errors of a merged answer that concern one fetch, re-pathed to its own `_entities` list: `[alias, i, ...rest]`
 * becomes `["_entities", p, ...rest]` for every position p of the fetch that maps to merged index i. Errors without
 * such a path concern every fetch; errors of another field of the request do not concern this one.
 */
function errorsFor(errors: GraphQLFormattedError[], alias: string, positions: number[], aliases: Set<string>): GraphQLFormattedError[] {
  const out: GraphQLFormattedError[] = [];
  for (const error of errors) {
    const [head, at, ...rest] = error.path ?? [];
    if (typeof head !== 'string' || !aliases.has(head)) {
      out.push(cloneJson(error) as GraphQLFormattedError);
    } else if (head !== alias) {
      continue;
    } else if (typeof at !== 'number') {
      out.push({ ...(cloneJson(error) as GraphQLFormattedError), path: at === undefined ? ['_entities'] : ['_entities', at, ...rest] });
    } else {
      positions.forEach((merged, p) => {
        if (merged === at) out.push({ ...(cloneJson(error) as GraphQLFormattedError), path: ['_entities', p, ...rest] });
      });
    }
  }
  return out;
}

/** A deep copy of a value parsed from JSON (plain objects, arrays, primitives). */
function cloneJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) copy[k] = cloneJson(v);
  return copy;
}
