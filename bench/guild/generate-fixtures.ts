/**
 * Regenerates bench/guild/fixtures/ from a checkout of The Guild's public gateway benchmark
 * (graphql-hive/graphql-gateways-benchmark on GitHub, MIT): nothing of its code is vendored, only what our own
 * TypeScript subgraphs (bench/guild/subgraphs.ts) and the bench need, as data:
 *
 * - `<subgraph>.graphql`: the four subgraphs' SDL (accounts, inventory, products, reviews), extracted from the suite's
 *   composed supergraph (gateways/apollo-gateway/supergraph.graphql) with @apollo/federation-internals;
 * - `data.json`: the subgraphs' static data, parsed from the Rust sources (subgraphs/*.rs, the `lazy_static!` vectors);
 * - `test-query.graphql`: the `TestQuery` the suite's k6 script sends (k6.js);
 * - `expected-answer.json`: the full answer k6.js checks responses against (its `expectedStructure`, ~87.6 KB),
 *   converted from the JS object literal to JSON without evaluating any code;
 * - `source.json`: which commit of the suite they came from.
 *
 * Usage: `tsx bench/guild/generate-fixtures.ts <path>` where <path> is a work tree of the suite or its bare git
 * directory (read with `git show HEAD:<file>`). Deterministic: the same commit gives byte-identical fixtures.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseType, Supergraph } from '@apollo/federation-internals';
import { parse, print } from 'graphql';
import type { GuildData } from './data';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(here, 'fixtures');
export const SUBGRAPHS = ['accounts', 'inventory', 'products', 'reviews'] as const;

type Reader = { read(file: string): string; commit: string };

function openSource(dir: string): Reader {
  const bare = existsSync(path.join(dir, 'HEAD')) && existsSync(path.join(dir, 'objects'));
  const git = (...args: string[]) => execFileSync('git', bare ? ['--git-dir', dir, ...args] : ['-C', dir, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const commit = git('rev-parse', 'HEAD').trim();
  return { commit, read: (file) => (bare ? git('show', `HEAD:${file}`) : readFileSync(path.join(dir, file), 'utf8')) };
}

// ---- A parser for the subset of Rust literals the suite's data uses -------------------------------------------
// `vec![ T { field: value, ... }, ... ]` with values: "str".to_string(), ID("x".to_string()), Some(v), None,
// integers, booleans, nested `T { ... }`.

type RustValue = string | number | boolean | null | { [k: string]: RustValue };

class RustLiteral {
  private i = 0;
  constructor(private readonly s: string) {}

  private ws() {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }
  private eat(token: string) {
    this.ws();
    if (!this.s.startsWith(token, this.i)) throw new Error(`expected ${token} at ${this.s.slice(this.i, this.i + 40)}`);
    this.i += token.length;
  }
  private peek(token: string) {
    this.ws();
    return this.s.startsWith(token, this.i);
  }
  private ident(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i));
    if (!m) throw new Error(`expected an identifier at ${this.s.slice(this.i, this.i + 40)}`);
    this.i += m[0].length;
    return m[0];
  }

  vec(): RustValue[] {
    this.eat('vec![');
    const out: RustValue[] = [];
    while (!this.peek(']')) {
      out.push(this.value());
      if (this.peek(',')) this.eat(',');
    }
    this.eat(']');
    return out;
  }

  value(): RustValue {
    this.ws();
    const c = this.s[this.i]!;
    if (c === '"') {
      const str = this.string();
      if (this.peek('.to_string()')) this.eat('.to_string()');
      else if (this.peek('.into()')) this.eat('.into()');
      return str;
    }
    if (/[-0-9]/.test(c)) {
      const m = /^-?[0-9][0-9_]*/.exec(this.s.slice(this.i))!;
      this.i += m[0].length;
      return Number(m[0].replace(/_/g, ''));
    }
    const name = this.ident();
    if (name === 'true' || name === 'false') return name === 'true';
    if (name === 'None') return null;
    if (name === 'Some' || name === 'ID') {
      this.eat('(');
      const v = this.value();
      this.eat(')');
      return v;
    }
    // A struct literal: Name { field: value, ... } (the type name is dropped, fields become camelCase).
    this.eat('{');
    const obj: Record<string, RustValue> = {};
    while (!this.peek('}')) {
      const field = this.ident().replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
      this.eat(':');
      obj[field] = this.value();
      if (this.peek(',')) this.eat(',');
    }
    this.eat('}');
    return obj;
  }

  private string(): string {
    this.eat('"');
    let out = '';
    while (this.s[this.i] !== '"') {
      if (this.i >= this.s.length) throw new Error('unterminated string');
      if (this.s[this.i] === '\\') {
        const n = this.s[this.i + 1]!;
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        this.i += 2;
      } else out += this.s[this.i++];
    }
    this.i++;
    return out;
  }
}

/** The `static ref NAME: Vec<T> = vec![...];` of a Rust source, parsed. */
function staticVec(source: string, name: string): Record<string, RustValue>[] {
  const at = source.indexOf(`static ref ${name}:`);
  if (at < 0) throw new Error(`static ref ${name} not found`);
  const start = source.indexOf('vec![', at);
  return new RustLiteral(source.slice(start)).vec() as Record<string, RustValue>[];
}

// ---- k6.js: the query and the expected answer --------------------------------------------------------------

function testQuery(k6: string): string {
  const m = /query:\s*`([\s\S]*?)`/.exec(k6);
  if (!m?.[1]) throw new Error('TestQuery not found in k6.js');
  return print(parse(m[1]));
}

/**
 * k6.js's `expectedStructure` object literal → JSON, without evaluating it: unquoted keys get quotes and trailing
 * commas go (its strings are plain double-quoted text without escapes, checked by JSON.parse).
 */
function expectedAnswer(k6: string): unknown {
  const from = k6.indexOf('const expectedStructure = ');
  const to = k6.indexOf('return checkRecursive(x, expectedStructure)');
  if (from < 0 || to < 0) throw new Error('expectedStructure not found in k6.js');
  const literal = k6
    .slice(from + 'const expectedStructure = '.length, to)
    .trim()
    .replace(/;$/, '');
  const json = literal
    // Keys at the start of a line only, so "x: y" inside the text stays as it is.
    .replace(/^(\s*)([A-Za-z_][A-Za-z0-9_]*):/gm, '$1"$2":')
    .replace(/,(\s*[}\]])/g, '$1');
  return JSON.parse(json);
}

export function generate(sourceDir: string, outDir = OUT): void {
  const src = openSource(sourceDir);
  mkdirSync(outDir, { recursive: true });

  const supergraph = Supergraph.build(src.read('gateways/apollo-gateway/supergraph.graphql'));
  // The suite's subgraphs are Federation 1 style (async-graphql `extends`), where every field is shareable; in the
  // extracted Federation 2 SDL a field another subgraph `@provides` must say so (User.username: accounts and, via
  // Review.author's @provides, reviews).
  const subgraphs = supergraph.subgraphs();
  for (const sub of subgraphs) {
    for (const type of sub.schema.objectTypes()) {
      for (const field of type.fields()) {
        for (const provides of field.appliedDirectivesOf(sub.metadata().providesDirective())) {
          const target = field.type ? baseType(field.type).name : undefined;
          for (const name of String(provides.arguments().fields).split(/\s+/).filter(Boolean)) {
            for (const other of subgraphs) {
              if (other === sub) continue;
              const f = other.schema.type(target ?? '');
              const def = f && 'field' in f ? (f as typeof type).field(name) : undefined;
              if (def && !def.hasAppliedDirective(other.metadata().externalDirective()) && !def.hasAppliedDirective(other.metadata().shareableDirective())) {
                def.applyDirective(other.metadata().shareableDirective());
              }
            }
          }
        }
      }
    }
  }
  for (const sub of subgraphs) {
    if (!(SUBGRAPHS as readonly string[]).includes(sub.name)) throw new Error(`unexpected subgraph ${sub.name}`);
    // `schema @link(…) { query: Query }` → `extend schema @link(…)`: the root is found by its name, and inventory has
    // no Query fields of its own (buildSubgraphSchema adds `_entities`/`_service` to a Query it creates).
    const text = sub
      .toString()
      .trim()
      .replace(/^schema\n([\s\S]*?)\{\n {2}query: Query\n\}/, (_, links: string) => `extend schema\n${links.trimEnd()}`);
    if (/^schema\b/m.test(text)) throw new Error(`unexpected schema definition in ${sub.name}`);
    writeFileSync(path.join(outDir, `${sub.name}.graphql`), `${text}\n`);
  }

  const rust = (name: string) => src.read(`subgraphs/${name}.rs`);
  const strip = <T extends Record<string, RustValue>>(rows: Record<string, RustValue>[]) => rows as T[];
  const data: GuildData = {
    accounts: { users: strip(staticVec(rust('accounts'), 'USERS')) as GuildData['accounts']['users'] },
    inventory: { products: strip(staticVec(rust('inventory'), 'INVENTORY')) as GuildData['inventory']['products'] },
    products: { products: strip(staticVec(rust('products'), 'PRODUCTS')) as GuildData['products']['products'] },
    reviews: {
      reviews: staticVec(rust('reviews'), 'REVIEWS').map((r) => ({ id: r.id, body: r.body, productUpc: (r.product as { upc: string } | null)?.upc ?? null })) as GuildData['reviews']['reviews'],
    },
  };
  writeFileSync(path.join(outDir, 'data.json'), `${JSON.stringify(data, null, 2)}\n`);

  const k6 = src.read('k6.js');
  writeFileSync(path.join(outDir, 'test-query.graphql'), `${testQuery(k6)}\n`);
  writeFileSync(path.join(outDir, 'expected-answer.json'), `${JSON.stringify(expectedAnswer(k6))}\n`);
  writeFileSync(
    path.join(outDir, 'source.json'),
    `${JSON.stringify({ repository: 'graphql-hive/graphql-gateways-benchmark', commit: src.commit, license: 'MIT, Copyright (c) 2023 The Guild' }, null, 2)}\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: tsx bench/guild/generate-fixtures.ts <checkout or git dir of graphql-hive/graphql-gateways-benchmark>');
    process.exit(2);
  }
  generate(path.resolve(dir));
  console.log(`fixtures written to ${path.relative(process.cwd(), OUT)}`);
}
