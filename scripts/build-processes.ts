/**
 * `pnpm build:processes`: builds (or finds fresh) the one-file bundle of every process entry into `.build/`
 * (scripts/lib/bundle.ts). The stack launcher does this by itself before it starts processes; this command is for
 * images (infra/docker/Dockerfile) and for seeing what would be built.
 */
import path from 'node:path';
import { buildAll } from './lib/bundle';
import { PROCESS_ENTRIES, repoRoot } from './lib/paths';

const started = performance.now();
const outputs = await buildAll(Object.values(PROCESS_ENTRIES));
for (const out of outputs) console.log(path.relative(repoRoot, out));
console.log(`${outputs.length} bundles fresh in ${Math.round(performance.now() - started)} ms`);
