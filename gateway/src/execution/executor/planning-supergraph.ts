import {
  Kind,
  parse,
  print,
  visit,
  type ArgumentNode,
  type ConstDirectiveNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type FieldNode,
  type InterfaceTypeDefinitionNode,
  type ObjectTypeDefinitionNode,
  type SelectionNode,
} from 'graphql';

/**
 * The supergraph as the native executor's planner sees it: the loaded one with two workarounds for
 * @apollo/query-planner 2.14.4, computed once per supergraph (never per request). The API schema is unchanged.
 *
 * - Keys: when a field's @requires sends an entity back to a subgraph, the planner takes that subgraph's *first* @key
 *   without external fields (query-graphs' getLocallySatisfiableKey), ignoring `resolvable: false`, so the subgraph
 *   gets a representation it cannot resolve (federation-gateway-audit keys-mashup#0). Here each type's resolvable
 *   `@join__type(key:)` are listed before the non-resolvable ones, so the first key it finds is one it can use.
 * - @requires with conflicting arguments: when two @requires of one type select the same field with different
 *   arguments (`price(currency: "USD")`, `price(currency: "EUR")`), the planner fetches one of them and sends it for
 *   both (requires-with-argument-conflict#0). Here each such field+arguments becomes a hidden field of its own
 *   (HIDDEN_PREFIX…, no arguments, same subgraphs) and the @requires select it instead; the executor asks subgraphs
 *   for the real field under the hidden name as alias, and sends it under the real name in representations, splitting
 *   an `_entities` fetch so that no representation carries two variants of one field (plan.ts).
 */
export interface PlanningSupergraph {
  sdl: string;
  hidden: HiddenFields;
  /**
   * Conflicts left to the planner as it is (it fetches one variant for both): arguments of a field nested inside a
   * @requires selection (`a { b(x: 1) }` vs `a { b(x: 2) }`). The executor logs them when it loads the supergraph.
   */
  warnings: string[];
}

/** A hidden field of the planning supergraph: the real field and arguments it stands for. */
export interface HiddenField {
  name: string;
  arguments: readonly ArgumentNode[];
  /** `Type.field` of the real field: two hidden fields with the same `of` cannot share a representation. */
  of: string;
}

export interface HiddenFields {
  /** By hidden name (unique in the supergraph). */
  readonly fields: ReadonlyMap<string, HiddenField>;
  /** Hidden fields the @requires of `Type.field` selects, by `Type.field`. */
  readonly requiredBy: ReadonlyMap<string, readonly string[]>;
}

export const HIDDEN_PREFIX = '_cos_req_';

export function planningSupergraph(supergraphSdl: string): PlanningSupergraph {
  const doc = parse(supergraphSdl, { noLocation: true });
  const hidden: { fields: Map<string, HiddenField>; requiredBy: Map<string, string[]> } = { fields: new Map(), requiredBy: new Map() };
  const transformed = hideConflictingRequires(resolvableKeysFirst(doc), hidden);
  return { sdl: transformed === doc ? supergraphSdl : print(transformed), hidden, warnings: nestedRequiresConflicts(doc) };
}

const isJoinType = (d: ConstDirectiveNode) => d.name.value === 'join__type';
const isNonResolvable = (d: ConstDirectiveNode) =>
  isJoinType(d) && d.arguments?.some((a) => a.name.value === 'resolvable' && a.value.kind === Kind.BOOLEAN && !a.value.value) === true;

/** Moves `@join__type(..., resolvable: false)` after the other directives of its type (a stable partition). */
function resolvableKeysFirst(doc: DocumentNode): DocumentNode {
  const reorder = (node: { directives?: readonly ConstDirectiveNode[] }) => {
    const dirs = node.directives;
    if (!dirs?.some(isNonResolvable)) return undefined;
    return { ...node, directives: [...dirs.filter((d) => !isNonResolvable(d)), ...dirs.filter(isNonResolvable)] };
  };
  return visit(doc, {
    ObjectTypeDefinition: reorder,
    ObjectTypeExtension: reorder,
    InterfaceTypeDefinition: reorder,
    InterfaceTypeExtension: reorder,
  });
}

const argumentsKey = (args: readonly ArgumentNode[]) =>
  [...args]
    .sort((a, b) => a.name.value.localeCompare(b.name.value))
    .map((a) => `${a.name.value}:${print(a.value)}`)
    .join(',');

function requiresArg(d: ConstDirectiveNode): string | undefined {
  if (d.name.value !== 'join__field') return undefined;
  const v = d.arguments?.find((a) => a.name.value === 'requires')?.value;
  return v?.kind === Kind.STRING ? v.value : undefined;
}

const isExternalJoinField = (d: ConstDirectiveNode) =>
  d.name.value === 'join__field' && d.arguments?.some((a) => a.name.value === 'external' && a.value.kind === Kind.BOOLEAN && a.value.value) === true;

function parseFieldSet(fields: string): readonly SelectionNode[] | undefined {
  try {
    const op = parse(`{${fields}}`, { noLocation: true }).definitions[0];
    return op?.kind === Kind.OPERATION_DEFINITION ? op.selectionSet.selections : undefined;
  } catch {
    return undefined;
  }
}

/** Top-level fields with arguments of a field set (the fields of the entity itself). */
const fieldsWithArguments = (selections: readonly SelectionNode[]): FieldNode[] =>
  selections.filter((s): s is FieldNode => s.kind === Kind.FIELD && (s.arguments?.length ?? 0) > 0);

function hideConflictingRequires(doc: DocumentNode, out: { fields: Map<string, HiddenField>; requiredBy: Map<string, string[]> }): DocumentNode {
  // Pass 1: per type, the argument sets each field is required with; two or more is a conflict.
  const variants = new Map<string, Map<string, Map<string, FieldNode>>>(); // type -> field -> args key -> node
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    for (const field of def.fields ?? []) {
      for (const d of field.directives ?? []) {
        const requires = requiresArg(d);
        if (!requires?.includes('(')) continue;
        for (const f of fieldsWithArguments(parseFieldSet(requires) ?? [])) {
          let byField = variants.get(def.name.value);
          if (!byField) variants.set(def.name.value, (byField = new Map()));
          let byArgs = byField.get(f.name.value);
          if (!byArgs) byField.set(f.name.value, (byArgs = new Map()));
          byArgs.set(argumentsKey(f.arguments ?? []), f);
        }
      }
    }
  }
  // hidden name by type -> field -> args key
  const names = new Map<string, Map<string, Map<string, string>>>();
  for (const [type, byField] of variants) {
    for (const [field, byArgs] of byField) {
      if (byArgs.size < 2) continue;
      let i = 0;
      for (const [key, node] of byArgs) {
        const name = `${HIDDEN_PREFIX}${type}_${field}_${i++}`;
        out.fields.set(name, { name: field, arguments: node.arguments ?? [], of: `${type}.${field}` });
        let t = names.get(type);
        if (!t) names.set(type, (t = new Map()));
        let f = t.get(field);
        if (!f) t.set(field, (f = new Map()));
        f.set(key, name);
      }
    }
  }
  if (names.size === 0) return doc;

  // Pass 2: hidden fields added next to the real ones, @requires rewritten to select them.
  const rewrite = <T extends ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode>(def: T): T | undefined => {
    const byField = names.get(def.name.value);
    if (!byField) return undefined;
    const fields: FieldDefinitionNode[] = [];
    for (const field of def.fields ?? []) {
      const directives = field.directives?.map((d): ConstDirectiveNode => {
        const requires = requiresArg(d);
        const selections = requires ? parseFieldSet(requires) : undefined;
        if (!selections) return d;
        const used: string[] = [];
        const replaced = selections.map((s): SelectionNode => {
          if (s.kind !== Kind.FIELD || !s.arguments?.length) return s;
          const name = byField.get(s.name.value)?.get(argumentsKey(s.arguments));
          if (!name) return s;
          used.push(name);
          return { ...s, name: { kind: Kind.NAME, value: name }, arguments: [] };
        });
        if (used.length === 0) return d;
        out.requiredBy.set(`${def.name.value}.${field.name.value}`, used);
        const text = replaced.map((s) => print(s)).join(' ');
        return {
          ...d,
          arguments: d.arguments?.map((a) => (a.name.value === 'requires' ? { ...a, value: { kind: Kind.STRING, value: text } } : a)),
        };
      });
      const byArgs = byField.get(field.name.value);
      if (!byArgs) {
        fields.push({ ...field, directives });
        continue;
      }
      // Its @requires now select the hidden fields: an external real field left unused would fail subgraph extraction.
      fields.push({ ...field, directives: directives?.filter((d) => !isExternalJoinField(d)) });
      for (const name of byArgs.values()) {
        fields.push({
          ...field,
          name: { kind: Kind.NAME, value: name },
          arguments: [],
          description: undefined,
          // The real field's subgraphs (and external-ness), without its own @requires/@provides.
          directives: field.directives
            ?.filter((d) => d.name.value === 'join__field')
            .map((d) => ({ ...d, arguments: d.arguments?.filter((a) => a.name.value !== 'requires' && a.name.value !== 'provides') })),
        });
      }
    }
    return { ...def, fields };
  };
  return visit(doc, { ObjectTypeDefinition: rewrite, InterfaceTypeDefinition: rewrite });
}

/**
 * Fields nested in @requires selections (not the entity's own fields, which hideConflictingRequires handles) that two
 * @requires of one type select with different arguments, e.g. `a { b(x: 1) }` and `a { b(x: 2) }`: the planner sends
 * one variant for both. Not rewritten (a hidden field would have to live on the nested type, and the @requires split
 * by variant below the entity): reported, so the wrong answer is known, and planned as @apollo/gateway would.
 */
function nestedRequiresConflicts(doc: DocumentNode): string[] {
  const variants = new Map<string, Set<string>>(); // `Type: a.b` -> argument keys
  const walk = (type: string, prefix: string, selections: readonly SelectionNode[], nested: boolean) => {
    for (const s of selections) {
      if (s.kind === Kind.INLINE_FRAGMENT) walk(type, prefix, s.selectionSet.selections, nested);
      if (s.kind !== Kind.FIELD) continue;
      const at = `${prefix}${s.name.value}`;
      if (nested) {
        const key = `${type}: ${at}`;
        let set = variants.get(key);
        if (!set) variants.set(key, (set = new Set()));
        set.add(argumentsKey(s.arguments ?? []));
      }
      if (s.selectionSet) walk(type, `${at}.`, s.selectionSet.selections, true);
    }
  };
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    for (const field of def.fields ?? []) {
      for (const d of field.directives ?? []) {
        const requires = requiresArg(d);
        if (requires?.includes('(')) walk(def.name.value, '', parseFieldSet(requires) ?? [], false);
      }
    }
  }
  return [...variants]
    .filter(([, keys]) => keys.size > 1)
    .map(
      ([at, keys]) =>
        `@requires of ${at.split(':')[0]} select ${at.split(': ')[1]} with different arguments ${[...keys].map((k) => `(${k})`).join(', ')}: ` +
        'the query planner fetches one of them for all (not worked around below the entity\'s own fields)',
    );
}
