export { createPool, quoteIdent, type PoolOptions } from './pool';
export { Db, isDatabaseUnavailable, isUuid, translatePgError, type Tx, type TenantScope, type QueryEvent } from './db';
export { migrate, readMigrations, type MigrateOptions, type MigrationFile } from './migrate';
export { serviceDatabase, type ServiceDatabaseConfig } from './urls';
export { ensureDatabase, dropDatabase } from './databases';
