import {
  GraphQLError,
  Kind,
  getOperationAST,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { getArgumentValues } from 'graphql/execution/values.js';
import { SUBSCRIPTION_FIELDS, type SubscriptionFieldSpec } from './fields';

/** One `task { ... }` (or the whole field, for entity-returning fields) to look up per event. */
interface EntityPart {
  /** Response key inside the wrapper, or null when the field returns the entity itself. */
  responseKey: string | null;
  selection: SelectionSetNode;
}

/** What a subscription operation asks for, reduced to what the engine needs per event. */
export interface Shape {
  fieldName: string;
  spec: SubscriptionFieldSpec;
  /** Response key of the subscription field (its alias or name). */
  responseKey: string;
  args: Record<string, unknown>;
  /** Wrapper fields in selection order: response key → what fills it. */
  wrapperFields: Array<{ responseKey: string; source: 'cursor' | 'kind' | '__typename' | 'entity'; part?: number }>;
  parts: EntityPart[];
  variableDefinitions: VariableDefinitionNode[];
  variables: Record<string, unknown>;
  fragments: FragmentDefinitionNode[];
  /** Identity of the resolution: same key + same permissions + same event = same result (dedup). */
  key: string;
}

const bad = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

function collectFields(sel: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, out: FieldNode[] = []): FieldNode[] {
  for (const s of sel.selections) {
    if (s.kind === Kind.FIELD) out.push(s);
    else if (s.kind === Kind.INLINE_FRAGMENT) collectFields(s.selectionSet, fragments, out);
    else {
      const f = fragments.get(s.name.value);
      if (f) collectFields(f.selectionSet, fragments, out);
    }
  }
  return out;
}

/** Variables and fragments a selection set uses, transitively. */
function usage(sels: SelectionSetNode[], fragments: Map<string, FragmentDefinitionNode>) {
  const vars = new Set<string>();
  const frags = new Set<string>();
  const queue: SelectionSetNode[] = [...sels];
  while (queue.length) {
    const node = queue.pop()!;
    visit(node, {
      Variable: (v) => {
        vars.add(v.name.value);
      },
      FragmentSpread: (s) => {
        if (!frags.has(s.name.value)) {
          frags.add(s.name.value);
          const f = fragments.get(s.name.value);
          if (f) queue.push(f.selectionSet);
        }
      },
    });
  }
  return { vars, frags };
}

/**
 * Reduces a validated subscription operation to a Shape. Throws GraphQLError for operations the engine cannot
 * serve (not a subscription, an unmapped field, a wrapper field it does not know).
 */
export function analyse(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Record<string, unknown> | null | undefined,
): Shape {
  const op = getOperationAST(document, operationName ?? undefined);
  if (!op) throw bad('Unknown operation');
  if (op.operation !== 'subscription') throw bad('Only subscriptions are served here; send queries and mutations over HTTP');
  const subType = schema.getSubscriptionType();
  if (!subType) throw bad('This graph has no subscriptions');
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const roots = collectFields(op.selectionSet, fragments).filter((f) => f.name.value !== '__typename');
  if (roots.length !== 1) throw bad('A subscription selects exactly one field');
  const field = roots[0]!;
  const fieldName = field.name.value;
  const spec = SUBSCRIPTION_FIELDS[fieldName];
  const fieldDef = subType.getFields()[fieldName];
  if (!spec || !fieldDef) throw bad(`Subscription field "${fieldName}" is not served by this gateway`);
  const variables = variableValues ?? {};
  const args = getArgumentValues(fieldDef, field, variables);
  const responseKey = field.alias?.value ?? fieldName;
  if (!field.selectionSet) throw bad(`Subscription field "${fieldName}" needs a selection`);

  const wrapperFields: Shape['wrapperFields'] = [];
  const parts: EntityPart[] = [];
  if (spec.wrapper) {
    for (const f of collectFields(field.selectionSet, fragments)) {
      const key = f.alias?.value ?? f.name.value;
      if (wrapperFields.some((w) => w.responseKey === key)) continue;
      const name = f.name.value;
      if (name === 'cursor' || name === 'kind' || name === '__typename') wrapperFields.push({ responseKey: key, source: name });
      else if (name === spec.wrapper.entityField && f.selectionSet) {
        wrapperFields.push({ responseKey: key, source: 'entity', part: parts.length });
        parts.push({ responseKey: key, selection: f.selectionSet });
      } else throw bad(`Unsupported field "${name}" on ${spec.wrapper.typename}`);
    }
  } else {
    parts.push({ responseKey: null, selection: field.selectionSet });
  }
  const used = usage(
    parts.map((p) => p.selection),
    fragments,
  );
  const variableDefinitions = (op.variableDefinitions ?? []).filter((d) => used.vars.has(d.variable.name.value));
  const usedValues: Record<string, unknown> = {};
  for (const d of variableDefinitions) usedValues[d.variable.name.value] = variables[d.variable.name.value];
  const fragmentDefs = [...fragments.values()].filter((f) => used.frags.has(f.name.value));
  const key = JSON.stringify([
    fieldName,
    responseKey,
    wrapperFields.map((w) => [w.responseKey, w.source, w.part]),
    parts.map((p) => print(p.selection)),
    variableDefinitions.map(print),
    usedValues,
    fragmentDefs.map(print),
  ]);
  return {
    fieldName,
    spec,
    responseKey,
    args,
    wrapperFields,
    parts,
    variableDefinitions,
    variables: usedValues,
    fragments: fragmentDefs,
    key,
  };
}

/** Alias of part `p` for the `i`-th distinct entity of a batch. */
export const aliasOf = (i: number, p: number) => `e${i}_${p}`;
export const CHILD_KEY = 'cosKey__';

/**
 * One lookup operation for a batch of entity ids: `query($i0: ID!, ...) { e0_0: task(id: $i0) { ...selection } ... }`.
 * Ids are variables so the text depends only on the batch size (parse and query-plan caches hit); the planner
 * merges the entity fetches of all aliases into one fetch per subgraph, and the subgraphs' DataLoaders make that one
 * SQL query per entity type.
 */
export function lookupDocument(shape: Shape, count: number): string {
  const idVars = Array.from({ length: count }, (_, i) => `$cosId${i}: ID!`);
  const defs = [...idVars, ...shape.variableDefinitions.map(print)];
  const body: string[] = [];
  for (let i = 0; i < count; i++) {
    shape.parts.forEach((part, p) => {
      const sel = print(part.selection);
      const inner = shape.spec.through ? `{ ${shape.spec.through.list} { ${CHILD_KEY}: id ${sel.slice(1, -1)} } }` : sel;
      body.push(`${aliasOf(i, p)}: ${shape.spec.lookup}(id: $cosId${i}) ${inner}`);
    });
  }
  return `query CosSubscriptionLookup(${defs.join(', ')}) {\n${body.join('\n')}\n}\n${shape.fragments.map(print).join('\n')}`;
}
