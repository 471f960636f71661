import {
  getDirectiveValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Principal } from '@cos/auth';
import { ErrorCode } from '@cos/errors';
import type { PolicyRegistry } from './policies';
import type { FieldRequirement, RequirementMap } from './requirements';

export interface Denial {
  code: typeof ErrorCode.UNAUTHENTICATED | typeof ErrorCode.FORBIDDEN;
  message: string;
}

export type FieldDecision =
  | { kind: 'allow' }
  | { kind: 'deny'; denial: Denial }
  /** Fetched, then decided per object by these policy groups (OR of ANDs). */
  | { kind: 'perObject'; policies: string[][] };

const ALLOW: FieldDecision = { kind: 'allow' };
/** Aliases the transform adds (hidden from the client: the result walk rebuilds objects from the client's selection). */
export const HIDDEN_PREFIX = '_authz';
const TYPENAME_ALIAS = `${HIDDEN_PREFIX}Typename`;
const requiredAlias = (field: string) => `${HIDDEN_PREFIX}_${field}`;

function denial(principal: Principal): Denial {
  return principal.kind === 'anonymous'
    ? { code: ErrorCode.UNAUTHENTICATED, message: 'You must be signed in to read this field' }
    : { code: ErrorCode.FORBIDDEN, message: 'You are not allowed to read this field' };
}

/** The caller's verdict on one field requirement (Router semantics; unknown policies fail closed). */
export function decideRequirement(req: FieldRequirement, principal: Principal, policies: PolicyRegistry): FieldDecision {
  if (req.authenticated && principal.kind === 'anonymous') return { kind: 'deny', denial: denial(principal) };
  if (req.scopes) {
    const held = principal.kind === 'anonymous' ? [] : principal.scopes;
    if (!req.scopes.some((group) => group.every((s) => held.includes(s)))) return { kind: 'deny', denial: denial(principal) };
  }
  if (req.policies) {
    const open: string[][] = [];
    for (const group of req.policies) {
      const pending: string[] = [];
      let denied = false;
      for (const name of group) {
        const policy = policies[name];
        const pre = policy ? policy.pre(principal) : 'deny';
        if (pre === 'deny') denied = true;
        else if (pre === 'perObject') pending.push(name);
      }
      if (denied) continue;
      if (pending.length === 0) return ALLOW;
      open.push(pending);
    }
    if (open.length === 0) return { kind: 'deny', denial: denial(principal) };
    return { kind: 'perObject', policies: open };
  }
  return ALLOW;
}

/** Per-request decisions, memoised by `Type.field`. */
export function createDecider(requirements: RequirementMap, principal: Principal, policies: PolicyRegistry) {
  const memo = new Map<string, FieldDecision>();
  return (parent: string, field: string): FieldDecision => {
    const key = `${parent}.${field}`;
    let d = memo.get(key);
    if (!d) {
      const req = requirements.get(key);
      d = req ? decideRequirement(req, principal, policies) : ALLOW;
      memo.set(key, d);
    }
    return d;
  };
}
export type Decider = ReturnType<typeof createDecider>;

/** Same fingerprint ⇒ same decisions before planning ⇒ the transformed document can be reused. */
export function principalFingerprint(p: Principal): string {
  if (p.kind === 'anonymous') return 'anonymous';
  const role = p.kind === 'user' ? p.role : '';
  return `${p.kind}|${role}|${[...p.scopes].sort().join(',')}`;
}

export interface Transformed {
  document: DocumentNode;
  /** false: nothing to remove or check per object; run the operation as sent. */
  changed: boolean;
  /** Every root field was removed: nothing to plan or execute. */
  rootEmpty: boolean;
}

const aliasField = (alias: string, name: string): FieldNode => ({
  kind: Kind.FIELD,
  alias: { kind: Kind.NAME, value: alias },
  name: { kind: Kind.NAME, value: name },
});

/**
 * Removes the fields the caller may not read from the operation (before planning, so no subgraph is asked for
 * them), as Apollo Router does. Fields kept for a per-object policy get the policy's `requires` fields selected
 * next to them under hidden aliases; abstract selections get a hidden `__typename` so the result walk can tell
 * which fragments applied; a selection set left empty keeps a hidden `__typename`.
 */
export function transformDocument(
  doc: DocumentNode,
  schema: GraphQLSchema,
  decide: Decider,
  policies: PolicyRegistry,
  operationName?: string | null,
): Transformed {
  const typeInfo = new TypeInfo(schema);
  const frames: Array<Set<string>> = [];
  let changed = false;
  const out = visit(
    doc,
    visitWithTypeInfo(typeInfo, {
      SelectionSet: {
        enter() {
          frames.push(new Set());
        },
        leave(node) {
          const extra = frames.pop() ?? new Set<string>();
          const parent = typeInfo.getParentType();
          const selections: SelectionNode[] = [...node.selections];
          for (const f of extra) selections.push(aliasField(requiredAlias(f), f));
          if (selections.length === 0 || (parent && isAbstractType(parent))) {
            selections.push(aliasField(TYPENAME_ALIAS, '__typename'));
          }
          return { ...node, selections };
        },
      },
      Field: {
        enter(node) {
          const parent = typeInfo.getParentType();
          if (!parent || node.name.value.startsWith('__')) return undefined;
          const d = decide(parent.name, node.name.value);
          if (d.kind === 'deny') {
            changed = true;
            return null;
          }
          if (d.kind === 'perObject') {
            changed = true;
            const frame = frames[frames.length - 1];
            for (const group of d.policies) for (const name of group) for (const f of policies[name]?.requires ?? []) frame?.add(f);
          }
          return undefined;
        },
      },
    }),
  );
  if (!changed) return { document: doc, changed: false, rootEmpty: false };
  const op = pickOperation(out, operationName);
  const rootEmpty =
    !!op &&
    op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.alias?.value.startsWith(HIDDEN_PREFIX) === true);
  return { document: out, changed: true, rootEmpty };
}

function pickOperation(doc: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? ops.find((o) => o.name?.value === operationName) : ops[0];
}

export interface WalkOptions {
  schema: GraphQLSchema;
  /** The operation as the client sent it (before the transform). */
  document: DocumentNode;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  decide: Decider;
  /** Per-object verdict of a policy-protected field on `object` (the raw response object), reached through `via`. */
  allowed: (object: Record<string, unknown>, policies: string[][], via: Via) => boolean;
}

type Completed = { value: unknown; bubble: boolean };
/** The field an object was reached through (`AuthPayload.user`), or null at the root. */
export type Via = { type: string; field: string } | null;

/**
 * Rebuilds `data` along the client's original selection: removed fields become null with an error at their path,
 * per-object policy denials likewise, hidden aliases disappear, and a null in a non-null position propagates to the
 * nearest nullable parent (GraphQL's rules, as Router applies them to removed fields).
 */
export function applyToResult(data: Record<string, unknown> | null | undefined, opts: WalkOptions) {
  const errors: GraphQLError[] = [];
  const op = pickOperation(opts.document, opts.operationName);
  if (!op || data === null || data === undefined) return { data, errors };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of opts.document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const rootType =
    op.operation === 'mutation' ? opts.schema.getMutationType() : op.operation === 'subscription' ? opts.schema.getSubscriptionType() : opts.schema.getQueryType();
  if (!rootType) return { data, errors };
  const variables = opts.variables ?? {};

  const included = (node: SelectionNode) => {
    const skip = getDirectiveValues(GraphQLSkipDirective, node, variables);
    if (skip?.if === true) return false;
    const include = getDirectiveValues(GraphQLIncludeDirective, node, variables);
    return include?.if !== false;
  };

  const applies = (condition: string | undefined, runtime: GraphQLObjectType | undefined, staticType: GraphQLCompositeType) => {
    if (!condition) return true;
    if (!runtime) return condition === staticType.name;
    if (condition === runtime.name) return true;
    const cond = opts.schema.getType(condition);
    return !!cond && isAbstractType(cond) && opts.schema.isSubType(cond, runtime);
  };

  const collect = (
    sets: readonly SelectionSetNode[],
    runtime: GraphQLObjectType | undefined,
    staticType: GraphQLCompositeType,
  ) => {
    const fields = new Map<string, { nodes: FieldNode[]; scope: GraphQLCompositeType }>();
    const visitSet = (set: SelectionSetNode, scope: GraphQLCompositeType) => {
      for (const s of set.selections) {
        if (!included(s)) continue;
        if (s.kind === Kind.FIELD) {
          const key = s.alias?.value ?? s.name.value;
          const entry = fields.get(key);
          if (entry) entry.nodes.push(s);
          else fields.set(key, { nodes: [s], scope });
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          const cond = s.typeCondition?.name.value;
          if (!applies(cond, runtime, staticType)) continue;
          const t = cond ? opts.schema.getType(cond) : scope;
          visitSet(s.selectionSet, t && isCompositeType(t) ? t : scope);
        } else {
          const frag = fragments.get(s.name.value);
          if (!frag || !applies(frag.typeCondition.name.value, runtime, staticType)) continue;
          const t = opts.schema.getType(frag.typeCondition.name.value);
          visitSet(frag.selectionSet, t && isCompositeType(t) ? t : scope);
        }
      }
    };
    for (const set of sets) visitSet(set, staticType);
    return fields;
  };

  const completeObject = (
    value: Record<string, unknown>,
    staticType: GraphQLCompositeType,
    sets: readonly SelectionSetNode[],
    path: ReadonlyArray<string | number>,
    via: Via,
  ): Completed => {
    let runtime: GraphQLObjectType | undefined;
    if (isObjectType(staticType)) runtime = staticType;
    else {
      const name = value[TYPENAME_ALIAS] ?? value.__typename;
      const t = typeof name === 'string' ? opts.schema.getType(name) : undefined;
      runtime = t && isObjectType(t) ? t : undefined;
    }
    const out: Record<string, unknown> = {};
    for (const [key, { nodes, scope }] of collect(sets, runtime, staticType)) {
      const first = nodes[0] as FieldNode;
      const name = first.name.value;
      if (name.startsWith('__')) {
        out[key] = name === '__typename' && value[key] === undefined ? (runtime?.name ?? null) : (value[key] ?? null);
        continue;
      }
      const fieldDef = 'getFields' in scope ? scope.getFields()[name] : undefined;
      if (!fieldDef) {
        out[key] = value[key] ?? null;
        continue;
      }
      const d = opts.decide(scope.name, name);
      let denied: Denial | undefined;
      if (d.kind === 'deny') denied = d.denial;
      else if (d.kind === 'perObject' && !opts.allowed(value, d.policies, via)) {
        denied = { code: ErrorCode.FORBIDDEN, message: 'You are not allowed to read this field' };
      }
      const fieldPath = [...path, key];
      if (denied) {
        errors.push(new GraphQLError(denied.message, { path: fieldPath, extensions: { code: denied.code } }));
        if (isNonNullType(fieldDef.type)) return { value: null, bubble: true };
        out[key] = null;
        continue;
      }
      const sub = completeValue(value[key], fieldDef.type, nodes, fieldPath, { type: scope.name, field: name });
      if (sub.bubble) {
        if (isNonNullType(fieldDef.type)) return { value: null, bubble: true };
        out[key] = null;
      } else out[key] = sub.value;
    }
    return { value: out, bubble: false };
  };

  const completeValue = (
    value: unknown,
    type: GraphQLOutputType,
    nodes: readonly FieldNode[],
    path: ReadonlyArray<string | number>,
    via: Via,
  ): Completed => {
    if (value === null || value === undefined) return { value: null, bubble: false };
    if (isNonNullType(type)) return completeValue(value, type.ofType, nodes, path, via);
    if (isListType(type)) {
      if (!Array.isArray(value)) return { value, bubble: false };
      const items: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        const r = completeValue(value[i], type.ofType, nodes, [...path, i], via);
        if (r.bubble) {
          if (isNonNullType(type.ofType)) return { value: null, bubble: true };
          items.push(null);
        } else items.push(r.value);
      }
      return { value: items, bubble: false };
    }
    if (isCompositeType(type) && typeof value === 'object') {
      const sets = nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));
      return completeObject(value as Record<string, unknown>, type, sets, path, via);
    }
    return { value, bubble: false };
  };

  const root = completeObject(data, rootType, [op.selectionSet], [], null);
  return { data: root.bubble ? null : (root.value as Record<string, unknown>), errors };
}

/** The object a policy sees: its `requires` fields, read from the hidden aliases (or the client's own selection). */
export function policyView(object: Record<string, unknown>, requires: readonly string[], via: Via): PolicyObject {
  const fields: Record<string, unknown> = {};
  for (const f of requires) fields[f] = object[requiredAlias(f)] ?? object[f];
  return { fields, via };
}

export interface PolicyObject {
  fields: Record<string, unknown>;
  via: Via;
}

/**
 * The root fields of a subscription operation the caller may not subscribe to (their own @authenticated /
 * @requiresScopes; a per-object policy on a root field is refused too, there is no object yet). The subscription
 * bridge refuses the whole subscribe request with these errors: events are then never resolved for the caller.
 */
export function subscriptionRootDenials(
  document: DocumentNode,
  operationName: string | null | undefined,
  principal: Principal,
  requirements: RequirementMap,
  policies: PolicyRegistry,
): GraphQLError[] {
  const op = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  if (!op || op.operation !== 'subscription') return [];
  const decide = createDecider(requirements, principal, policies);
  const errors: GraphQLError[] = [];
  for (const sel of op.selectionSet.selections) {
    if (sel.kind !== Kind.FIELD) continue;
    const d = decide('Subscription', sel.name.value);
    if (d.kind === 'allow') continue;
    const denied = d.kind === 'deny' ? d.denial : denial(principal);
    errors.push(new GraphQLError(denied.message.replace('read this field', `subscribe to ${sel.name.value}`), { nodes: [sel], extensions: { code: denied.code } }));
  }
  return errors;
}
