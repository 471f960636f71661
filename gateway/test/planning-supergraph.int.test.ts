import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@cos/logger';
import { createGateway, type Gateway } from '../src/server';
import { composeSupergraph, listen, testGatewayEnv, type Listening } from './fixtures';

/**
 * The native executor on supergraphs @apollo/query-planner 2.14.4 plans wrongly, fixed by its planning supergraph
 * (execution/executor/planning-supergraph.ts): subgraphs of this file served over HTTP, answers compared with the
 * expected ones (not with @apollo/gateway's executor, which answers these wrongly).
 */

interface SubgraphDef {
  name: string;
  typeDefs: string;
  resolvers: Record<string, unknown>;
}

interface Running {
  ask(query: string): Promise<{ data?: unknown; errors?: Array<{ message: string }> }>;
  close(): Promise<void>;
}

let redis: Redis;
const running: Running[] = [];

beforeAll(async () => {
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterAll(async () => {
  for (const r of running) await r.close();
  redis?.disconnect();
});

/** Serves the subgraphs, composes them and starts a native-executor gateway on the supergraph. */
async function startGraph(subgraphs: SubgraphDef[]): Promise<Running> {
  const served: Listening[] = [];
  for (const sg of subgraphs) {
    const schema = buildSubgraphSchema([{ typeDefs: parse(sg.typeDefs), resolvers: sg.resolvers as never }]);
    served.push(await listen(createYoga({ schema, logging: false, maskedErrors: false })));
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'gw-planning-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraphPath, composeSupergraph(subgraphs.map((sg, i) => ({ name: sg.name, url: served[i]!.url, typeDefs: sg.typeDefs }))));
  const gateway: Gateway = await createGateway({
    env: testGatewayEnv({ supergraphPath, jwksUrl: 'http://127.0.0.1:9/jwks.json', GATEWAY_EXECUTOR: 'native' }),
    log: createLogger('planning-supergraph-test', 'silent'),
    redis,
    rateLimit: { enabled: false },
  });
  const http = await listen(gateway.yoga);
  const r: Running = {
    async ask(query) {
      const res = await fetch(`${http.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query }),
      });
      return (await res.json()) as never;
    },
    async close() {
      await http.close();
      await gateway.close();
      await Promise.all(served.map((s) => s.close()));
    },
  };
  running.push(r);
  return r;
}

describe('keys: the planner sends entities back with a key the subgraph can resolve', () => {
  const docs = [
    { id: 'd1', slug: 'roadmap', title: 'Roadmap' },
    { id: 'd2', slug: 'budget', title: 'Budget' },
  ];
  const DOCS_SDL = /* GraphQL */ `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
    type Doc @key(fields: "id") @key(fields: "slug", resolvable: false) {
      id: ID!
      slug: String!
      title: String!
    }
  `;
  // The non-resolvable key comes first: @apollo/query-planner takes it for the @requires fetch back into this subgraph.
  const BOARD_SDL = /* GraphQL */ `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external", "@requires"])
    type Query {
      pinned: [Doc!]!
    }
    type Doc @key(fields: "slug", resolvable: false) @key(fields: "id slug") {
      id: ID!
      slug: String!
      title: String! @external
      label: String! @requires(fields: "title")
    }
  `;
  let graph: Running;
  beforeAll(async () => {
    graph = await startGraph([
      {
        name: 'docs',
        typeDefs: DOCS_SDL,
        resolvers: { Doc: { __resolveReference: (ref: { id?: string }) => docs.find((d) => d.id === ref.id) ?? null } },
      },
      {
        name: 'board',
        typeDefs: BOARD_SDL,
        resolvers: {
          Query: { pinned: () => docs.map(({ id, slug }) => ({ id, slug })) },
          Doc: {
            // Resolvable only by its resolvable key (id and slug); a slug alone finds nothing.
            __resolveReference: (ref: { id?: string; slug: string; title?: string }) => {
              const d = docs.find((x) => x.id === ref.id && x.slug === ref.slug);
              return d ? { id: d.id, slug: d.slug, title: ref.title } : null;
            },
            label: (d: { title?: string }) => {
              if (!d.title) throw new Error('Doc.title was not provided');
              return `pinned: ${d.title}`;
            },
          },
        },
      },
    ]);
  });

  it('resolves a @requires field through the resolvable key', async () => {
    const r = await graph.ask(`{ pinned { id title label } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      pinned: [
        { id: 'd1', title: 'Roadmap', label: 'pinned: Roadmap' },
        { id: 'd2', title: 'Budget', label: 'pinned: Budget' },
      ],
    });
  });
});

describe('@requires of one type selecting a field with different arguments', () => {
  const tasks = [
    { id: 't1', hours: 2, rate: 10 },
    { id: 't2', hours: 3, rate: 20 },
  ];
  const BILLING_SDL = /* GraphQL */ `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Query {
      tasks: [Task!]!
    }
    type Task @key(fields: "id") {
      id: ID!
      hours: Int!
      rate(currency: String!): Int
    }
  `;
  const ESTIMATES_SDL = /* GraphQL */ `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
    type Task @key(fields: "id") {
      id: ID!
      hours: Int! @external
      rate(currency: String!): Int @external
      costUSD: Int @requires(fields: "rate(currency: \\"USD\\") hours")
      costEUR: Int @requires(fields: "rate(currency: \\"EUR\\") hours")
      label: String
    }
  `;
  let graph: Running;
  let representations: Array<Record<string, unknown>> = [];
  /** When set, billing fails `rate` in this currency for task t2. */
  let failRate: string | undefined;
  beforeAll(async () => {
    graph = await startGraph([
      {
        name: 'billing',
        typeDefs: BILLING_SDL,
        resolvers: {
          Query: { tasks: () => tasks },
          Task: {
            __resolveReference: (ref: { id: string }) => tasks.find((t) => t.id === ref.id) ?? null,
            // EUR is twice USD: a representation carrying the wrong variant shows in the answer.
            rate: (t: { id: string; rate: number }, args: { currency: string }) => {
              if (args.currency === failRate && t.id === 't2') throw new Error(`no ${failRate} rate for t2`);
              return args.currency === 'EUR' ? t.rate * 2 : t.rate;
            },
          },
        },
      },
      {
        name: 'estimates',
        typeDefs: ESTIMATES_SDL,
        resolvers: {
          Task: {
            __resolveReference: (ref: Record<string, unknown>) => {
              representations.push(ref);
              return ref;
            },
            costUSD: (t: { rate?: number; hours?: number }) => (t.rate === undefined ? null : t.rate * t.hours! * 10),
            costEUR: (t: { rate?: number; hours?: number }) => (t.rate === undefined ? null : t.rate * t.hours! * 10),
            label: (t: { id: string }) => `task ${t.id}`,
          },
        },
      },
    ]);
  });

  it('sends each @requires its own arguments’ value, one variant per representation', async () => {
    representations = [];
    const r = await graph.ask(`{ tasks { id costUSD costEUR label } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      tasks: [
        { id: 't1', costUSD: 200, costEUR: 400, label: 'task t1' },
        { id: 't2', costUSD: 600, costEUR: 1200, label: 'task t2' },
      ],
    });
    // Two fetches (one per variant) of two tasks each; every representation has the real field name only.
    expect(representations).toHaveLength(4);
    for (const rep of representations) expect(Object.keys(rep).sort()).toEqual(['__typename', 'hours', 'id', 'rate']);
  });

  it('keeps the client’s own arguments apart from the @requires ones', async () => {
    const r = await graph.ask(`{ tasks { id eur: rate(currency: "EUR") rate(currency: "USD") costEUR } }`);
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({
      tasks: [
        { id: 't1', eur: 20, rate: 10, costEUR: 400 },
        { id: 't2', eur: 40, rate: 20, costEUR: 1200 },
      ],
    });
  });

  it('needs no split when one variant is asked for', async () => {
    representations = [];
    const r = await graph.ask(`{ tasks { costUSD } }`);
    expect(r.data).toEqual({ tasks: [{ costUSD: 200 }, { costUSD: 600 }] });
    expect(representations).toHaveLength(2);
  });

  it('reports a subgraph error on a @requires variant under the real field name, never the hidden one', async () => {
    failRate = 'EUR';
    try {
      const r = await graph.ask(`{ tasks { id costUSD costEUR } }`);
      // The hidden field (asked as `_cos_req_Task_rate_N: rate(currency: "EUR")`) failed: the client reads `rate`.
      expect(r.errors?.map((e) => (e as { path?: unknown }).path)).toEqual([['tasks', 1, 'rate']]);
      expect((r.data as { tasks: unknown[] }).tasks[0]).toEqual({ id: 't1', costUSD: 200, costEUR: 400 });
      expect(JSON.stringify(r)).not.toContain('_cos_req_');
    } finally {
      failRate = undefined;
    }
  });

  it('keeps the hidden fields out of the client schema (validation and introspection)', async () => {
    const asked = await graph.ask(`{ tasks { _cos_req_Task_rate_0 } }`);
    expect(asked.data).toBeUndefined();
    expect(asked.errors?.[0]?.message).toMatch(/Cannot query field "_cos_req_Task_rate_0" on type "Task"/);
    const introspected = await graph.ask(`{ __type(name: "Task") { fields { name } } }`);
    expect(introspected.errors).toBeUndefined();
    expect(JSON.stringify(introspected.data)).toContain('"rate"');
    expect(JSON.stringify(introspected.data)).not.toContain('_cos_req_');
  });
});
