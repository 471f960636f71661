/**
 * The Guild gateway benchmark's four subgraphs (accounts, inventory, products, reviews), ours in TypeScript: the
 * suite's SDL and data (bench/guild/fixtures/), @apollo/subgraph schemas executed by graphql-js, served by one
 * node:http server at /accounts, /inventory, /products and /reviews (like the suite's Rust server on :4200), plus
 * GET /health and GET /stats (requests per subgraph).
 *
 * The resolvers mirror the suite's Rust subgraphs (async-graphql), quirks included, so every gateway gets the
 * suite's answer (checked against k6.js's expected answer by the bench and by gateway/test/guild-workload.int.test.ts):
 * - reviews: `Review.author` is always user 1 with username "urigo" (`@provides(fields: "username")`) and
 *   `User.reviews` is always reviews 1 and 2; a `User` entity carries username "user";
 * - inventory: the `Product` entity is inventory's own row, whose external `price`/`weight` are null (the Rust
 *   entity resolver ignores the representation's), so `shippingEstimate` is always null.
 *
 * Speed: documents are parsed and validated once per distinct query text. With `memo` on (the bench's default) an
 * answer is also kept per distinct (path, request body) — the data never changes, so the body determines the
 * answer — so the subgraphs stay far from being the bottleneck on the one core they share with the load generator,
 * as the suite's Rust subgraphs are; the bench reports their CPU per request either way (GUILD_SUBGRAPH_MEMO=0).
 *
 * Run alone: `tsx bench/guild/subgraphs.ts [port]` prints `{"url": …}` once listening.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { execute, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { GUILD_SUBGRAPHS, loadGuildFixtures, type GuildData, type GuildSubgraph } from './data';

type Review = GuildData['reviews']['reviews'][number];
type ReviewsUser = { id: string; username: string | null; reviews: Review[] };

function must<T>(row: T | undefined, what: string): T {
  if (row === undefined) throw new Error(`${what} not found`);
  return row;
}

/** Resolvers per subgraph, over the fixture data (see the file comment for the suite's behaviour they keep). */
export function guildResolvers(data: GuildData): Record<GuildSubgraph, GraphQLResolverMap<unknown>> {
  const users = data.accounts.users;
  const reviews = data.reviews.reviews;
  const firstTwo = reviews.slice(0, 2);
  return {
    accounts: {
      Query: {
        me: () => users[0],
        user: (_: unknown, { id }: { id: string }) => users.find((u) => u.id === id) ?? null,
        users: () => users,
      },
      User: { __resolveReference: ({ id }: { id: string }) => must(users.find((u) => u.id === id), `user ${id}`) },
    },
    inventory: {
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => must(data.inventory.products.find((p) => p.upc === upc), `product ${upc}`),
        shippingEstimate: (p: { price: number | null; weight: number | null }) => {
          if (p.price === null) return null;
          if (p.price > 1000) return 0;
          return p.weight === null ? null : Math.trunc(p.weight / 2);
        },
      },
    },
    products: {
      Query: { topProducts: (_: unknown, { first }: { first?: number | null }) => data.products.products.slice(0, first ?? 5) },
      Product: { __resolveReference: ({ upc }: { upc: string }) => must(data.products.products.find((p) => p.upc === upc), `product ${upc}`) },
    },
    reviews: {
      Review: {
        __resolveReference: ({ id }: { id: string }) => must(reviews.find((r) => r.id === id), `review ${id}`),
        product: (r: Review) => (r.productUpc === null ? null : { upc: r.productUpc }),
        author: (): ReviewsUser => ({ id: '1', username: 'urigo', reviews: firstTwo }),
      },
      User: {
        __resolveReference: ({ id }: { id: string }): ReviewsUser => ({ id, username: 'user', reviews: firstTwo }),
        reviews: (u: ReviewsUser) => u.reviews,
      },
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => ({ upc }),
        reviews: ({ upc }: { upc: string }) => reviews.filter((r) => r.productUpc === upc),
      },
    },
  };
}

export function guildSchemas(data: GuildData, sdl: Record<GuildSubgraph, string>): Record<GuildSubgraph, GraphQLSchema> {
  const resolvers = guildResolvers(data);
  return Object.fromEntries(
    GUILD_SUBGRAPHS.map((name) => [name, buildSubgraphSchema([{ typeDefs: parse(sdl[name]), resolvers: resolvers[name] }])]),
  ) as Record<GuildSubgraph, GraphQLSchema>;
}

export interface GuildSubgraphServer {
  server: Server;
  url: string;
  /** `${url}/${name}` for each subgraph. */
  urls: Record<GuildSubgraph, string>;
  stats: Record<GuildSubgraph, number>;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;
const MEMO_MAX = 10_000;

/** One HTTP server for the four subgraphs; `port` 0 = any free port. */
export async function startGuildSubgraphs(opts: { port?: number; host?: string; memo?: boolean } = {}): Promise<GuildSubgraphServer> {
  const { data, sdl } = loadGuildFixtures();
  const schemas = guildSchemas(data, sdl);
  const documents = new Map<string, DocumentNode | readonly Error[]>();
  const memo = new Map<string, string>();
  const stats = Object.fromEntries(GUILD_SUBGRAPHS.map((s) => [s, 0])) as Record<GuildSubgraph, number>;

  const answer = async (name: GuildSubgraph, body: string): Promise<{ status: number; text: string }> => {
    let req: { query?: unknown; variables?: Record<string, unknown> | null; operationName?: string | null };
    try {
      req = JSON.parse(body) as typeof req;
    } catch {
      return { status: 400, text: JSON.stringify({ errors: [{ message: 'body is not JSON' }] }) };
    }
    if (typeof req.query !== 'string') return { status: 400, text: JSON.stringify({ errors: [{ message: 'query is required' }] }) };
    const key = `${name}\n${req.query}`;
    let doc = documents.get(key);
    if (!doc) {
      try {
        const parsed = parse(req.query);
        const errors = validate(schemas[name], parsed, specifiedRules);
        doc = errors.length ? errors : parsed;
      } catch (err) {
        doc = [err as Error];
      }
      documents.set(key, doc);
    }
    if (Array.isArray(doc)) return { status: 400, text: JSON.stringify({ errors: doc.map((e) => ({ message: e.message })) }) };
    const result = await execute({
      schema: schemas[name],
      document: doc as DocumentNode,
      variableValues: req.variables ?? undefined,
      operationName: req.operationName ?? undefined,
    });
    return { status: 200, text: JSON.stringify(result) };
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/health') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    if (req.method === 'GET' && url === '/stats') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    const name = url.slice(1).split('?')[0] as GuildSubgraph;
    if (req.method !== 'POST' || !(GUILD_SUBGRAPHS as readonly string[]).includes(name)) return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      stats[name]++;
      const body = Buffer.concat(chunks).toString('utf8');
      const send = (status: number, text: string) =>
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
      const key = opts.memo ? `${name}\n${body}` : '';
      const hit = opts.memo ? memo.get(key) : undefined;
      if (hit !== undefined) return send(200, hit);
      answer(name, body).then(
        ({ status, text }) => {
          if (opts.memo && status === 200 && !text.includes('"errors"')) {
            if (memo.size >= MEMO_MAX) memo.clear();
            memo.set(key, text);
          }
          send(status, text);
        },
        (err: unknown) => send(500, JSON.stringify({ errors: [{ message: String(err) }] })),
      );
    });
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, handle);
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  return {
    server,
    url,
    urls: Object.fromEntries(GUILD_SUBGRAPHS.map((s) => [s, `${url}/${s}`])) as Record<GuildSubgraph, string>,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
  startGuildSubgraphs({ port, memo: process.env.GUILD_SUBGRAPH_MEMO !== '0' }).then(
    (s) => {
      process.stdout.write(`${JSON.stringify({ url: s.url })}\n`);
      const stop = () => void s.close().then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
