export { createSubgraphServer, runService, setProcessInstrumentation, type BaseContext, type SubgraphServerOptions, type RunOptions, type ReadinessCheck } from './server';
export { requireAuth, requireScope, requireRole, parseId, validate } from './guards';
export { baseServiceEnv, type BaseServiceEnv } from './env';
export { encodeCursor, decodeCursor } from './cursor';
export {
  startSubgraphProcess,
  runProcess,
  readinessChecks,
  exitOnStartupError,
  type ProcessDeps,
  type ProcessServer,
  type SubgraphProcessOptions,
  type Stoppable,
  type RunProcessOptions,
  type OnClose,
} from './process';
export { groupBy, type BatchObserver } from './loaders';
export { DateTimeScalar, JSONScalar } from './scalars';
export {
  SEARCH_TYPES,
  SEARCH_QUERY_MAX,
  SEARCH_FIRST_MAX,
  LONE_SURROGATE,
  assertSearchableText,
  parseSearchArgs,
  searchKey,
  parseSearchKey,
  searchCursor,
  matchKey,
  compareMatches,
  mergeSearchMatches,
  headlineToHtml,
  searchSource,
  searchSources,
  type SearchType,
  type SearchSpec,
  type SearchAfter,
  type SearchMatch,
  type SearchMatches,
  type SearchSource,
} from './search';
export { startRetentionJob, startServiceRetention, type RetentionRule, type RetentionJob, type RetentionOptions } from './retention';
export { registerInstance, SchemaTooNewError, HEARTBEAT_MS, type InstanceRegistration } from './instances';
export { readBodyCapped } from './body';
