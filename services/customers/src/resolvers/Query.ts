import { parseId, decodeCursor, encodeCursor } from '@cos/service-kit';
import { badInput } from '@cos/errors';
import { isUuid } from '@cos/db';
import type { QueryResolvers } from '../__generated__/resolvers-types';
import { listCustomers } from '../store/customer-store';
import { readAccess } from './access';

export const MAX_PAGE_SIZE = 100;

export const Query: QueryResolvers = {
  async customer(_parent, args, ctx) {
    const { loaders } = readAccess(ctx);
    return loaders.customer.load(parseId('id', args.id));
  },

  async customers(_parent, args, ctx) {
    const { principal, loaders } = readAccess(ctx);
    const first = args.first ?? 20;
    if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw badInput('first', `first must be between 0 and ${MAX_PAGE_SIZE}`);
    const cursor = decodeCursor('after', args.after);
    let after: { createdAt: string; id: string } | null = null;
    if (cursor) {
      const [createdAt, id] = cursor;
      if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt)) || !isUuid(id) || cursor.length !== 2) {
        throw badInput('after', 'after is not a valid cursor');
      }
      after = { createdAt, id };
    }
    const page = await ctx.db.tx({ orgId: principal.orgId, userId: principal.kind === 'user' ? principal.userId : null }, (tx) =>
      listCustomers(tx, { first, after, atRisk: args.atRisk ?? null }),
    );
    for (const row of page.rows) loaders.customer.prime(row.id, row);
    const edges = page.rows.map((node) => ({ cursor: encodeCursor([node.createdAt, node.id]), node }));
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },
};
