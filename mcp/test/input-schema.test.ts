import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, Kind, parse, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { describe, expect, it } from 'vitest';
import { apiSchemaOf } from '@cos/persisted';
import { variablesToJsonSchema } from '../src/input-schema';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const api = apiSchemaOf(readFileSync(path.join(root, 'schema/supergraph.graphql'), 'utf8'));

const op = (body: string): OperationDefinitionNode =>
  parse(body).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
const schemaOf = (body: string, schema: GraphQLSchema = api) => variablesToJsonSchema(schema, op(body));

describe('variables → JSON Schema (against the supergraph API schema)', () => {
  it('maps built-in and custom scalars; non-null without default is required, nullable accepts null', () => {
    const s = schemaOf(`query Q($id: ID!, $s: String, $n: Int = 5, $f: Float!, $b: Boolean, $at: DateTime, $j: JSON) {
      task(id: $id) { id } }`);
    expect(s.type).toBe('object');
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toEqual(['id', 'f']);
    expect(s.properties.id).toMatchObject({ type: 'string' });
    expect(s.properties.s).toEqual({ type: ['string', 'null'] });
    expect(s.properties.n).toEqual({ type: ['integer', 'null'], minimum: -(2 ** 31), maximum: 2 ** 31 - 1, default: 5 });
    expect(s.properties.f).toEqual({ type: 'number' });
    expect(s.properties.b).toEqual({ type: ['boolean', 'null'] });
    expect(s.properties.at).toMatchObject({ type: ['string', 'null'], format: 'date-time' });
    expect(s.properties.j!.type).toBeUndefined(); // any JSON value
  });

  it('maps enums to their values, with a default and null when nullable', () => {
    const s = schemaOf(`mutation M($p: TaskPriority = MEDIUM, $k: SignalKind!) { createTask(input: { title: "x", priority: $p }) { id } }`);
    expect(s.properties.p).toMatchObject({ type: ['string', 'null'], enum: ['LOW', 'MEDIUM', 'HIGH', 'URGENT', null], default: 'MEDIUM' });
    expect(s.properties.k).toMatchObject({ type: 'string', enum: ['PRODUCT_USAGE', 'SUPPORT_TICKET', 'NPS', 'PAYMENT_FAILED', 'LOGIN'] });
    expect(s.required).toEqual(['k']);
  });

  it('maps lists, with the item type non-null or not', () => {
    const s = schemaOf(`query Q($st: [TaskStatus!], $ids: [ID]!) { tasks(filter: { status: $st }) { totalCount } }`);
    expect(s.properties.st).toMatchObject({ type: ['array', 'null'], items: { type: 'string', enum: ['TODO', 'IN_PROGRESS', 'AWAITING_APPROVAL', 'DONE', 'CANCELLED'] } });
    expect(s.properties.ids).toEqual({ type: 'array', items: { type: ['string', 'null'], description: expect.any(String) } });
    expect(s.required).toEqual(['ids']);
  });

  it('maps input objects: fields, required ones, field defaults, the type description, no extra properties', () => {
    const s = schemaOf(`mutation M($input: CreateTaskInput!, $sig: SignalInput!) { createTask(input: $input) { id } }`);
    const input = s.properties.input!;
    expect(input.type).toBe('object');
    expect(input.additionalProperties).toBe(false);
    expect(input.required).toEqual(['title']);
    expect(Object.keys(input.properties!)).toEqual(['title', 'description', 'priority', 'customerId', 'assigneeId', 'dueAt']);
    expect(input.properties!.priority).toMatchObject({ enum: ['LOW', 'MEDIUM', 'HIGH', 'URGENT', null], default: 'MEDIUM' });
    expect(input.properties!.dueAt).toMatchObject({ format: 'date-time' });
    const sig = s.properties.sig!;
    expect(sig.description).toMatch(/PRODUCT_USAGE 0\.\.1/);
    expect(sig.required).toEqual(['kind', 'value']);
  });

  it("takes a variable's own description over its type's", () => {
    const s = variablesToJsonSchema(api, op(`mutation M($sig: SignalInput!, $id: ID!) { recordSignal(customerId: $id, input: $sig) { score } }`), (v) =>
      v === 'sig' ? 'The signal to record' : undefined,
    );
    expect(s.properties.sig!.description).toBe('The signal to record');
    expect(s.properties.id!.description).toBe('An id (as returned by other tools)');
  });

  it('an operation without variables takes an empty object', () => {
    expect(schemaOf(`query Q { pendingApprovals { id } }`)).toEqual({ type: 'object', properties: {}, additionalProperties: false });
  });
});

describe('variables → JSON Schema (edge cases of a schema)', () => {
  const schema = buildSchema(`
    "A money amount in cents" scalar Cents
    enum Color { RED GREEN BLUE @deprecated(reason: "gone") }
    input Filter { name: String, old: String @deprecated(reason: "use name"), and: [Filter!], color: Color = RED }
    type Query { things(filter: Filter, min: Cents): Int }
  `);

  it('stops at a recursive input type instead of recursing forever', () => {
    const s = schemaOf(`query Q($f: Filter) { things(filter: $f) }`, schema);
    const and = s.properties.f!.properties!.and!;
    expect(and.type).toEqual(['array', 'null']);
    expect(and.items).toMatchObject({ type: 'object', description: expect.stringMatching(/nested again/) });
    expect(and.items!.properties).toBeUndefined();
  });

  it('leaves out deprecated enum values and deprecated optional input fields', () => {
    const f = schemaOf(`query Q($f: Filter) { things(filter: $f) }`, schema).properties.f!;
    expect(Object.keys(f.properties!)).toEqual(['name', 'and', 'color']);
    expect(f.properties!.color).toMatchObject({ enum: ['RED', 'GREEN', null], default: 'RED' });
  });

  it('an unknown custom scalar accepts any value and carries its description', () => {
    expect(schemaOf(`query Q($m: Cents) { things(min: $m) }`, schema).properties.m).toEqual({ description: 'A money amount in cents' });
  });
});

describe('the schema validates what an assistant sends', () => {
  const validator = new AjvJsonSchemaValidator();
  const check = validator.getValidator(
    schemaOf(`mutation M($customerId: ID!, $kind: SignalKind!, $value: Float!, $occurredAt: DateTime, $note: String, $first: Int = 3) {
      recordSignal(customerId: $customerId, input: { kind: $kind, value: $value, occurredAt: $occurredAt, note: $note }) { score } }`),
  );

  it('accepts good arguments, with or without the optional ones and with explicit nulls', () => {
    expect(check({ customerId: 'c1', kind: 'NPS', value: 9 }).valid).toBe(true);
    expect(check({ customerId: 'c1', kind: 'NPS', value: 9, occurredAt: '2026-01-31T09:00:00Z', note: null, first: 2 }).valid).toBe(true);
  });

  it.each([
    [{ kind: 'NPS', value: 9 }, /customerId/],
    [{ customerId: 'c1', kind: 'HAPPY', value: 9 }, /allowed values/],
    [{ customerId: 'c1', kind: 'NPS', value: 'nine' }, /must be number/],
    [{ customerId: 'c1', kind: 'NPS', value: 9, first: 1.5 }, /must be integer/],
    [{ customerId: 'c1', kind: 'NPS', value: 9, occurredAt: 'yesterday' }, /date-time/],
    [{ customerId: 'c1', kind: 'NPS', value: 9, customer: 'typo' }, /additional properties/],
  ])('refuses %j', (args, message) => {
    const r = check(args);
    expect(r.valid).toBe(false);
    expect(r.errorMessage).toMatch(message);
  });
});
