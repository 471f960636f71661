/** The gateway bench's query: a tasks page across all four subgraphs (also replayed by bench/subgraph-cpu.ts). */
export const BENCH_QUERY = /* GraphQL */ `
  query BenchTasksPage($first: Int!) {
    tasks(first: $first) {
      totalCount
      edges {
        cursor
        node {
          id title status priority version dueAt
          assignee { __typename ... on User { id name } ... on Agent { id name kind } }
          customer { id name healthScore { score grade } }
          createdBy { id name }
          comments { id body author { id name } }
          agentRuns { id status attempt }
        }
      }
    }
  }
`;
