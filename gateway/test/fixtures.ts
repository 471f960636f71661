/**
 * Test fixtures: two tiny federated subgraphs of the test's own (not the real services), a composed supergraph,
 * a JWKS server with an Ed25519 key, and an identity-like API-key verification route. Every subgraph refuses
 * requests the gateway did not sign, exactly like service-kit does.
 */
import { createHash } from 'node:crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { PRINCIPAL_HEADER, SIGNATURE_HEADER, verifyPrincipal, type Principal } from '@cos/auth';
import { appError, conflict, ErrorCode, notFound } from '@cos/errors';
import { TEST_INTERNAL_SECRET } from '@cos/testing';
import type { GatewayDeps } from '../src/server';

export const SECRET = TEST_INTERNAL_SECRET;

/** The gateway env every in-process gateway test starts from (its own Redis prefix each time); override what differs. */
export function testGatewayEnv(opts: { supergraphPath: string; jwksUrl: string } & Partial<GatewayDeps['env']>): GatewayDeps['env'] {
  const { supergraphPath, jwksUrl, ...overrides } = opts;
  return {
    NODE_ENV: 'test',
    SUPERGRAPH: supergraphPath,
    SUPERGRAPH_POLL_MS: 0,
    INTERNAL_SECRET: SECRET,
    JWKS_URL: jwksUrl,
    JWT_ISSUER: 'cos-identity',
    JWT_AUDIENCE: 'cos-graph',
    SUBGRAPH_TIMEOUT_MS: 5_000,
    SUBGRAPH_CONNECTIONS: 8,
    REDIS_PREFIX: `test:${randomBytes(4).toString('hex')}:`,
    MAX_BODY_BYTES: 1_000_000,
    subgraphUrls: {},
    ...overrides,
  };
}

export interface Listening {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function listen(handler: Parameters<typeof createServer>[1], port = 0): Promise<Listening> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a subgraph saw: the verified principal and the forwarded headers of each GraphQL request. */
export interface SeenRequest {
  principal: Principal;
  headers: IncomingHttpHeaders;
}

export interface TestSubgraph extends Listening {
  name: string;
  typeDefs: string;
  seen: SeenRequest[];
}

const users: Record<string, { id: string; name: string }> = {
  u1: { id: 'u1', name: 'Ada' },
  u2: { id: 'u2', name: 'Grace' },
};
const posts = [
  { id: 'p1', title: 'Hello', authorId: 'u1' },
  { id: 'p2', title: 'Federation', authorId: 'u2' },
  { id: 'p3', title: 'Again', authorId: 'u1' },
];

export const ACCOUNTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type User @key(fields: "id") { id: ID! name: String! }
  type Viewer { kind: String! id: String orgId: String role: String scopes: [String!]! }
  type Query {
    viewer: Viewer!
    user(id: ID!): User
    missing: String
    stale: String
    leaky: String
  }
`;

export const POSTS_SDL = /* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Post @key(fields: "id") { id: ID! title: String! author: User! }
  type User @key(fields: "id") { id: ID! posts: [Post!]! }
  type Query { posts: [Post!]! slow: String }
  type Mutation { addPost(title: String!): Post! }
`;

type Ctx = { principal: Principal };

const accountsResolvers = {
  Query: {
    viewer: (_: unknown, __: unknown, ctx: Ctx) => {
      const p = ctx.principal;
      const id = p.kind === 'user' ? p.userId : p.kind === 'apiKey' ? p.keyId : p.kind === 'service' ? p.serviceId : null;
      return { kind: p.kind, id, orgId: 'orgId' in p ? p.orgId : null, role: p.kind === 'user' ? p.role : null, scopes: 'scopes' in p ? p.scopes : [] };
    },
    user: (_: unknown, { id }: { id: string }) => users[id] ?? null,
    missing: () => {
      throw notFound('Widget', 'w1');
    },
    stale: () => {
      throw conflict('Task changed since you read it', 7);
    },
    leaky: () => {
      throw new Error('relation "secret_table" does not exist at SELECT * FROM secret_table');
    },
  },
  User: { __resolveReference: (ref: { id: string }) => users[ref.id] ?? null },
};

let postSeq = 100;
const postsResolvers = {
  Query: {
    posts: () => posts,
    slow: async () => {
      await new Promise((r) => setTimeout(r, 3_000));
      return 'too late';
    },
  },
  Mutation: {
    addPost: (_: unknown, { title }: { title: string }) => ({ id: `p${postSeq++}`, title, authorId: 'u1' }),
  },
  Post: {
    author: (p: { authorId: string }) => ({ __typename: 'User', id: p.authorId }),
  },
  User: {
    posts: (u: { id: string }) => posts.filter((p) => p.authorId === u.id),
  },
};

/** An API key the test identity knows. */
export const KNOWN_API_KEY = `cos_test_${randomBytes(12).toString('hex')}`;
export const API_KEY_ORG = randomUUID();

/** Operations registered for the partner key (its trusted documents), served by `accounts`' lookup route. */
export const PARTNER_DOCUMENTS = ['{ viewer { kind id orgId scopes } }', '{ viewer { kind id } }'];

/** Starts one subgraph; `accounts` also answers identity's internal API-key verification route. */
export async function startSubgraph(name: 'accounts' | 'posts', port = 0): Promise<TestSubgraph & { verifyCalls: number }> {
  const typeDefs = name === 'accounts' ? ACCOUNTS_SDL : POSTS_SDL;
  const resolvers = name === 'accounts' ? accountsResolvers : postsResolvers;
  const schema = buildSubgraphSchema([{ typeDefs: parse(typeDefs), resolvers: resolvers as never }]);
  const seen: SeenRequest[] = [];
  const state = { verifyCalls: 0 };

  const gate: Plugin = {
    onRequest({ request, endResponse, fetchAPI }) {
      const v = verifyPrincipal(request.headers.get(PRINCIPAL_HEADER), request.headers.get(SIGNATURE_HEADER), SECRET);
      if (!v.ok) endResponse(fetchAPI.Response.json({ errors: [{ message: v.reason, extensions: { code: 'UNAUTHENTICATED' } }] }, { status: 401 }));
    },
  };
  const yoga = createYoga<Record<string, unknown>, Ctx>({
    schema,
    logging: false,
    landingPage: false,
    // Unmasked on purpose: the gateway must mask what a careless subgraph leaks.
    maskedErrors: false,
    plugins: [gate],
    context: ({ request }) => {
      const v = verifyPrincipal(request.headers.get(PRINCIPAL_HEADER), request.headers.get(SIGNATURE_HEADER), SECRET);
      if (!v.ok) throw new GraphQLError('unsigned');
      return { principal: v.principal };
    },
  });

  const l = await listen(async (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.url === '/internal/persisted-operations/lookup' && name === 'accounts') {
      // identity's trusted-document lookup: partners (API keys) may only run registered operations.
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const { id } = JSON.parse(Buffer.concat(chunks).toString()) as { id: string };
      const body = PARTNER_DOCUMENTS.find((d) => createHash('sha256').update(d).digest('hex') === id);
      if (!body) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not registered"}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, name: 'Viewer', body }));
      return;
    }
    if (req.url === '/internal/api-keys/verify' && name === 'accounts') {
      state.verifyCalls++;
      const v = verifyPrincipal(req.headers[PRINCIPAL_HEADER] as string, req.headers[SIGNATURE_HEADER] as string, SECRET);
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (!v.ok || v.principal.kind !== 'service') {
        res.writeHead(401).end();
        return;
      }
      const { secret } = JSON.parse(Buffer.concat(chunks).toString()) as { secret: string };
      if (secret !== KNOWN_API_KEY) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unknown key"}');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keyId: 'key-1', orgId: API_KEY_ORG, clientName: 'Partner Inc', scopes: ['tasks:read'] }));
      return;
    }
    if (req.url?.startsWith('/graphql')) {
      const v = verifyPrincipal(req.headers[PRINCIPAL_HEADER] as string, req.headers[SIGNATURE_HEADER] as string, SECRET);
      if (v.ok) seen.push({ principal: v.principal, headers: req.headers });
    }
    return yoga(req, res);
  }, port);

  const sub = Object.assign(l, { name, typeDefs, seen, verifyCalls: 0 });
  // Object.assign would copy a getter's value once; define it on the result instead.
  Object.defineProperty(sub, 'verifyCalls', { get: () => state.verifyCalls });
  return sub;
}

/** Composes the given subgraphs (Federation 2) into a supergraph SDL, with their live URLs. */
export function composeSupergraph(subgraphs: Array<{ name: string; url: string; typeDefs: string }>): string {
  const result = composeServices(subgraphs.map((s) => ({ name: s.name, url: `${s.url}/graphql`, typeDefs: parse(s.typeDefs) })));
  if (result.errors || !result.supergraphSdl) throw new Error(`composition failed: ${result.errors?.map((e) => e.message).join('; ')}`);
  return result.supergraphSdl;
}

export interface TestIssuer extends Listening {
  jwksUrl: string;
  kid: string;
  /** Signs an access token like identity does (EdDSA, kid, iss/aud, sub/org/role). */
  sign(claims: { sub: string; org: string; role: string }, opts?: { expiresIn?: string | number; audience?: string; issuer?: string; key?: CryptoKey }): Promise<string>;
}

export async function startIssuer(): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = `k-${randomBytes(4).toString('hex')}`;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const l = await listen((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  return Object.assign(l, {
    jwksUrl: `${l.url}/.well-known/jwks.json`,
    kid,
    async sign(claims: { sub: string; org: string; role: string }, opts: { expiresIn?: string | number; audience?: string; issuer?: string; key?: CryptoKey } = {}) {
      return new SignJWT({ org: claims.org, role: claims.role })
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setSubject(claims.sub)
        .setIssuer(opts.issuer ?? 'cos-identity')
        .setAudience(opts.audience ?? 'cos-graph')
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '15m')
        .sign(opts.key ?? privateKey);
    },
  });
}

export { ErrorCode, appError };
