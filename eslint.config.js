// ESLint for the whole workspace (`pnpm lint`, part of `pnpm test`). typescript-eslint's recommended rules without
// type information (tsc already type-checks; type-aware linting would double the CPU of every run).
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/__generated__/**', '.data/**', '**/.turbo/**', 'apps/console/build/**', '.build/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Services log through pino (@cos/logger); a stray console.log in a service is a defect.
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', destructuredArrayIgnorePattern: '^_' }],
      // `any` is allowed inside tests and behind boundaries (STYLE.md: none at module boundaries — reviewed, not linted).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // Command-line programs and benchmarks print their results.
    files: ['scripts/**', 'bench/**', 'infra/**', '**/test/**', 'e2e/**', 'mailer/src/cli.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Entry points that report a bad environment (or a failed start) before any logger exists, on stderr.
    files: ['agent-worker/src/env.ts', 'mcp/src/index.ts', 'apps/console/server.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.{js,cjs,mjs}'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['apps/console/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    // The classic hook rules; v7's React Compiler rules (set-state-in-effect, ...) judge patterns the console uses on purpose.
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
);
