/**
 * Generates the project's own clients' trusted-document manifests (Apollo's persisted-query manifest format):
 * every `schema/persisted/operations/<client>/*.graphql` (one named operation per file) → `schema/persisted/<client>.json`.
 *   pnpm persisted:manifests          write them
 *   pnpm persisted:manifests --check  exit 1 when one is stale (run by `pnpm test`, like codegen)
 * The gateway trusts these first-party manifests for every organization; `pnpm schema:check` validates them.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manifestFromBodies } from '@cos/persisted';
import { repoRoot } from './lib/paths';

export const PERSISTED_DIR = path.join(repoRoot, 'schema/persisted');
const OPERATIONS_DIR = path.join(PERSISTED_DIR, 'operations');

export async function generateManifests(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const client of (await readdir(OPERATIONS_DIR, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const dir = path.join(OPERATIONS_DIR, client);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.graphql')).sort();
    const bodies = await Promise.all(files.map(async (f) => (await readFile(path.join(dir, f), 'utf8')).trim()));
    out.set(path.join(PERSISTED_DIR, `${client}.json`), `${JSON.stringify(manifestFromBodies(bodies), null, 2)}\n`);
  }
  return out;
}

async function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, content] of await generateManifests()) {
    const current = await readFile(file, 'utf8').catch(() => '');
    if (current === content) continue;
    if (check) {
      console.error(`${path.relative(repoRoot, file)} is stale: run pnpm persisted:manifests`);
      stale++;
    } else {
      await writeFile(file, content);
      console.log(`wrote ${path.relative(repoRoot, file)}`);
    }
  }
  if (stale) process.exit(1);
  if (check) console.log('persisted-query manifests are up to date');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
