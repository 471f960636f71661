-- Trusted documents (issue 6): operations registered per organization and client (a partner API key's name), a read
-- model projected from PersistedOperationsPublished events (rebuildable). Numbered 0010 to stay clear of the
-- security work's 0002+ migrations in the same schema.
CREATE TABLE persisted_operations (
  org_id uuid NOT NULL,
  client text NOT NULL,
  id text NOT NULL CHECK (id ~ '^[0-9a-f]{64}$'),   -- sha256 hex of body
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('query', 'mutation', 'subscription')),
  body text NOT NULL,
  published_by text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, client, id)
);
CREATE INDEX persisted_operations_id_idx ON persisted_operations (org_id, id);
ALTER TABLE persisted_operations ENABLE ROW LEVEL SECURITY;
ALTER TABLE persisted_operations FORCE ROW LEVEL SECURITY;
CREATE POLICY persisted_operations_tenant ON persisted_operations
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);
