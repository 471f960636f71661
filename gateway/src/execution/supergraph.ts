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

/** Every name of every supergraph loaded so far, as one-byte internalized property keys (kept alive: see below). */
const pinnedNames: Record<string, true> = Object.create(null) as Record<string, true>;

/**
 * Makes V8 hold the supergraph's names (types, fields, arguments, enum values) as one-byte strings wherever they become
 * property keys: the merged subgraph data, the shaped answer, JSON.parse's keys. Without it, @apollo/gateway's first
 * build of the schema (federation-internals' Schema.toAST prints the schema and parses the text again) goes through
 * a text V8 holds two-byte although every character is Latin-1, so names such as `price` or `upc` are internalized
 * two-byte, and every answer JSON.stringify writes with them comes out two-byte: twice the bytes to flatten and
 * encode (serialize.ts). Interning one-byte copies first wins, since V8 keeps one internalized string per content
 * and returns the existing one. Must run before @apollo/gateway sees the SDL.
 */
export function pinOneByteNames(sdl: string): number {
  let added = 0;
  for (const m of sdl.matchAll(/[_A-Za-z][_0-9A-Za-z]*/g)) {
    // A fresh flat one-byte copy first (names are ASCII by the GraphQL grammar): even looking a key up interns it, so
    // the slice itself, two-byte when the SDL is, must never be used as one.
    const name = Buffer.from(m[0], 'latin1').toString('latin1');
    if (pinnedNames[name]) continue;
    pinnedNames[name] = true;
    added++;
  }
  return added;
}

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
      pinOneByteNames(current);
      opts.onLoad(current);
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      if (opts.pollMs > 0) {
        const poll = async () => {
          if (stopped) return;
          try {
            const next = await readSupergraph(opts.source);
            if (next !== current) {
              pinOneByteNames(next);
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
