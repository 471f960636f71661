-- replaces-checksum: 0ff379bf4ae9b07407be448b60ae62e858fa4d1da46b5af8281e3638bd8a9b6e
-- (issue 16: IF NOT EXISTS: @cos/bus's inbox migration now owns inbox_processed_at_idx)
-- GDPR erasure (crypto-shredding) and retention; docs/privacy.md.

-- One data key per person (subject = user id), wrapped by the master key (PII_MASTER_KEY). Erasing a person sets
-- the key to NULL (a tombstone, so events written later for them carry no plaintext). Not row-level secured: a
-- person spans tenants, and a key is useless without the ciphertext, which stays behind the events table's RLS.
CREATE TABLE pii_keys (
  subject_id text PRIMARY KEY,
  wrapped_key bytea,
  master_key_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  erased_at timestamptz,
  CHECK ((wrapped_key IS NULL) = (master_key_id IS NULL))
);

-- An erased person keeps their row (ids stay resolvable: comments, audit entries) without email or name.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ADD COLUMN erased_at timestamptz;
ALTER TABLE invitations ALTER COLUMN email DROP NOT NULL;

-- Retention deletes by age.
CREATE INDEX audit_entries_at_idx ON audit_entries (at);
CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at); -- also @cos/bus's inbox migration (runs first)
CREATE INDEX outbound_emails_created_at_idx ON outbound_emails (created_at);

-- An erased person stays resolvable by id for everyone (authors of comments, actors in audit entries) — the row has
-- nothing personal left: name '[erased]', no email.
CREATE POLICY users_erased ON users FOR SELECT USING (erased_at IS NOT NULL);
