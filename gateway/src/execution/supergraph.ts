import { readFile } from 'node:fs/promises';
import type { SupergraphManager } from '@apollo/gateway';
import { Kind, parse, type ConstValueNode } from 'graphql';
import type { Logger } from '@cos/logger';
import { gatewayCompatibleSupergraph } from '../authz/requirements';

export interface SubgraphInfo {
  /** Name as composed (`tasks`), the key of SUBGRAPH_<NAME>_URL. */
  name: string;
  /** The GraphQL endpoint the gateway calls (after env overrides). */
  url: string;
}

/** Reads the supergraph SDL from a file path or an http(s) URL (5 s budget: it is read at startup and on polls). */
export async function readSupergraph(source: string): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`supergraph ${source} answered HTTP ${res.status}`);
    return res.text();
  }
  return readFile(source, 'utf8');
}

/** The subgraphs named by `enum join__Graph { X @join__graph(name:, url:) }`, with env URL overrides applied. */
export function subgraphsOf(supergraphSdl: string, overrides: Record<string, string> = {}): SubgraphInfo[] {
  const doc = parse(supergraphSdl, { noLocation: true });
  const out: SubgraphInfo[] = [];
  for (const def of doc.definitions) {
    if (def.kind !== Kind.ENUM_TYPE_DEFINITION || def.name.value !== 'join__Graph') continue;
    for (const value of def.values ?? []) {
      const dir = value.directives?.find((d) => d.name.value === 'join__graph');
      const arg = (n: string) => str(dir?.arguments?.find((a) => a.name.value === n)?.value);
      const name = arg('name');
      const url = arg('url');
      if (!name) continue;
      out.push({ name, url: overrides[name.toLowerCase()] ?? url ?? '' });
    }
  }
  return out;
}

const str = (v: ConstValueNode | undefined) => (v?.kind === Kind.STRING ? v.value : undefined);

/**
 * A SupergraphManager for @apollo/gateway: loads the SDL once and, when pollMs > 0, re-reads it and hot-swaps the
 * schema when it changed (a failed poll keeps the current schema and is logged). `onLoad` sees every accepted SDL.
 */
export function supergraphManager(opts: {
  source: string;
  pollMs: number;
  log: Logger;
  onLoad: (sdl: string) => void;
}): SupergraphManager {
  return {
    async initialize({ update }) {
      let current = await readSupergraph(opts.source);
      opts.onLoad(current);
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      if (opts.pollMs > 0) {
        const poll = async () => {
          if (stopped) return;
          try {
            const next = await readSupergraph(opts.source);
            if (next !== current) {
              update(gatewayCompatibleSupergraph(next));
              current = next;
              opts.onLoad(next);
              opts.log.info({ source: opts.source }, 'supergraph updated');
            }
          } catch (err) {
            opts.log.warn({ err, source: opts.source }, 'supergraph poll failed; keeping the current schema');
          }
          if (stopped) return;
          timer = setTimeout(() => void poll(), opts.pollMs);
          timer.unref();
        };
        timer = setTimeout(() => void poll(), opts.pollMs);
        timer.unref();
      }
      return {
        // The gateway enforces @authenticated/@requiresScopes/@policy itself (useAuthorization).
        supergraphSdl: gatewayCompatibleSupergraph(current),
        cleanup: async () => {
          stopped = true;
          if (timer) clearTimeout(timer);
        },
      };
    },
  };
}
