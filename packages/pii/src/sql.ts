/**
 * The key table each service that stores personal data creates in a migration (copied there: migrations are plain
 * SQL files). Not row-level secured: a subject (a person) spans tenants, and a key is useless without the
 * ciphertext, which stays behind the events table's RLS.
 */
export const PII_KEYS_TABLE_SQL = `CREATE TABLE pii_keys (
  subject_id text PRIMARY KEY,
  wrapped_key bytea,
  master_key_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  erased_at timestamptz,
  CHECK ((wrapped_key IS NULL) = (master_key_id IS NULL))
);`;
