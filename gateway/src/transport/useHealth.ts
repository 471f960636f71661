import type { Plugin } from 'graphql-yoga';
import type { SubgraphInfo } from '../execution/supergraph';

export interface UseHealthOptions {
  /** The subgraphs of the currently loaded supergraph; empty until it is loaded. */
  subgraphs: () => SubgraphInfo[];
  isLoaded: () => boolean;
  isDraining: () => boolean;
  /** GET a URL within timeoutMs and return its HTTP status (throws on failure). */
  probe: (url: string, timeoutMs: number) => Promise<number>;
  /** POST `{ __typename }` to a subgraph within timeoutMs: true when it answers `data.__typename`. */
  probeGraphQL: (url: string, timeoutMs: number) => Promise<boolean>;
  /**
   * Backing services the gateway can serve without (NATS: subscriptions and response-cache invalidation; Redis:
   * shared caches and limits): reported, never a reason to be unready, since queries and mutations still work.
   */
  dependencies?: () => Record<string, boolean>;
  probeTimeoutMs?: number;
}

/**
 * /healthz: the process is alive. /readyz: the supergraph is loaded, the gateway is not draining and every subgraph
 * answers within 1 s (probed in parallel) — otherwise 503 with the reason per subgraph. A subgraph is probed at its
 * /healthz; one that has none (404/405: a subgraph not built on our service kit) is asked `{ __typename }` instead.
 * `dependencies` lists NATS and Redis as ok/unavailable; `status` is `degraded` (still 200) while one is down.
 * While draining, every response carries `Connection: close`, so keep-alive sockets of in-flight requests close
 * as soon as they are answered and shutdown does not wait for idle keep-alive timeouts.
 */
export function useHealth(opts: UseHealthOptions): Plugin {
  const timeout = opts.probeTimeoutMs ?? 1_000;
  const probeOne = async (s: SubgraphInfo): Promise<string> => {
    try {
      const status = await opts.probe(new URL('/healthz', s.url).toString(), timeout);
      if (status === 200) return 'ok';
      if (status !== 404 && status !== 405) return `HTTP ${status}`;
      return (await opts.probeGraphQL(s.url, timeout)) ? 'ok' : 'no answer to { __typename }';
    } catch (err) {
      return (err as Error).name === 'TimeoutError' ? `no answer within ${timeout} ms` : 'unreachable';
    }
  };
  return {
    onResponse({ response }) {
      if (opts.isDraining()) response.headers.set('connection', 'close');
    },
    async onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname === '/healthz') {
        endResponse(fetchAPI.Response.json({ status: 'ok', service: 'gateway' }));
        return;
      }
      if (url.pathname !== '/readyz') return;
      const subgraphs: Record<string, string> = {};
      const loaded = opts.isLoaded();
      await Promise.all(
        opts.subgraphs().map(async (s) => {
          subgraphs[s.name] = await probeOne(s);
        }),
      );
      const dependencies: Record<string, string> = {};
      for (const [name, up] of Object.entries(opts.dependencies?.() ?? {})) dependencies[name] = up ? 'ok' : 'unavailable';
      const draining = opts.isDraining();
      const ok = loaded && !draining && Object.values(subgraphs).every((v) => v === 'ok');
      const degraded = Object.values(dependencies).some((v) => v !== 'ok');
      endResponse(
        fetchAPI.Response.json(
          {
            status: ok ? (degraded ? 'degraded' : 'ok') : draining ? 'draining' : 'unavailable',
            supergraph: loaded ? 'loaded' : 'not loaded',
            subgraphs,
            dependencies,
          },
          { status: ok ? 200 : 503 },
        ),
      );
    },
  };
}
