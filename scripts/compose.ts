/**
 * Composes the four subgraph SDLs into schema/supergraph.graphql with @apollo/composition (Federation 2).
 *   pnpm compose          write it
 *   pnpm compose --check  exit 1 when composition fails or the committed file is stale
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { SERVICES, SERVICE_PORTS, repoRoot } from './lib/paths';

export const SUPERGRAPH_PATH = path.join(repoRoot, 'schema/supergraph.graphql');

/** The routing URLs baked into the committed supergraph; the gateway overrides them from env at runtime. */
export async function composeSupergraph(): Promise<{ supergraphSdl?: string; errors: string[] }> {
  const subgraphs = await Promise.all(
    SERVICES.map(async (name) => ({
      name,
      url: `http://127.0.0.1:${SERVICE_PORTS[name]}/graphql`,
      typeDefs: parse(await readFile(path.join(repoRoot, 'services', name, 'src/schema.graphql'), 'utf8')),
    })),
  );
  const result = composeServices(subgraphs);
  if (result.errors) return { errors: result.errors.map((e) => e.message) };
  return { supergraphSdl: result.supergraphSdl, errors: [] };
}

async function main() {
  const check = process.argv.includes('--check');
  const { supergraphSdl, errors } = await composeSupergraph();
  if (errors.length || !supergraphSdl) {
    console.error(`composition failed:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    process.exit(1);
  }
  const current = await readFile(SUPERGRAPH_PATH, 'utf8').catch(() => '');
  if (current === supergraphSdl) {
    console.log('schema/supergraph.graphql is up to date');
    return;
  }
  if (check) {
    console.error('schema/supergraph.graphql is stale: run pnpm compose');
    process.exit(1);
  }
  await writeFile(SUPERGRAPH_PATH, supergraphSdl);
  console.log('wrote schema/supergraph.graphql');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
