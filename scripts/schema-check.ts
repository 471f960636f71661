/**
 * `pnpm schema:check [--base <git-ref>]`: is the graph composed from the subgraph SDLs in the working tree safe to ship?
 * 1. It composes (@apollo/composition).
 * 2. No breaking change against the base API schema (schema/supergraph.graphql at <git-ref>, default HEAD; the file
 *    itself when git has none), per @graphql-inspector/core — except removing a field, enum value or argument that was
 *    already @deprecated in the base (the deprecation period is over). Changing a field's type is always breaking:
 *    add a new field and deprecate the old one.
 * 3. Every operation of every committed manifest (schema/persisted/*.json) still validates against the new API schema.
 * Exit 1 with one line per problem. Runs in `pnpm test`.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import type { GraphQLSchema } from 'graphql';
import { apiSchemaOf, manifestSchema, validateOperations } from '@cos/persisted';
import { composeSupergraph, SUPERGRAPH_PATH } from './compose';
import { repoRoot } from './lib/paths';

const PERSISTED_DIR = path.join(repoRoot, 'schema/persisted');

/** A breaking change is tolerated only when it removes something the base schema had already deprecated. */
function deprecatedInBase(change: Change): boolean {
  const meta = change.meta as Record<string, unknown>;
  if (meta.isRemovedFieldDeprecated === true) return true;
  if (meta.isEnumValueDeprecated === true) return true;
  return false;
}

export async function breakingChanges(base: GraphQLSchema, next: GraphQLSchema): Promise<string[]> {
  const changes = await diff(base, next);
  return changes
    .filter((c) => c.criticality.level === CriticalityLevel.Breaking && !deprecatedInBase(c))
    .map((c) => `breaking change without a @deprecated period: ${c.message}${c.path ? ` (${c.path})` : ''}`);
}

export async function brokenOperations(next: GraphQLSchema, manifests: Array<{ file: string; json: unknown }>): Promise<string[]> {
  const out: string[] = [];
  for (const { file, json } of manifests) {
    const parsed = manifestSchema.safeParse(json);
    if (!parsed.success) {
      out.push(`${file}: not an apollo-persisted-query-manifest (${parsed.error.issues[0]?.message ?? 'invalid'})`);
      continue;
    }
    for (const p of validateOperations(next, parsed.data.operations)) out.push(`${file}: operation ${p.name} would break: ${p.message}`);
  }
  return out;
}

function baseSupergraph(ref: string): Promise<string> {
  try {
    return Promise.resolve(
      execFileSync('git', ['show', `${ref}:${path.relative(repoRoot, SUPERGRAPH_PATH)}`], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    );
  } catch {
    return readFile(SUPERGRAPH_PATH, 'utf8');
  }
}

async function main() {
  const i = process.argv.indexOf('--base');
  const ref = i > 0 ? (process.argv[i + 1] ?? 'HEAD') : 'HEAD';
  const { supergraphSdl, errors } = await composeSupergraph();
  if (!supergraphSdl) {
    console.error(`composition failed:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
    process.exit(1);
  }
  const next = apiSchemaOf(supergraphSdl);
  const base = apiSchemaOf(await baseSupergraph(ref));
  const files = (await readdir(PERSISTED_DIR).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
  const manifests = await Promise.all(
    files.map(async (f) => ({ file: `schema/persisted/${f}`, json: JSON.parse(await readFile(path.join(PERSISTED_DIR, f), 'utf8')) as unknown })),
  );
  const problems = [...(await breakingChanges(base, next)), ...(await brokenOperations(next, manifests))];
  if (problems.length) {
    console.error(`schema check failed (base ${ref}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exit(1);
  }
  const ops = manifests.reduce((n, m) => n + ((m.json as { operations?: unknown[] }).operations?.length ?? 0), 0);
  console.log(`schema check passed: no breaking change against ${ref}; ${ops} operations in ${manifests.length} manifests valid`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
