/**
 * `Query.search`, merged here. The root field only validates and returns the `SearchResults` entity keyed by the
 * arguments; the gateway then fetches `customerMatches` from the customers subgraph and calls `_entities` here with
 * them (`@requires`), where this subgraph searches its own tables and merges both by rank.
 */
import {
  mergeSearchMatches,
  parseSearchArgs,
  parseSearchKey,
  requireAuth,
  searchCursor,
  searchKey,
  searchSources,
  type SearchMatch,
  type SearchMatches,
} from '@cos/service-kit';
import type {
  QueryResolvers,
  SearchEdgeResolvers,
  SearchHitResolvers,
  SearchResultsResolvers,
} from '../__generated__/resolvers-types';
import type { Context } from '../context';
import { TASK_SEARCH_SOURCES } from '../store/search-store';
import { customerRef } from './refs';

/** A match (of any subgraph) as the hit and edge resolvers see it. */
export type SearchHitModel = SearchMatch;

export interface SearchResultsModel {
  id: string;
  /** Set once merged (in __resolveReference). */
  page?: { matches: SearchMatch[]; hasNextPage: boolean; totalCount: number };
}

export const search: QueryResolvers['search'] = (_p, args, ctx) => {
  requireAuth(ctx.principal);
  return { id: searchKey(parseSearchArgs(args)) };
};

/** The customers subgraph's part, as the gateway passed it: only its own types are taken. */
function customerPart(raw: unknown): SearchMatches {
  const part = raw as Partial<SearchMatches> | null | undefined;
  const matches = (part?.matches ?? []).filter((m) => m.type === 'CUSTOMER' || m.type === 'CONTACT');
  return { totalCount: typeof part?.totalCount === 'number' ? part.totalCount : 0, matches };
}

async function ownPart(ctx: Context, key: string): Promise<{ part: SearchMatches; first: number }> {
  const principal = requireAuth(ctx.principal);
  const spec = parseSearchKey(key);
  if (!principal.scopes.includes('tasks:read')) return { part: { totalCount: 0, matches: [] }, first: spec.first };
  const a = { orgId: principal.orgId, userId: principal.kind === 'user' ? principal.userId : null };
  const part = await ctx.db.tx(a, (tx) => searchSources(tx, a.orgId, TASK_SEARCH_SOURCES, spec));
  return { part, first: spec.first };
}

export const SearchResults: SearchResultsResolvers = {
  __resolveReference: async (ref, ctx) => {
    const { part, first } = await ownPart(ctx, ref.id);
    const others = customerPart((ref as { customerMatches?: unknown }).customerMatches);
    return { id: ref.id, page: mergeSearchMatches([part, others], first) };
  },
  edges: (r) => r.page?.matches ?? [],
  pageInfo: (r) => {
    const last = r.page?.matches.at(-1);
    return { hasNextPage: r.page?.hasNextPage ?? false, endCursor: last ? searchCursor(last) : null };
  },
  totalCount: (r) => r.page?.totalCount ?? 0,
};

export const SearchEdge: SearchEdgeResolvers = {
  cursor: (m) => searchCursor(m),
  node: (m) => m,
};

export const SearchHit: SearchHitResolvers = {
  task: (m, _a, ctx) => {
    const taskId = m.type === 'TASK' ? m.id : m.type === 'COMMENT' ? m.taskId : null;
    return taskId ? ctx.loaders!.taskById.load(taskId) : null;
  },
  comment: (m, _a, ctx) => (m.type === 'COMMENT' ? ctx.loaders!.commentById.load(m.id) : null),
  customer: (m) => {
    if (m.type === 'CUSTOMER') return customerRef(m.id);
    return m.customerId ? customerRef(m.customerId) : null;
  },
};
