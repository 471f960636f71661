import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// graphql 16 ships CJS (main) and ESM (module) builds. Vite resolved our TS sources to the .mjs build while Node
// loads the CJS build for externalized deps (yoga's executor, @apollo/subgraph): two GraphQLError classes, so
// `instanceof` failed and every AppError was masked as INTERNAL_SERVER_ERROR in tests. One copy, as under tsx.
const graphqlCjs = createRequire(import.meta.url).resolve('graphql');
const resolve = { alias: [{ find: /^graphql$/, replacement: graphqlCjs }] };

/** e2e files that run alone, after the others (see the e2e-serial project). */
const SERIAL_E2E = [
  'e2e/chaos.e2e.ts',
  'e2e/zero-downtime-migration.e2e.ts',
  'e2e/backup-restore.e2e.ts',
  'e2e/subscriptions-limits.e2e.ts',
  'e2e/console.e2e.ts',
];

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
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'services/*/test/**/*.int.test.ts', 'gateway/test/**/*.int.test.ts', 'scripts/test/**/*.int.test.ts', 'agent-worker/test/**/*.int.test.ts', 'mcp/test/**/*.int.test.ts', 'mailer/test/**/*.int.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve,
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.ts'],
          exclude: SERIAL_E2E,
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Each e2e file starts its own stack (own database, NATS subject prefix, Redis prefix, free ports): two at
          // a time overlap one file's waits with the other's start-up. After unit and integration tests.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        resolve,
        test: {
          name: 'e2e-serial',
          include: SERIAL_E2E,
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Timing-sensitive (zero failed requests under traffic, chaos faults, rate windows) or heavy (Chromium,
          // private Postgres/NATS/Redis servers): one at a time, alone, last.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
