import {
  Kind,
  parse,
  type ConstDirectiveNode,
  type ConstValueNode,
  type DocumentNode,
  type TypeNode,
} from 'graphql';

/**
 * What a field needs, in disjunctive normal form like the directives themselves: `scopes: [["a","b"],["c"]]` means
 * (a AND b) OR c. `null` = no such requirement.
 */
export interface FieldRequirement {
  authenticated: boolean;
  scopes: string[][] | null;
  policies: string[][] | null;
}

/** `Type.field` → requirement, for every field that has one (directly or through its return type). */
export type RequirementMap = ReadonlyMap<string, FieldRequirement>;

const SPEC_NAMES = {
  authenticated: 'https://specs.apollo.dev/authenticated/',
  requiresScopes: 'https://specs.apollo.dev/requiresScopes/',
  policy: 'https://specs.apollo.dev/policy/',
} as const;
type SpecName = keyof typeof SPEC_NAMES;

const strValue = (v: ConstValueNode | undefined): string | undefined => (v?.kind === Kind.STRING ? v.value : undefined);

/** `[[String!]!]!` argument value → string[][] (tolerates a single list, as GraphQL input coercion does). */
function dnf(v: ConstValueNode | undefined): string[][] {
  if (!v) return [];
  if (v.kind !== Kind.LIST) return strValue(v) ? [[strValue(v) as string]] : [];
  return v.values.map((inner) =>
    inner.kind === Kind.LIST ? inner.values.map(strValue).filter((s): s is string => !!s) : [strValue(inner) ?? ''],
  );
}

/** AND of two DNFs: every pair of alternatives joined. */
export function andDnf(a: string[][] | null, b: string[][] | null): string[][] | null {
  if (!a) return b;
  if (!b) return a;
  const out: string[][] = [];
  for (const x of a) for (const y of b) out.push([...new Set([...x, ...y])]);
  return out;
}

function mergeRequirement(a: FieldRequirement | undefined, b: FieldRequirement | undefined): FieldRequirement | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    authenticated: a.authenticated || b.authenticated,
    scopes: andDnf(a.scopes, b.scopes),
    policies: andDnf(a.policies, b.policies),
  };
}

/** The directive names the supergraph uses for the three security specs (`@link(url:, as:)`). */
function securityDirectiveNames(doc: DocumentNode): Record<SpecName, string> {
  const names: Record<SpecName, string> = { authenticated: 'authenticated', requiresScopes: 'requiresScopes', policy: 'policy' };
  for (const def of doc.definitions) {
    if (def.kind !== Kind.SCHEMA_DEFINITION && def.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const d of def.directives ?? []) {
      if (d.name.value !== 'link') continue;
      const url = strValue(d.arguments?.find((a) => a.name.value === 'url')?.value);
      const as = strValue(d.arguments?.find((a) => a.name.value === 'as')?.value);
      for (const spec of Object.keys(SPEC_NAMES) as SpecName[]) {
        if (url?.startsWith(SPEC_NAMES[spec]) && as) names[spec] = as;
      }
    }
  }
  return names;
}

function requirementOf(directives: readonly ConstDirectiveNode[] | undefined, names: Record<SpecName, string>) {
  let req: FieldRequirement | undefined;
  for (const d of directives ?? []) {
    const arg = (n: string) => d.arguments?.find((a) => a.name.value === n)?.value;
    if (d.name.value === names.authenticated) {
      req = mergeRequirement(req, { authenticated: true, scopes: null, policies: null });
    } else if (d.name.value === names.requiresScopes) {
      req = mergeRequirement(req, { authenticated: true, scopes: dnf(arg('scopes')), policies: null });
    } else if (d.name.value === names.policy) {
      // Router evaluates policies for anonymous callers too; ours are functions of the caller, see policies.ts.
      req = mergeRequirement(req, { authenticated: false, scopes: null, policies: dnf(arg('policies')) });
    }
  }
  return req;
}

const namedType = (t: TypeNode): string => (t.kind === Kind.NAMED_TYPE ? t.name.value : namedType(t.type));

/**
 * Reads @authenticated / @requiresScopes / @policy from a composed supergraph (they survive composition as
 * applications on the supergraph's type and field definitions). Semantics as Apollo Router's:
 * - on a field: the field needs it;
 * - on a type (object, interface, scalar, enum): every field returning that type needs it;
 * - a field read through an interface needs what each implementation's field needs (so fragments on the interface
 *   cannot bypass a rule on the implementation).
 */
export function requirementsFromSupergraph(supergraphSdl: string): RequirementMap {
  const doc = parse(supergraphSdl, { noLocation: true });
  const names = securityDirectiveNames(doc);
  const typeReq = new Map<string, FieldRequirement>();
  const fields: Array<{ parent: string; field: string; own?: FieldRequirement; returns: string }> = [];
  const implementations = new Map<string, string[]>();

  for (const def of doc.definitions) {
    switch (def.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION: {
        const own = requirementOf(def.directives, names);
        if (own) typeReq.set(def.name.value, mergeRequirement(typeReq.get(def.name.value), own) as FieldRequirement);
        for (const i of def.interfaces ?? []) {
          implementations.set(i.name.value, [...(implementations.get(i.name.value) ?? []), def.name.value]);
        }
        for (const f of def.fields ?? []) {
          fields.push({ parent: def.name.value, field: f.name.value, own: requirementOf(f.directives, names), returns: namedType(f.type) });
        }
        break;
      }
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_DEFINITION: {
        const own = requirementOf(def.directives, names);
        if (own) typeReq.set(def.name.value, own);
        break;
      }
      default:
    }
  }

  const map = new Map<string, FieldRequirement>();
  for (const f of fields) {
    const req = mergeRequirement(f.own, typeReq.get(f.returns));
    if (req) map.set(`${f.parent}.${f.field}`, req);
  }
  for (const [iface, impls] of implementations) {
    for (const f of fields.filter((x) => x.parent === iface)) {
      let req = map.get(`${iface}.${f.field}`);
      for (const impl of impls) req = mergeRequirement(req, map.get(`${impl}.${f.field}`));
      if (req) map.set(`${iface}.${f.field}`, req);
    }
  }
  return map;
}

const SECURITY_LINK = /(@link\(url: "https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes|policy)\/v[0-9.]+")\s*,\s*for:\s*SECURITY\s*\)/g;

/**
 * @apollo/gateway refuses a supergraph that links a `for: SECURITY` feature it does not implement (only Router
 * lists authenticated/requiresScopes/policy as supported). This gateway does implement them (useAuthorization), so
 * it hands @apollo/gateway the same SDL with the purpose dropped from those three links; the directives stay in
 * place. Anything that serves our supergraph with stock @apollo/gateway must do the same (and then enforces
 * nothing of them).
 */
export function gatewayCompatibleSupergraph(supergraphSdl: string): string {
  return supergraphSdl.replace(SECURITY_LINK, '$1)');
}
