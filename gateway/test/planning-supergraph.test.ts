import { Supergraph } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import { printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { planningSupergraph } from '../src/execution/executor/planning-supergraph';
import { composeSupergraph } from './fixtures';

const compose = (a: string, b: string) =>
  composeSupergraph([
    { name: 'a', url: 'http://127.0.0.1:9', typeDefs: a },
    { name: 'b', url: 'http://127.0.0.1:9', typeDefs: b },
  ]);

const apiSchemaOf = (sdl: string) => printSchema(Supergraph.build(sdl).apiSchema().toGraphQLJSSchema());

describe('planningSupergraph', () => {
  it('leaves a supergraph that needs no workaround as it is (same text, no hidden fields)', () => {
    const sdl = compose(
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type Query { t: T } type T @key(fields: "id") { id: ID! }`,
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type T @key(fields: "id") { id: ID! n: Int }`,
    );
    const p = planningSupergraph(sdl);
    expect(p.sdl).toBe(sdl);
    expect(p.hidden.fields.size).toBe(0);
  });

  it('lists resolvable keys before non-resolvable ones and keeps the API schema', () => {
    const sdl = compose(
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"]) type Query { t: T } type T @key(fields: "slug", resolvable: false) @key(fields: "id") { id: ID! slug: String! }`,
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"]) type T @key(fields: "id") { id: ID! n: Int }`,
    );
    const p = planningSupergraph(sdl);
    const joinTypes = [...p.sdl.matchAll(/@join__type\(graph: A[^)]*\)/g)].map((m) => m[0]);
    expect(joinTypes.at(-1)).toContain('resolvable: false');
    expect(joinTypes.slice(0, -1).some((d) => d.includes('key: "id"'))).toBe(true);
    expect(apiSchemaOf(p.sdl)).toBe(apiSchemaOf(sdl));
  });

  it('gives each argument set of a conflicting @requires field its own hidden field', () => {
    const sdl = compose(
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type Query { t: [T] } type T @key(fields: "id") { id: ID! rate(c: String!): Int }`,
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
       type T @key(fields: "id") { id: ID! rate(c: String!): Int @external
         usd: Int @requires(fields: "rate(c: \\"USD\\")") eur: Int @requires(fields: "rate(c: \\"EUR\\")") again: Int @requires(fields: "rate(c: \\"USD\\")") }`,
    );
    const p = planningSupergraph(sdl);
    expect([...p.hidden.fields.values()].map((h) => h.of)).toEqual(['T.rate', 'T.rate']);
    const usd = p.hidden.requiredBy.get('T.usd');
    expect(usd).toHaveLength(1);
    expect(p.hidden.requiredBy.get('T.again')).toEqual(usd);
    expect(p.hidden.requiredBy.get('T.eur')).not.toEqual(usd);
    // The planner accepts it (subgraph extraction validates the external fields) and the real field stays.
    expect(() => new QueryPlanner(Supergraph.build(p.sdl))).not.toThrow();
    expect(apiSchemaOf(p.sdl)).toContain('rate(c: String!): Int');
  });

  it('reports a conflict nested inside @requires selections and leaves it to the planner (no hidden field)', () => {
    const sdl = compose(
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
       type Query { t: [T] } type T @key(fields: "id") { id: ID! a: A } type A @shareable { b(x: Int!): Int }`,
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires", "@shareable"])
       type T @key(fields: "id") { id: ID! a: A @external
         one: Int @requires(fields: "a { b(x: 1) }") two: Int @requires(fields: "a { b(x: 2) }") }
       type A @shareable { b(x: Int!): Int @external }`,
    );
    const p = planningSupergraph(sdl);
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toMatch(/^@requires of T select a\.b with different arguments \(x:1\), \(x:2\)/);
    expect(p.hidden.fields.size).toBe(0);
    expect(p.sdl).toBe(sdl);
    expect(() => new QueryPlanner(Supergraph.build(p.sdl))).not.toThrow();
  });

  it('has nothing to report when nested @requires selections agree', () => {
    const sdl = compose(
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
       type Query { t: [T] } type T @key(fields: "id") { id: ID! a: A } type A @shareable { b(x: Int!): Int }`,
      `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires", "@shareable"])
       type T @key(fields: "id") { id: ID! a: A @external
         one: Int @requires(fields: "a { b(x: 1) }") two: Int @requires(fields: "a { b(x: 1) }") }
       type A @shareable { b(x: Int!): Int @external }`,
    );
    expect(planningSupergraph(sdl).warnings).toEqual([]);
  });
});
