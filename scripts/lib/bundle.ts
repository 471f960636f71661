/**
 * One JavaScript file per process entry (a subgraph, the gateway, the mailer, the worker, the MCP server), built with
 * esbuild into `.build/`, so a process starts with plain `node` instead of loading every module through tsx's
 * loader hooks. Measured on the gateway (import of gateway/src/server.ts, this 2-core machine): ~2.7-3.6 s of CPU
 * through tsx, ~1.4-1.8 s from the bundle. Every e2e file, `pnpm start`, the benches and a rolling restart start
 * several processes, so this is most of their start-up time.
 *
 * What the bundle holds: our own TypeScript (the entry and the workspace packages it imports). What it does not:
 * packages from node_modules. Those stay imports, each resolved at build time to its absolute file (the file Node
 * itself would load: conditions and main fields as Node's), because pnpm's layout lets a package see only its own
 * dependencies, which the bundle's folder could not resolve by name.
 *
 * `import.meta.url` (and `import.meta.dirname`) in each source file are replaced by that file's own location, so code
 * that finds files beside it (schema.graphql, migrations, prompts) finds the same files as under tsx. In the entry file
 * `process.argv[1]` is replaced by the entry's own path too, so an "am I the script being run?" check
 * (`import.meta.url === \`file://${process.argv[1]}\``, apps/console/server.ts) holds as it does when run from source.
 *
 * A bundle is reused while it is fresh: every input file esbuild recorded (metafile) still exists and is older than
 * the bundle, and this builder is unchanged. Otherwise it is rebuilt (≈ 0.3 s), written to a temporary file and
 * renamed into place, so processes started in parallel (e2e files) never read a half-written bundle.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { repoRoot } from './paths';

export const BUILD_DIR = path.join(repoRoot, '.build');

/** What a build's freshness also depends on: this file (the options below) and esbuild's version. */
const BUILDER_KEY = createHash('sha256')
  .update(readFileSync(new URL(import.meta.url)))
  .update(esbuild.version)
  .digest('hex')
  .slice(0, 16);

interface BuildRecord {
  builder: string;
  /** Absolute paths of every file the bundle was built from. */
  inputs: string[];
}

/** The bundle's path for an entry: `.build/<entry path relative to the repository>.mjs`. */
export function bundlePath(entry: string): string {
  const rel = path.relative(repoRoot, path.resolve(entry)).replace(/\.ts$/, '.mjs');
  return path.join(BUILD_DIR, rel);
}

/** Builds `entry`'s bundle unless a fresh one exists; returns its path. */
export async function ensureBundle(entry: string): Promise<string> {
  const out = bundlePath(entry);
  if (isFresh(out)) return out;
  await buildBundle(entry, out);
  return out;
}

function isFresh(out: string): boolean {
  let built: number;
  let record: BuildRecord;
  try {
    built = statSync(out).mtimeMs;
    record = JSON.parse(readFileSync(`${out}.inputs.json`, 'utf8')) as BuildRecord;
  } catch {
    return false;
  }
  if (record.builder !== BUILDER_KEY) return false;
  for (const file of record.inputs) {
    try {
      if (statSync(file).mtimeMs > built) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function buildBundle(entry: string, out: string): Promise<void> {
  mkdirSync(path.dirname(out), { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.resolve(entry)],
    absWorkingDir: repoRoot,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Node's own resolution: no "module" condition or main field (esbuild adds them by default).
    conditions: [],
    mainFields: ['main'],
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    write: false,
    outfile: out,
    logLevel: 'silent',
    plugins: [nodeModulesByPath, ownLocation(path.resolve(entry))],
  });
  const tmp = `.${process.pid}.${Date.now()}.tmp`;
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.includes('node_modules'))
    .map((f) => path.resolve(repoRoot, f));
  // The record first: a bundle is only ever judged by the record written with it (or an older one, which has fewer
  // or the same inputs and is re-checked against the new bundle's newer mtime: at worst one needless rebuild).
  writeFileSync(`${out}.inputs.json${tmp}`, JSON.stringify({ builder: BUILDER_KEY, inputs } satisfies BuildRecord));
  renameSync(`${out}.inputs.json${tmp}`, `${out}.inputs.json`);
  // The bundle itself last: its mtime is what freshness compares with.
  const files = [...result.outputFiles].sort((a, b) => Number(a.path === out) - Number(b.path === out));
  for (const file of files) {
    writeFileSync(`${file.path}${tmp}`, file.contents);
    renameSync(`${file.path}${tmp}`, file.path);
  }
}

/** Packages from node_modules stay external, imported by the absolute path of the file Node would load. */
const nodeModulesByPath: esbuild.Plugin = {
  name: 'node-modules-by-path',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'resolving' || args.path.startsWith('node:') || args.path.startsWith('@cos/')) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0 || !resolved.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      return { path: resolved.path, external: true };
    });
  },
};

/** `import.meta.url` / `import.meta.dirname` of each of our files: the file's own location, not the bundle's. */
const ownLocation = (entry: string): esbuild.Plugin => ({
  name: 'own-location',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, (args) => {
      let source = readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)));
      if (args.path === entry) source = source.replaceAll('process.argv[1]', JSON.stringify(args.path));
      return { contents: source, loader: 'ts' };
    });
  },
});

/** Builds the bundles of the given entries (CLI: `pnpm build:processes`). */
export async function buildAll(entries: string[]): Promise<string[]> {
  return Promise.all(entries.map((e) => ensureBundle(e)));
}
