import { encodeCursor } from '@cos/service-kit';
import type { TaskConnectionResolvers, TaskEdgeResolvers } from '../__generated__/resolvers-types';
import type { TaskRow } from '../store/task-store';

const cursorOf = (t: TaskRow) => encodeCursor([t.cursor_ts, t.id]);

export const TaskConnection: TaskConnectionResolvers = {
  edges: (page) => page.rows,
  pageInfo: (page) => {
    const last = page.rows.at(-1);
    return { hasNextPage: page.hasNextPage, endCursor: last ? cursorOf(last) : null };
  },
  totalCount: (page) => page.totalCount,
};

export const TaskEdge: TaskEdgeResolvers = {
  cursor: (t) => cursorOf(t),
  node: (t) => t,
};
