import { buildSchema, parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Principal } from '@cos/auth';
import { applyToResult, createDecider, transformDocument, type Decider } from '../src/authz/engine';
import { DEFAULT_POLICIES, userEmailPolicy } from '../src/authz/policies';
import { gatewayCompatibleSupergraph, requirementsFromSupergraph } from '../src/authz/requirements';

const SDL = /* GraphQL */ `
  directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  type Query {
    me: User
    customer(id: ID!): Customer @authenticated
    customers: [Customer!]! @authenticated
    node: Assignee
    secret: Secret
    audit: [String!]! @requiresScopes(scopes: [["audit:read"], ["admin:all", "audit:any"]])
  }
  type Mutation { createThing: Boolean! @requiresScopes(scopes: [["things:write"]]) ping: Boolean }
  type Customer { id: ID! name: String! mrr: Float @requiresScopes(scopes: [["customers:finance"]]) owner: User! }
  type User { id: ID! name: String! email: String! @policy(policies: [["user_email"]]) }
  type Agent { id: ID! name: String! }
  union Assignee = User | Agent
  type Secret @authenticated { x: Int }
`;
const schema = buildSchema(SDL);
const requirements = requirementsFromSupergraph(SDL);

const anonymous: Principal = { kind: 'anonymous' };
const viewer: Principal = { kind: 'user', userId: 'u1', orgId: 'o1', role: 'VIEWER', scopes: ['customers:read'] };
const owner: Principal = { kind: 'user', userId: 'u9', orgId: 'o1', role: 'OWNER', scopes: ['customers:finance', 'audit:read', 'things:write'] };
const partner: Principal = { kind: 'apiKey', keyId: 'k1', orgId: 'o1', clientName: 'acme', scopes: ['customers:read'] };

function run(principal: Principal, query: string, data: Record<string, unknown> | null, allowed = () => true) {
  const doc = parse(query);
  const decide: Decider = createDecider(requirements, principal, DEFAULT_POLICIES);
  const t = transformDocument(doc, schema, decide, DEFAULT_POLICIES);
  const applied = applyToResult(data, { schema, document: doc, decide, allowed });
  return { t, printed: print(t.document), ...applied, codes: applied.errors.map((e) => [e.path?.join('.'), e.extensions.code]) };
}

describe('requirements from the supergraph', () => {
  it('reads field- and type-level directives', () => {
    expect(requirements.get('Customer.mrr')).toEqual({ authenticated: true, scopes: [['customers:finance']], policies: null });
    expect(requirements.get('Query.secret')?.authenticated).toBe(true);
    expect(requirements.get('User.email')?.policies).toEqual([['user_email']]);
    expect(requirements.get('Customer.name')).toBeUndefined();
  });

  it('makes a composed supergraph loadable by @apollo/gateway without dropping the directives', () => {
    const sdl = `schema\n  @link(url: "https://specs.apollo.dev/link/v1.0")\n  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)\n  @link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)\n  @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)\n  @link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)\n{ query: Query }`;
    const out = gatewayCompatibleSupergraph(sdl);
    expect(out).not.toContain('SECURITY');
    expect(out).toContain('for: EXECUTION');
    expect(out).toContain('@link(url: "https://specs.apollo.dev/policy/v0.1")');
  });
});

describe('document transform and result walk (Router semantics)', () => {
  it('removes what an anonymous caller may not read and answers UNAUTHENTICATED at its path', () => {
    const r = run(anonymous, '{ me { name } customer(id: "1") { name } }', { me: { name: 'Ada' } });
    expect(r.printed).not.toContain('customer');
    expect(r.data).toEqual({ me: { name: 'Ada' }, customer: null });
    expect(r.codes).toEqual([['customer', 'UNAUTHENTICATED']]);
  });

  it('nulls mrr with FORBIDDEN for a VIEWER at every list index and keeps the rest', () => {
    const r = run(viewer, '{ customers { name mrr } }', { customers: [{ name: 'A' }, { name: 'B' }] });
    expect(r.printed).not.toContain('mrr');
    expect(r.data).toEqual({ customers: [{ name: 'A', mrr: null }, { name: 'B', mrr: null }] });
    expect(r.codes).toEqual([
      ['customers.0.mrr', 'FORBIDDEN'],
      ['customers.1.mrr', 'FORBIDDEN'],
    ]);
  });

  it('leaves an operation untouched when the caller may read everything', () => {
    const doc = parse('{ customers { name mrr } audit }');
    const t = transformDocument(doc, schema, createDecider(requirements, owner, DEFAULT_POLICIES), DEFAULT_POLICIES);
    expect(t.changed).toBe(false);
    expect(t.document).toBe(doc);
  });

  it('evaluates scope alternatives as OR of ANDs', () => {
    const both: Principal = { ...partner, scopes: ['admin:all', 'audit:any'] };
    const one: Principal = { ...partner, scopes: ['admin:all'] };
    expect(run(both, '{ audit }', { audit: [] }).t.changed).toBe(false);
    expect(run(one, '{ audit }', {}).t.rootEmpty).toBe(true);
  });

  it('propagates a removed non-null field to the nearest nullable parent', () => {
    // partner: the user_email policy denies before planning; email is String!, owner User!, item Customer!, list
    // [Customer!]! → everything up to the (nullable) data root.
    const r = run(partner, '{ customers { name owner { email } } }', { customers: [{ name: 'A', owner: { _authzTypename: 'User' } }] });
    expect(r.printed).not.toContain('email');
    expect(r.printed).toContain('_authzTypename: __typename');
    expect(r.data).toBeNull();
    expect(r.codes).toEqual([['customers.0.owner.email', 'FORBIDDEN']]);
  });

  it('applies removals inside fragments only to the matching concrete type', () => {
    const q = '{ node { ... on User { email } ... on Agent { name } } }';
    const user = run(partner, q, { node: { _authzTypename: 'User' } });
    expect(user.printed).toContain('_authzTypename: __typename');
    expect(user.printed).not.toContain('email');
    expect(user.data).toEqual({ node: null });
    expect(user.codes).toEqual([['node.email', 'FORBIDDEN']]);
    const agent = run(partner, q, { node: { _authzTypename: 'Agent', name: 'Triage' } });
    expect(agent.data).toEqual({ node: { name: 'Triage' } });
    expect(agent.errors).toEqual([]);
  });

  it('handles named fragments, aliases and @skip', () => {
    const q = 'query($s: Boolean!) { a: customers { ...C } b: customers @skip(if: $s) { mrr } } fragment C on Customer { id money: mrr }';
    const doc = parse(q);
    const decide = createDecider(requirements, viewer, DEFAULT_POLICIES);
    const t = transformDocument(doc, schema, decide, DEFAULT_POLICIES);
    expect(print(t.document)).not.toContain('mrr');
    const r = applyToResult({ a: [{ id: '1' }] }, { schema, document: doc, decide, allowed: () => true, variables: { s: true } });
    expect(r.data).toEqual({ a: [{ id: '1', money: null }] });
    expect(r.errors.map((e) => e.path)).toEqual([['a', 0, 'money']]);
  });

  it('skips execution when every root field is removed (a refused mutation never runs)', () => {
    const r = run(viewer, 'mutation { createThing }', {});
    expect(r.t.rootEmpty).toBe(true);
    expect(r.data).toBeNull();
    expect(r.codes).toEqual([['createThing', 'FORBIDDEN']]);
    const partial = run(viewer, 'mutation { createThing ping }', { ping: true });
    expect(partial.t.rootEmpty).toBe(false);
  });

  it('keeps per-object policy fields, selects what the policy needs and hides it from the client', () => {
    const q = '{ customers { owner { name email } } }';
    const data = {
      customers: [
        { owner: { name: 'Me', email: 'me@x', _authz_id: 'u1' } },
        { owner: { name: 'Other', email: 'o@x', _authz_id: 'u2' } },
      ],
    };
    const r = run(viewer, q, data, ((o: Record<string, unknown>) => o._authz_id === 'u1') as () => boolean);
    expect(r.printed).toContain('_authz_id: id');
    expect(r.printed).toContain('email');
    // The second owner's email is denied: User! → Customer! → the list → data null.
    expect(r.data).toBeNull();
    expect(r.codes).toEqual([['customers.1.owner.email', 'FORBIDDEN']]);
    const mine = run(viewer, '{ me { name email } }', { me: { name: 'Me', email: 'me@x', _authz_id: 'u1' } }, () => true);
    expect(mine.data).toEqual({ me: { name: 'Me', email: 'me@x' } });
  });
});

describe('user_email policy', () => {
  const ctx = (principal: Principal, members: string[]) => {
    let calls = 0;
    return {
      principal,
      orgMemberIds: async () => {
        calls += 1;
        return new Set(members);
      },
      calls: () => calls,
    };
  };

  const obj = (id: string, via: { type: string; field: string } | null = null) => ({ fields: { id }, via });

  it('allows the user themself without a lookup', async () => {
    const c = ctx(viewer, []);
    expect(await userEmailPolicy.decide(c, [obj('u1')])).toEqual([true]);
    expect(c.calls()).toBe(0);
  });

  it('allows the user an AuthPayload returns (the one the operation signed in), even for an anonymous caller', async () => {
    const c = ctx(anonymous, []);
    expect(await userEmailPolicy.decide(c, [obj('new', { type: 'AuthPayload', field: 'user' }), obj('new', { type: 'Membership', field: 'user' })])).toEqual([
      true,
      false,
    ]);
    expect(c.calls()).toBe(0);
  });

  it('allows an OWNER/ADMIN for members of their organization only, with one lookup for all objects', async () => {
    const c = ctx(owner, ['u1', 'u2']);
    expect(await userEmailPolicy.decide(c, [obj('u1'), obj('u2'), obj('stranger'), obj('u9')])).toEqual([true, true, false, true]);
    expect(c.calls()).toBe(1);
  });

  it('denies VIEWERs for others, and partners before planning', async () => {
    expect(await userEmailPolicy.decide(ctx(viewer, ['u2']), [obj('u2')])).toEqual([false]);
    expect(userEmailPolicy.pre(partner)).toBe('deny');
    expect(userEmailPolicy.pre(anonymous)).toBe('perObject');
    expect(userEmailPolicy.pre(viewer)).toBe('perObject');
  });
});

