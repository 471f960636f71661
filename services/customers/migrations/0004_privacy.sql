-- GDPR erasure (crypto-shredding) and retention; docs/privacy.md.

-- One data key per contact (subject = contact id), wrapped by the master key (PII_MASTER_KEY); an erased contact's
-- key is NULL (a tombstone). No RLS: a key is useless without the ciphertext, which stays behind the events' RLS.
CREATE TABLE pii_keys (
  subject_id text PRIMARY KEY,
  wrapped_key bytea,
  master_key_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  erased_at timestamptz,
  CHECK ((wrapped_key IS NULL) = (master_key_id IS NULL))
);

-- Retention deletes inbox rows by age.
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);
