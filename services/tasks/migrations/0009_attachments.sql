-- Attachments of tasks and comments (projection of AttachmentAdded / AttachmentRemoved on the task stream). The
-- bytes live in content-addressed blob storage under sha256; a blob is deleted once no attachment of any
-- organization references it (see the blob reactor).
CREATE TABLE attachments (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  comment_id uuid REFERENCES comments (id) ON DELETE CASCADE,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  content_type text NOT NULL,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  uploaded_by uuid,
  uploaded_by_actor text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX attachments_task_idx ON attachments (task_id, created_at, id);
CREATE INDEX attachments_comment_idx ON attachments (comment_id, created_at, id) WHERE comment_id IS NOT NULL;
CREATE INDEX attachments_uploader_idx ON attachments (uploaded_by) WHERE uploaded_by IS NOT NULL;
CREATE INDEX attachments_sha_idx ON attachments (sha256);

ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
ALTER TABLE attachments FORCE ROW LEVEL SECURITY;
CREATE POLICY attachments_tenant ON attachments
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);
