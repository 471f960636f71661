import type { Plugin } from 'graphql-yoga';
import type { SubgraphInfo } from '../execution/supergraph';

export interface UseHealthOptions {
  /** The subgraphs of the currently loaded supergraph; empty until it is loaded. */
  subgraphs: () => SubgraphInfo[];
  isLoaded: () => boolean;
  isDraining: () => boolean;
  /** GET a URL within timeoutMs and return its HTTP status (throws on failure). */
  probe: (url: string, timeoutMs: number) => Promise<number>;
  probeTimeoutMs?: number;
}

/**
 * /healthz: the process is alive. /readyz: the supergraph is loaded, the gateway is not draining and every
 * subgraph's /healthz answered 200 within 1 s (probed in parallel) — otherwise 503 with the reason per subgraph.
 * While draining, every response carries `Connection: close`, so keep-alive sockets of in-flight requests close
 * as soon as they are answered and shutdown does not wait for idle keep-alive timeouts.
 */
export function useHealth(opts: UseHealthOptions): Plugin {
  const timeout = opts.probeTimeoutMs ?? 1_000;
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
          try {
            const status = await opts.probe(new URL('/healthz', s.url).toString(), timeout);
            subgraphs[s.name] = status === 200 ? 'ok' : `HTTP ${status}`;
          } catch (err) {
            subgraphs[s.name] = (err as Error).name === 'TimeoutError' ? `no answer within ${timeout} ms` : 'unreachable';
          }
        }),
      );
      const draining = opts.isDraining();
      const ok = loaded && !draining && Object.values(subgraphs).every((v) => v === 'ok');
      endResponse(
        fetchAPI.Response.json(
          { status: ok ? 'ok' : draining ? 'draining' : 'unavailable', supergraph: loaded ? 'loaded' : 'not loaded', subgraphs },
          { status: ok ? 200 : 503 },
        ),
      );
    },
  };
}
