import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// graphql 16 ships CJS (main) and ESM (module) builds. Vite resolved our TS sources to the .mjs build while Node
// loads the CJS build for externalized deps (yoga's executor, @apollo/subgraph): two GraphQLError classes, so
// `instanceof` failed and every AppError was masked as INTERNAL_SERVER_ERROR in tests. One copy, as under tsx.
const graphqlCjs = createRequire(import.meta.url).resolve('graphql');
const resolve = { alias: [{ find: /^graphql$/, replacement: graphqlCjs }] };

export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'gateway/test/**/*.test.ts', 'scripts/test/**/*.test.ts', 'agent-worker/test/**/*.test.ts', 'mcp/test/**/*.test.ts', 'mailer/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
          testTimeout: 10_000,
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'services/*/test/**/*.int.test.ts', 'gateway/test/**/*.int.test.ts', 'scripts/test/**/*.int.test.ts', 'agent-worker/test/**/*.int.test.ts', 'mcp/test/**/*.int.test.ts', 'mailer/test/**/*.int.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve,
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each e2e file starts a whole stack of processes: run them one at a time on a 2-core machine.
          fileParallelism: false,
        },
      },
    ],
  },
});
