export { createPool, quoteIdent, type PoolOptions } from './pool';
export { Db, StatementCache, resultMayChange, type DbOptions, isDatabaseUnavailable, isUuid, translatePgError, type Tx, type TenantScope, type QueryEvent } from './db';
export {
  migrate,
  readMigrations,
  declaredPackages,
  schemaLevelOf,
  ensureServiceRoles,
  liveInstances,
  ContractBlockedError,
  INSTANCE_TTL_SECONDS,
  type MigrateOptions,
  type MigrateResult,
  type MigrationFile,
  type MigrationPhase,
  type PackageMigrations,
  type InstanceRow,
} from './migrate';
export { runBackfill, parseBackfillSpec, type BackfillSpec, type BackfillOptions, type BackfillProgress, type BackfillResult } from './backfill';
export { serviceDatabase, type ServiceDatabaseConfig } from './urls';
export { ensureDatabase, dropDatabase } from './databases';
