-- @cos/bus: the inbox of a service's durable consumers (startConsumer inserts (consumer, event_id) in the
-- transaction of the effect, so a redelivered event has no second effect). Applied by the migration runner
-- (packages/db/src/migrate.ts) to every schema whose migrations/packages.json names @cos/bus — the services that
-- consume events — before the service's own migrations, with search_path set to that schema.
-- Idempotent: on a schema whose 0001_init.sql created the table (before issue 16; identity's and agents' had no
-- row-level security, the mailer's no FORCE and no processed_at index) it aligns them; on a new schema it creates it.
CREATE TABLE IF NOT EXISTS inbox (
  consumer text NOT NULL,                         -- the durable name, `${service}-${name}`
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
-- The retention job deletes rows by age (RETENTION_INBOX_DAYS, docs/privacy.md).
CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at);
-- No tenant column: only the system role (BYPASSRLS) uses it; RLS without a policy shuts the runtime role out.
ALTER TABLE inbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbox FORCE ROW LEVEL SECURITY;
