import { Kind, parse, print, visit, type ConstDirectiveNode, type DocumentNode } from 'graphql';

/**
 * The supergraph as the native executor's planner sees it: the loaded one with two workarounds for
 * @apollo/query-planner 2.14.4, computed once per supergraph (never per request). The API schema is unchanged.
 *
 * - Keys: when a field's @requires sends an entity back to a subgraph, the planner takes that subgraph's *first* @key
 *   without external fields (query-graphs' getLocallySatisfiableKey), ignoring `resolvable: false`, so the subgraph
 *   gets a representation it cannot resolve (federation-gateway-audit keys-mashup#0). Here each type's resolvable
 *   `@join__type(key:)` are listed before the non-resolvable ones, so the first key it finds is one it can use.
 */
export function planningSupergraph(supergraphSdl: string): string {
  const doc = parse(supergraphSdl, { noLocation: true });
  const reordered = resolvableKeysFirst(doc);
  return reordered === doc ? supergraphSdl : print(reordered);
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
