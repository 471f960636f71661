/**
 * Federated full-text search: the pieces every searching subgraph shares, so ranks, cursors and highlights mean the
 * same thing wherever a match comes from.
 *
 * - `parseSearchArgs` validates `search(query, types, first, after)` (BAD_USER_INPUT with the field).
 * - `searchKey` / `parseSearchKey`: the opaque key of the `SearchResults` entity carries the arguments from the
 *   subgraph that owns `Query.search` to the others (the gateway passes the key in `_entities`).
 * - `searchSource`: one ranked, keyset-paginated statement over a table with a `tsvector` column (GIN-indexed), with
 *   `ts_headline` computed on the page rows only.
 * - `mergeSearchMatches`: the merge by rank. Every source returns its `first + 1` best matches after the cursor in the
 *   same total order (rank desc, then `TYPE:id` asc in byte order), so the merged top `first` are exactly the global
 *   ones and pages never overlap or skip.
 */
import type { Tx } from '@cos/db';
import { badInput } from '@cos/errors';
import { decodeCursor, encodeCursor } from './cursor';

export const SEARCH_TYPES = ['TASK', 'COMMENT', 'CUSTOMER', 'CONTACT'] as const;
export type SearchType = (typeof SEARCH_TYPES)[number];

/** Longest accepted query (characters): bounds the tsquery Postgres builds from it. */
export const SEARCH_QUERY_MAX = 200;
export const SEARCH_FIRST_MAX = 50;
export const SEARCH_FIRST_DEFAULT = 20;

/** Position after which the next page starts: a match's rank and its `TYPE:id` tie-breaker. */
export interface SearchAfter {
  rank: number;
  key: string;
}

export interface SearchSpec {
  query: string;
  /** Distinct, in SEARCH_TYPES order. */
  types: SearchType[];
  first: number;
  after: SearchAfter | null;
}

/** One match, as every source returns it (and as the merging subgraph receives the others' through @requires). */
export interface SearchMatch {
  type: SearchType;
  id: string;
  rank: number;
  title: string;
  /** HTML-escaped excerpt, matches in <mark>…</mark>. */
  highlight: string;
  customerId: string | null;
  /** COMMENT matches: the task the comment is on (known only to the tasks subgraph). */
  taskId?: string | null;
}

export interface SearchMatches {
  totalCount: number;
  matches: SearchMatch[];
}

/** Postgres text cannot hold NUL, and a lone UTF-16 surrogate is not text at all. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Refuses text Postgres cannot store or compare (NUL, lone surrogates) as BAD_USER_INPUT on `field`. */
export function assertSearchableText(field: string, text: string): void {
  if (text.includes('\u0000') || LONE_SURROGATE.test(text)) {
    throw badInput(field, 'Search text contains characters that are not allowed (NUL or invalid Unicode)');
  }
}

const KEY = /^(TASK|COMMENT|CUSTOMER|CONTACT):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const matchKey = (m: Pick<SearchMatch, 'type' | 'id'>) => `${m.type}:${m.id}`;
export const searchCursor = (m: Pick<SearchMatch, 'type' | 'id' | 'rank'>) => encodeCursor([m.rank, matchKey(m)]);

function parseAfter(after: string | null | undefined): SearchAfter | null {
  const parts = decodeCursor('after', after);
  if (parts === null) return null;
  const [rank, key] = parts;
  if (parts.length !== 2 || typeof rank !== 'number' || !Number.isFinite(rank) || typeof key !== 'string' || !KEY.test(key)) {
    throw badInput('after', 'after is not a valid cursor');
  }
  return { rank, key };
}

/** Validates the arguments of `search`. */
export function parseSearchArgs(args: {
  query: string;
  types?: readonly string[] | null;
  first?: number | null;
  after?: string | null;
}): SearchSpec {
  const query = args.query.trim();
  if (query.length === 0) throw badInput('query', 'query must not be empty');
  if (query.length > SEARCH_QUERY_MAX) throw badInput('query', `query must be at most ${SEARCH_QUERY_MAX} characters`);
  assertSearchableText('query', query);
  let types: SearchType[] = [...SEARCH_TYPES];
  if (args.types != null) {
    if (args.types.length === 0) throw badInput('types', 'types must name at least one type (omit it for all)');
    const wanted = new Set(args.types);
    types = SEARCH_TYPES.filter((t) => wanted.has(t));
    if (types.length !== wanted.size) throw badInput('types', `types must be among ${SEARCH_TYPES.join(', ')}`);
  }
  const first = args.first ?? SEARCH_FIRST_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > SEARCH_FIRST_MAX) {
    throw badInput('first', `first must be between 1 and ${SEARCH_FIRST_MAX}`);
  }
  return { query, types, first, after: parseAfter(args.after) };
}

/** The `SearchResults` entity key for a validated search. */
export const searchKey = (s: SearchSpec): string =>
  Buffer.from(JSON.stringify([s.query, s.types, s.first, s.after ? [s.after.rank, s.after.key] : null])).toString('base64url');

/** Reads a key made by `searchKey` back, validating it again (it crossed a process boundary). */
export function parseSearchKey(key: string): SearchSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(key, 'base64url').toString('utf8'));
  } catch {
    throw badInput('id', 'not a search key');
  }
  if (!Array.isArray(raw) || raw.length !== 4 || typeof raw[0] !== 'string' || !Array.isArray(raw[1])) {
    throw badInput('id', 'not a search key');
  }
  const [query, types, first, after] = raw as [string, string[], number, [number, string] | null];
  const spec = parseSearchArgs({ query, types, first, after: null });
  if (after !== null) {
    if (!Array.isArray(after) || typeof after[0] !== 'number' || typeof after[1] !== 'string' || !KEY.test(after[1])) {
      throw badInput('id', 'not a search key');
    }
    spec.after = { rank: after[0], key: after[1] };
  }
  return spec;
}

/** Total order of matches: rank descending, then key ascending in UTF-16 (= byte order for these ASCII keys). */
export function compareMatches(a: SearchMatch, b: SearchMatch): number {
  if (a.rank !== b.rank) return b.rank - a.rank;
  const ka = matchKey(a);
  const kb = matchKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Merges the sources' pages into the global page: the best `first`, and whether more follow. */
export function mergeSearchMatches(
  parts: readonly SearchMatches[],
  first: number,
): { matches: SearchMatch[]; hasNextPage: boolean; totalCount: number } {
  const all = parts.flatMap((p) => p.matches).sort(compareMatches);
  return {
    matches: all.slice(0, first),
    hasNextPage: all.length > first,
    totalCount: parts.reduce((n, p) => n + p.totalCount, 0),
  };
}

// ts_headline marks matches with these control characters (stripped from the source text first, so they cannot be
// forged); the excerpt is then HTML-escaped and they become <mark> tags.
const START = '\u0002';
const STOP = '\u0003';
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** ts_headline output → HTML-escaped text with the matches in <mark>…</mark>. */
export function headlineToHtml(headline: string): string {
  return headline
    .replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
    .replaceAll(START, '<mark>')
    .replaceAll(STOP, '</mark>');
}

/** One searchable table of a subgraph. SQL fragments are fixed strings of the service (never user input). */
export interface SearchSource {
  type: SearchType;
  /** FROM clause, with the searched table aliased `s` (joins allowed). */
  from: string;
  /** The tsvector column (GIN-indexed). */
  document: string;
  /** The text shown as the match's title. */
  title: string;
  /** The text ts_headline excerpts. */
  text: string;
  /** The customer this match belongs to, or NULL. */
  customerId: string;
  /** COMMENT: the task it is on; else NULL. */
  taskId?: string;
}

interface MatchRow {
  id: string;
  rank: number;
  title: string;
  headline: string;
  customer_id: string | null;
  task_id: string | null;
  total: number;
}

// One excerpt around the best cover of the matches, 12..30 words. (ts_headline's default parser drops HTML-like tags
// from the excerpt; everything else it keeps is escaped by headlineToHtml.)
const HEADLINE_OPTIONS = `'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=12'`;

/**
 * The best `spec.first + 1` matches of one source after the cursor, and how many match in all. One statement: the
 * GIN index finds the matches of the org, ts_rank (normalisation 32: rank/(rank+1), so 0..1 and comparable across
 * tables) orders them, ts_headline runs on the page rows only. The query is a bound parameter through
 * websearch_to_tsquery, so any text is harmless.
 */
export async function searchSource(tx: Tx, orgId: string, source: SearchSource, spec: SearchSpec): Promise<SearchMatches> {
  const params: unknown[] = [orgId, spec.query, spec.first + 1];
  let afterSql = '';
  if (spec.after) {
    params.push(spec.after.rank, spec.after.key);
    afterSql = `WHERE m.rank < $4::float8 OR (m.rank = $4::float8 AND m.key > $5::text COLLATE "C")`;
  }
  const rows = await tx.query<MatchRow>(
    /* searchSource */ `WITH q AS (SELECT websearch_to_tsquery('english'::regconfig, $2) AS q),
     m AS (
       SELECT s.id, ts_rank(${source.document}, q.q, 32)::float8 AS rank,
              ('${source.type}:' || s.id::text) COLLATE "C" AS key,
              ${source.title} AS title, ${source.text} AS text,
              ${source.customerId} AS customer_id, ${source.taskId ?? 'NULL::uuid'} AS task_id
       FROM ${source.from}, q
       WHERE s.org_id = $1 AND ${source.document} @@ q.q
     ),
     page AS (SELECT m.id, m.rank, m.key, m.title, m.text, m.customer_id, m.task_id FROM m ${afterSql} ORDER BY m.rank DESC, m.key ASC LIMIT $3)
     SELECT page.id, page.rank, page.title, page.customer_id, page.task_id,
            ts_headline('english'::regconfig, translate(page.text, chr(2) || chr(3), ''), q.q, ${HEADLINE_OPTIONS}) AS headline,
            (SELECT count(*)::int FROM m) AS total
     FROM page, q ORDER BY page.rank DESC, page.key ASC`,
    params,
  );
  let totalCount = rows[0]?.total;
  // No row on the first page means no match at all; only a page after a cursor can be empty while matches exist.
  if (totalCount === undefined && !spec.after) totalCount = 0;
  if (totalCount === undefined) {
    const count = await tx.one<{ n: number }>(
      /* searchSourceCount */ `SELECT count(*)::int AS n FROM ${source.from}
       WHERE s.org_id = $1 AND ${source.document} @@ websearch_to_tsquery('english'::regconfig, $2)`,
      [orgId, spec.query],
    );
    totalCount = count?.n ?? 0;
  }
  return {
    totalCount,
    matches: rows.map((r) => ({
      type: source.type,
      id: r.id,
      rank: r.rank,
      title: r.title,
      highlight: headlineToHtml(r.headline),
      customerId: r.customer_id,
      taskId: r.task_id,
    })),
  };
}

/** Searches the given sources (those whose type the spec asks for) and merges their pages. */
export async function searchSources(
  tx: Tx,
  orgId: string,
  sources: readonly SearchSource[],
  spec: SearchSpec,
): Promise<SearchMatches> {
  const parts: SearchMatches[] = [];
  for (const s of sources) {
    if (spec.types.includes(s.type)) parts.push(await searchSource(tx, orgId, s, spec));
  }
  const merged = mergeSearchMatches(parts, spec.first + 1);
  return { totalCount: merged.totalCount, matches: merged.matches };
}

