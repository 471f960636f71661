-- Issue 4 gaps. (1) Signing keys get a lifecycle next -> active -> retired: the NEXT key is published in the JWKS
-- before anything is signed with it, so verifiers already hold it when a rotation promotes it (no 401 window).
--   next:    activated_at IS NULL     AND retired_at IS NULL
--   active:  activated_at IS NOT NULL AND retired_at IS NULL
--   retired: retired_at IS NOT NULL (published until its last token has expired)
ALTER TABLE signing_keys ADD COLUMN activated_at timestamptz;
UPDATE signing_keys SET activated_at = created_at;
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL AND activated_at IS NOT NULL;
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys ((true)) WHERE retired_at IS NULL AND activated_at IS NULL;

-- (2) Service accounts for agent workers are API keys of kind 'service' (verified as a service principal).
ALTER TABLE api_keys ADD COLUMN kind text NOT NULL DEFAULT 'partner' CHECK (kind IN ('partner', 'service'));
