/**
 * This subgraph's part of `Query.search` (owned and merged by tasks): the `SearchResults` entity's key carries the
 * search; `customerMatches` is this org's best customers and contacts for it, which the gateway hands to tasks.
 */
import { parseSearchKey, requireAuth, searchSources } from '@cos/service-kit';
import type { SearchResultsResolvers } from '../__generated__/resolvers-types';
import { CUSTOMER_SEARCH_SOURCES } from '../store/search-store';

export const SearchResults: SearchResultsResolvers = {
  __resolveReference: async (ref, ctx) => {
    const principal = requireAuth(ctx.principal);
    const spec = parseSearchKey(ref.id);
    // A caller without customers:read (a partner key without it) finds no customers, rather than an error.
    if (!principal.scopes.includes('customers:read')) return { id: ref.id, customerMatches: { totalCount: 0, matches: [] } };
    const tenant = { orgId: principal.orgId, userId: principal.kind === 'user' ? principal.userId : null };
    const customerMatches = await ctx.db.tx(tenant, (tx) =>
      searchSources(tx, tenant.orgId, CUSTOMER_SEARCH_SOURCES, spec),
    );
    return { id: ref.id, customerMatches };
  },
};
