import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { manifestFromBodies } from '@cos/persisted';
import { breakingChanges, brokenOperations } from '../schema-check';

const base = buildSchema(`
  type Query { task(id: ID!): Task  old: String @deprecated(reason: "use task") }
  type Task { id: ID! title: String! legacy: String @deprecated(reason: "gone soon") status: String! }
`);

describe('schema:check', () => {
  it('allows removing a field that was @deprecated in the base', async () => {
    const next = buildSchema(`type Query { task(id: ID!): Task } type Task { id: ID! title: String! status: String! }`);
    expect(await breakingChanges(base, next)).toEqual([]);
  });

  it('fails when a field is removed or changed without a deprecation period', async () => {
    const removed = buildSchema(`type Query { task(id: ID!): Task old: String } type Task { id: ID! legacy: String status: String! }`);
    expect((await breakingChanges(base, removed)).join('\n')).toMatch(/Task\.title/);
    const changed = buildSchema(`type Query { task(id: ID!): Task old: String } type Task { id: ID! title: Int! legacy: String status: String! }`);
    expect((await breakingChanges(base, changed)).join('\n')).toMatch(/title/);
  });

  it('fails when a registered operation would break, naming it', async () => {
    const manifest = manifestFromBodies(['query TaskStatus($id: ID!) { task(id: $id) { id status } }', 'query TaskTitle($id: ID!) { task(id: $id) { title } }']);
    const next = buildSchema(`type Query { task(id: ID!): Task } type Task { id: ID! title: String! }`);
    const problems = await brokenOperations(next, [{ file: 'acme.json', json: manifest }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/acme\.json: operation TaskStatus would break: .*status/);
    expect(await brokenOperations(base, [{ file: 'acme.json', json: manifest }])).toEqual([]);
  });
});
