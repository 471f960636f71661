/** What the tasks subgraph searches for `Query.search`: tasks (title A, description B) and comments. */
import type { SearchSource } from '@cos/service-kit';

export const TASK_SEARCH_SOURCES: readonly SearchSource[] = [
  {
    type: 'TASK',
    from: 'tasks s',
    document: 's.search',
    title: 's.title',
    text: "s.title || E'\\n' || coalesce(s.description, '')",
    customerId: 's.customer_id',
  },
  {
    type: 'COMMENT',
    // The comment's task gives the match its title and customer (same org: both rows pass RLS).
    from: 'comments s JOIN tasks t ON t.id = s.task_id AND t.org_id = s.org_id',
    document: 's.search',
    title: 't.title',
    text: 's.body',
    customerId: 't.customer_id',
    taskId: 's.task_id',
  },
];
