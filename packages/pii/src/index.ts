export * from './codec';
export * from './master-keys';
export { PII_KEYS_TABLE_SQL } from './sql';
