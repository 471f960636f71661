/**
 * The baseline for bench/gateway.bench.ts: stock @apollo/gateway served by stock @apollo/server (standalone HTTP
 * server), on the same supergraph and the same subgraph processes as ours. The only additions are what the
 * subgraphs require to answer at all: the caller's JWT verified with the same verifier (jose, cached JWKS) and the
 * principal signed into each subgraph request by a stock RemoteGraphQLDataSource.willSendRequest. Default fetcher
 * (Apollo's own), default caches, no tuning.
 *
 * Env: PORT, SUPERGRAPH (file), SUBGRAPH_<NAME>_URL, INTERNAL_SECRET, JWKS_URL. Without INTERNAL_SECRET and JWKS_URL
 * (bench/guild.bench.ts: subgraphs that need no principal) there is no JWT verification and no signing: the Guild
 * benchmark's stock gateway as it is (`new ApolloGateway({ supergraphSdl })` under `startStandaloneServer`).
 */
import { readFileSync } from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { signPrincipal, type Principal } from '@cos/auth';
import { createJwtVerifier } from '../../gateway/src/auth/jwt';
import { gatewayCompatibleSupergraph } from '../../gateway/src/authz/requirements';

interface Ctx {
  principal: Principal;
}

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is required`);
  return v;
};
const authenticated = !!(process.env.INTERNAL_SECRET || process.env.JWKS_URL);
const secret = authenticated ? env('INTERNAL_SECRET') : '';
const verify = authenticated ? createJwtVerifier({ jwksUrl: env('JWKS_URL'), issuer: 'cos-identity', audience: 'cos-graph' }) : undefined;

// No usage telemetry to Apollo and no cloud-metadata probes (loopback only, and a fair baseline).
process.env.APOLLO_TELEMETRY_DISABLED = 'true';
const gateway = new ApolloGateway({
  // Stock @apollo/gateway refuses `for: SECURITY` links it does not implement; it enforces none of them.
  supergraphSdl: gatewayCompatibleSupergraph(readFileSync(env('SUPERGRAPH'), 'utf8')),
  buildService: ({ name, url }) =>
    new RemoteGraphQLDataSource<Ctx>({
      url: process.env[`SUBGRAPH_${name.toUpperCase()}_URL`] ?? url,
      ...(authenticated && {
        willSendRequest({ request, context }) {
          const principal = (context as Partial<Ctx>).principal ?? { kind: 'anonymous' };
          for (const [k, v] of Object.entries(signPrincipal(principal, secret))) request.http?.headers.set(k, v);
        },
      }),
    }),
});

const server = new ApolloServer<Ctx>({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(env('PORT')), host: '127.0.0.1' },
  context: async ({ req }) => {
    const auth = req.headers.authorization;
    const principal: Principal = verify && auth?.startsWith('Bearer ') ? await verify(auth.slice(7)) : { kind: 'anonymous' };
    return { principal };
  },
});
console.log(`stock gateway ready at ${url}`);
const stop = () => {
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
