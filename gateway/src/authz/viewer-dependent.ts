import {
  Kind,
  TypeInfo,
  BREAK,
  parse,
  visit,
  visitWithTypeInfo,
  type ConstDirectiveNode,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { requirementsFromSupergraph, type RequirementMap } from './requirements';

/**
 * Subgraphs whose data access depends on the individual caller, not only on org/role/scopes: identity's tables use
 * row-level security on `app.user_id` (identity/migrations/0001_init.sql: a user's own memberships and tokens), so
 * what it answers may differ between two members of one org with the same role. Fields only it resolves are
 * treated as viewer-dependent.
 */
export const VIEWER_SCOPED_SUBGRAPHS: readonly string[] = ['IDENTITY'];

/**
 * What the supergraph says about fields whose answer depends on who the viewer is (beyond org, role and scopes):
 * - a field with a `@policy` requirement (directly or through its type): policies are functions of the caller and
 *   decide per object (User.email: the user themself, or an admin of a shared org);
 * - a field only a viewer-scoped subgraph resolves (VIEWER_SCOPED_SUBGRAPHS).
 * `@authenticated` / `@requiresScopes` depend on kind, role and scopes only (authz/engine.ts principalFingerprint).
 */
export interface ViewerDependence {
  /** `Type.field` keys that are viewer-dependent. */
  readonly fields: ReadonlySet<string>;
}

const str = (d: ConstDirectiveNode, arg: string): string | undefined => {
  const v = d.arguments?.find((a) => a.name.value === arg)?.value;
  return v?.kind === Kind.ENUM || v?.kind === Kind.STRING ? v.value : undefined;
};

/** Reads the viewer-dependent fields of a composed supergraph (its join__ directives and security requirements). */
export function viewerDependenceFromSupergraph(
  supergraphSdl: string,
  requirements: RequirementMap = requirementsFromSupergraph(supergraphSdl),
  viewerScoped: readonly string[] = VIEWER_SCOPED_SUBGRAPHS,
): ViewerDependence {
  const fields = new Set<string>();
  for (const [key, req] of requirements) if (req.policies) fields.add(key);
  const doc = parse(supergraphSdl, { noLocation: true });
  for (const def of doc.definitions) {
    if (
      def.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      def.kind !== Kind.OBJECT_TYPE_EXTENSION &&
      def.kind !== Kind.INTERFACE_TYPE_DEFINITION &&
      def.kind !== Kind.INTERFACE_TYPE_EXTENSION
    ) {
      continue;
    }
    const typeGraphs = (def.directives ?? []).filter((d) => d.name.value === 'join__type').map((d) => str(d, 'graph'));
    for (const f of def.fields ?? []) {
      if (f.name.value.startsWith('__')) continue;
      const own = (f.directives ?? []).filter((d) => d.name.value === 'join__field' && str(d, 'external') !== 'true');
      // No @join__field: every subgraph of the type resolves it (a key field, a value type): viewer-scoped only if all are.
      const graphs = own.length > 0 ? own.map((d) => str(d, 'graph')) : typeGraphs;
      if (graphs.length > 0 && graphs.every((g) => g !== undefined && viewerScoped.includes(g))) fields.add(`${def.name.value}.${f.name.value}`);
    }
  }
  return { fields };
}

/** Whether an operation (e.g. a subscription's lookup document) reads any viewer-dependent field. */
export function isViewerDependent(schema: GraphQLSchema, document: DocumentNode, dependence: ViewerDependence): boolean {
  const typeInfo = new TypeInfo(schema);
  let found = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (!parent || node.name.value.startsWith('__')) return undefined;
        if (dependence.fields.has(`${parent.name}.${node.name.value}`)) {
          found = true;
          return BREAK;
        }
        return undefined;
      },
    }),
  );
  return found;
}

/**
 * Memoised verdicts per selection shape for the current supergraph (computed once per shape; a supergraph reload
 * starts over). Before any supergraph is known every selection counts as viewer-dependent (fail closed).
 */
export class ViewerDependenceCache {
  private dependence: ViewerDependence | null = null;
  private readonly verdicts = new Map<string, boolean>();

  constructor(supergraphSdl?: string) {
    if (supergraphSdl) this.update(supergraphSdl);
  }

  update(supergraphSdl: string): void {
    this.dependence = viewerDependenceFromSupergraph(supergraphSdl);
    this.verdicts.clear();
  }

  /** `key` identifies the selection (Shape.key); `document` is built only on a miss. */
  check(key: string, schema: GraphQLSchema, document: () => DocumentNode): boolean {
    if (!this.dependence) return true;
    let v = this.verdicts.get(key);
    if (v === undefined) {
      v = isViewerDependent(schema, document(), this.dependence);
      // Shapes are keyed by their selection text: bounded by what clients send, but keep the map from growing forever.
      if (this.verdicts.size >= 10_000) this.verdicts.clear();
      this.verdicts.set(key, v);
    }
    return v;
  }
}
