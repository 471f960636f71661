/** What the customers subgraph searches for `Query.search`: customers (name A, domain B, plan C) and contacts. */
import type { SearchSource } from '@cos/service-kit';

export const CUSTOMER_SEARCH_SOURCES: readonly SearchSource[] = [
  {
    type: 'CUSTOMER',
    from: 'customers s',
    document: 's.search',
    title: 's.name',
    text: "concat_ws(' · ', s.name, s.domain, s.plan)",
    customerId: 's.id',
  },
  {
    type: 'CONTACT',
    from: 'contacts s',
    document: 's.search',
    title: 's.name',
    text: "concat_ws(' · ', s.name, s.email)",
    customerId: 's.customer_id',
  },
];
