-- replaces-checksum: 62971c7de5bbffaadcff9cf42f5829958188cc9fff2b0373d2d5723039c22e3f
-- (issue 16: the events table is @cos/event-store's migration and the inbox @cos/bus's, applied first: packages.json)
-- identity: organizations (tenants), users, memberships, invitations, API keys, refresh tokens, signing keys.
-- Read models (projected from events, rebuildable): organizations, users, memberships, invitations, api_keys.
-- Operational state (never in an event, never truncated by a rebuild): user_credentials, api_key_credentials,
-- refresh_tokens, signing_keys, outbound_emails, inbox.

-- ---------- read models ----------
CREATE TABLE memberships (
  org_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
-- A member sees their organization's memberships, and everyone sees their own memberships (the org switcher).
CREATE POLICY memberships_tenant ON memberships
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid
         OR user_id = nullif(current_setting('app.user_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  slug text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT organizations_slug_key UNIQUE (slug)
);
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations
  USING (id = nullif(current_setting('app.org_id', true), '')::uuid
         OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.org_id = organizations.id
                      AND m.user_id = nullif(current_setting('app.user_id', true), '')::uuid))
  WITH CHECK (id = nullif(current_setting('app.org_id', true), '')::uuid);

CREATE TABLE invitations (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  user_id uuid,
  email text NOT NULL,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  token_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX invitations_org_user_idx ON invitations (org_id, user_id);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- Users are global (one person, many organizations). A caller sees themself, the members of their current
-- organization and the people invited to it; nobody else.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visible ON users FOR SELECT
  USING (id = nullif(current_setting('app.user_id', true), '')::uuid
         OR EXISTS (SELECT 1 FROM memberships m
                    WHERE m.user_id = users.id
                      AND m.org_id = nullif(current_setting('app.org_id', true), '')::uuid)
         OR EXISTS (SELECT 1 FROM invitations i
                    WHERE i.user_id = users.id
                      AND i.org_id = nullif(current_setting('app.org_id', true), '')::uuid));
-- Registering a person (sign-up, invitation) happens inside some tenant's transaction; the email is unique globally.
CREATE POLICY users_register ON users FOR INSERT WITH CHECK (true);
CREATE POLICY users_update_self ON users FOR UPDATE
  USING (id = nullif(current_setting('app.user_id', true), '')::uuid);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  name text NOT NULL,
  prefix text NOT NULL,
  scopes text[] NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON api_keys
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- ---------- operational state ----------
-- Password hashes never travel in events (events are published to NATS).
CREATE TABLE user_credentials (
  user_id uuid PRIMARY KEY,
  password_hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE user_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY user_credentials_self ON user_credentials
  USING (user_id = nullif(current_setting('app.user_id', true), '')::uuid)
  WITH CHECK (user_id = nullif(current_setting('app.user_id', true), '')::uuid);

-- The sha256 of an API key secret; looked up by the public prefix when the gateway verifies a key.
CREATE TABLE api_key_credentials (
  api_key_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  prefix text NOT NULL,
  secret_hash text NOT NULL,
  last_used_at timestamptz,
  CONSTRAINT api_key_credentials_prefix_key UNIQUE (prefix)
);
ALTER TABLE api_key_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY api_key_credentials_tenant ON api_key_credentials
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  family_id uuid NOT NULL,
  token_hash text NOT NULL,
  user_id uuid NOT NULL,
  org_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_tenant ON refresh_tokens
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- Signing keys are not tenant data: RLS is on with no policy, so only the system role (BYPASSRLS) reads them.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_keys FORCE ROW LEVEL SECURITY;

-- The development mail sink: what a mailer would send (a real mailer reads from here later).
CREATE TABLE outbound_emails (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  to_address text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz
);
CREATE INDEX outbound_emails_to_idx ON outbound_emails (lower(to_address), created_at);
ALTER TABLE outbound_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbound_emails FORCE ROW LEVEL SECURITY;
CREATE POLICY outbound_emails_tenant ON outbound_emails
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);
