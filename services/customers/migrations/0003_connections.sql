-- Connections: the providers an organization's customer signals arrive from (inbound webhooks, outbound pulls).
--
-- connections          read model of the Connection stream (projector only; rebuilt from the events).
-- connection_secrets   credentials, envelope-encrypted (AES-256-GCM with a data key per secret, wrapped by a master
--                      key named by key_id). Not in the events on purpose: events are immutable and published, while
--                      a secret must be rotatable, re-wrappable and erasable. Written in the command's transaction.
-- connection_sync      connector scheduling state (lease, cursor, next run, errors): operational, like the inbox.
--                      The cursor is updated in the same transaction as the page's signals.
-- connection_events    the provider event ids already handled per connection (idempotency of webhooks and pulls),
--                      inserted in the same transaction as the signal they produced.
-- connection_deliveries the audit trail of webhook deliveries and pulled items: accepted, duplicate, ignored,
--                      rejected with the reason (ADMINs read it as Connection.deliveries).

CREATE TABLE connections (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  provider text NOT NULL CHECK (provider IN ('SUPPORT_ZENDESK', 'SUPPORT_INTERCOM', 'USAGE_SEGMENT', 'USAGE_MIXPANEL', 'BILLING_STRIPE')),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  config jsonb NOT NULL,
  webhook_secret_hint jsonb NOT NULL,
  api_token_hint jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz
);
CREATE INDEX connections_org_idx ON connections (org_id, created_at DESC, id DESC);

CREATE TABLE connection_secrets (
  connection_id uuid NOT NULL,
  org_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('WEBHOOK_SECRET', 'API_TOKEN')),
  key_id text NOT NULL,
  wrapped_key bytea NOT NULL,
  iv bytea NOT NULL,
  ciphertext bytea NOT NULL,
  tag bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, kind)
);
CREATE INDEX connection_secrets_key_idx ON connection_secrets (key_id);

CREATE TABLE connection_sync (
  connection_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  status text NOT NULL DEFAULT 'PENDING'
    CHECK (status IN ('PENDING', 'OK', 'RETRYING', 'RATE_LIMITED', 'CIRCUIT_OPEN', 'FAILED')),
  cursor text,
  interval_s int NOT NULL CHECK (interval_s > 0),
  next_sync_at timestamptz NOT NULL DEFAULT now(),
  last_sync_at timestamptz,
  last_error text,
  failures int NOT NULL DEFAULT 0,
  items_synced bigint NOT NULL DEFAULT 0,
  lease_owner text,
  lease_until timestamptz
);
CREATE INDEX connection_sync_due_idx ON connection_sync (next_sync_at) WHERE enabled;

CREATE TABLE connection_events (
  connection_id uuid NOT NULL,
  external_id text NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 300),
  org_id uuid NOT NULL,
  signal_id uuid,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, external_id)
);

CREATE TABLE connection_deliveries (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  via text NOT NULL CHECK (via IN ('WEBHOOK', 'SYNC')),
  outcome text NOT NULL CHECK (outcome IN ('ACCEPTED', 'DUPLICATE', 'IGNORED', 'REJECTED')),
  reason text,
  external_id text,
  customer_id uuid,
  signal_id uuid,
  http_status int,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_deliveries_idx ON connection_deliveries (connection_id, received_at DESC, id DESC);

-- Webhook payloads name customers by email domain: one lookup per delivery.
CREATE INDEX customers_domain_idx ON customers (org_id, domain) WHERE domain IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['connections', 'connection_secrets', 'connection_sync', 'connection_events', 'connection_deliveries'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY %I ON %I
      USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
      WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid)$p$, t || '_tenant', t);
  END LOOP;
END $$;
