-- @cos/event-store: the event store of one service, the single source of truth and its outbox (published_at).
-- Applied by the migration runner (packages/db/src/migrate.ts) to every schema whose migrations/packages.json names
-- @cos/event-store, before the service's own migrations, with search_path set to that schema.
-- Idempotent: on a schema whose 0001_init.sql created the table (before issue 16) it aligns indexes, row-level
-- security and the policy; on a new schema it creates everything.
CREATE TABLE IF NOT EXISTS events (
  global_position bigserial PRIMARY KEY,          -- total order within the service
  id uuid NOT NULL UNIQUE,                        -- also the Nats-Msg-Id (JetStream de-duplication)
  org_id uuid NOT NULL,
  stream_id text NOT NULL,                        -- e.g. "Task-<uuid>"
  stream_type text NOT NULL,                      -- aggregate name
  version int NOT NULL CHECK (version > 0),
  type text NOT NULL,
  schema_version int NOT NULL DEFAULT 1,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version)   -- the optimistic lock
);
CREATE INDEX IF NOT EXISTS events_unpublished_idx ON events (global_position) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS events_org_idx ON events (org_id, global_position);
-- Tenant-scoped for the runtime role; the relay, consumers and rebuilds use the system role (BYPASSRLS).
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS events_tenant ON events;
CREATE POLICY events_tenant ON events
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);
