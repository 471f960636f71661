import { describe, expect, it } from 'vitest';
import { badInput } from '@cos/errors';
import { createLogger } from '@cos/logger';
import { TEST_INTERNAL_SECRET, execSubgraph, userPrincipal } from '@cos/testing';
import { createSubgraphServer, type BaseContext } from '../src/index';

const typeDefs = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
  enum Color { RED GREEN }
  type Query { echo(color: Color!): Color!  boom: String  bad: String  whoami: String }
`;

const server = createSubgraphServer<BaseContext>({
  name: 'kit-test',
  typeDefs,
  internalSecret: TEST_INTERNAL_SECRET,
  log: createLogger('kit-test', 'silent'),
  createContext: (base) => base,
  resolvers: {
    Query: {
      echo: (_: unknown, a: { color: string }) => a.color,
      boom: () => {
        throw new Error('relation "secret_table" does not exist at /srv/app.ts:12');
      },
      bad: () => {
        throw badInput('title', 'title must not be empty');
      },
      whoami: (_: unknown, __: unknown, ctx: BaseContext) => ctx.principal.kind,
    },
  },
});
const alice = userPrincipal('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'MEMBER');

describe('subgraph server', () => {
  it('refuses a request without the gateway signature', async () => {
    const res = await server.yoga.fetch('http://x/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ whoami }' }),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('passes the verified principal to resolvers', async () => {
    expect((await execSubgraph(server.yoga, alice, '{ whoami }')).data).toEqual({ whoami: 'user' });
  });

  it('masks unexpected errors: no SQL, no stack, INTERNAL_SERVER_ERROR', async () => {
    const r = await execSubgraph(server.yoga, alice, '{ boom }');
    expect(r.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(r)).not.toMatch(/secret_table|app\.ts/);
  });

  it('keeps our own errors with their code and field', async () => {
    const r = await execSubgraph(server.yoga, alice, '{ bad }');
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'title' });
  });

  it('answers BAD_USER_INPUT for a bad enum value in variables', async () => {
    const r = await execSubgraph(server.yoga, alice, 'query($c: Color!) { echo(color: $c) }', { c: 'BLUE' });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('serves /healthz without a signature', async () => {
    const res = await server.yoga.fetch('http://x/healthz');
    expect(res.status).toBe(200);
  });
});
