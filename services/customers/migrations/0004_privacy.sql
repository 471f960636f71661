-- replaces-checksum: 4066435b03d2a49c4d8bf6a48eee82edf53b55f6b0ee35d953f3bffc72ee0601
-- (issue 16: customers consumes no events, so a new schema has no inbox and no index on it)
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
