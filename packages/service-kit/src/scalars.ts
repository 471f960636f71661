import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/**
 * ISO-8601 date-time: Dates and ISO strings out; ISO strings in, kept as strings (validated by the service's zod
 * schemas so errors name the field).
 */
export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (v) => (v instanceof Date ? v.toISOString() : String(v)),
  parseValue: (v) => {
    if (typeof v !== 'string') throw new GraphQLError('DateTime must be an ISO-8601 string');
    return v;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO-8601 string');
    return ast.value;
  },
});

/** Arbitrary JSON, passed through as is (literals included; variables inside a literal are refused). */
export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral(ast) {
    const walk = (node: ValueNode): unknown => {
      switch (node.kind) {
        case Kind.STRING:
        case Kind.BOOLEAN:
        case Kind.ENUM:
          return node.value;
        case Kind.INT:
        case Kind.FLOAT:
          return Number(node.value);
        case Kind.NULL:
          return null;
        case Kind.LIST:
          return node.values.map(walk);
        case Kind.OBJECT:
          return Object.fromEntries(node.fields.map((f) => [f.name.value, walk(f.value)]));
        default:
          throw new GraphQLError('JSON literals cannot contain variables');
      }
    };
    return walk(ast);
  },
});
