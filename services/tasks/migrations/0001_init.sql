-- replaces-checksum: 9826577fd9fede9b427aeaf0865c0df6fc7016848de38dc8783396e81fe30180
-- (issue 16: the events table is @cos/event-store's migration and the inbox @cos/bus's, applied first: packages.json)
-- tasks service: read models (projections) and directories fed by
-- other services' events. Every tenant table carries org_id with FORCE row-level security on app.org_id.

-- ---------- read model: tasks ----------
CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  description text CHECK (description IS NULL OR char_length(description) <= 10000),
  status text NOT NULL CHECK (status IN ('TODO', 'IN_PROGRESS', 'AWAITING_APPROVAL', 'DONE', 'CANCELLED')),
  priority text NOT NULL CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
  version int NOT NULL,
  assignee_id uuid,
  assignee_kind text CHECK (assignee_kind IN ('User', 'Agent')),
  customer_id uuid,
  -- null when the creator was not a person (API key, service); created_by_actor always says who.
  created_by uuid,
  created_by_actor text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  due_at timestamptz,
  origin_key text,
  search tsvector GENERATED ALWAYS AS (
    to_tsvector('english'::regconfig, title || ' ' || coalesce(description, ''))
  ) STORED,
  CONSTRAINT tasks_assignee_pair CHECK ((assignee_id IS NULL) = (assignee_kind IS NULL))
);
CREATE INDEX tasks_org_created_idx ON tasks (org_id, created_at DESC, id DESC);
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id, created_at DESC, id DESC) WHERE assignee_id IS NOT NULL;
CREATE INDEX tasks_customer_idx ON tasks (customer_id, created_at DESC, id DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX tasks_search_idx ON tasks USING gin (search);
-- A reaction creates at most one task per origin (e.g. churn:<customerId>:<episode>).
CREATE UNIQUE INDEX tasks_origin_key_unique ON tasks (org_id, origin_key) WHERE origin_key IS NOT NULL;

CREATE TABLE comments (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
  author_id uuid,
  author_actor text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX comments_task_idx ON comments (task_id, created_at, id);

CREATE TABLE approvals (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  run_id uuid NOT NULL,
  agent_id uuid NOT NULL,
  action text NOT NULL,
  payload jsonb,
  status text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
  decided_by uuid,
  decided_at timestamptz,
  reason text,
  created_at timestamptz NOT NULL
);
CREATE INDEX approvals_task_idx ON approvals (task_id, created_at, id);
CREATE INDEX approvals_pending_idx ON approvals (org_id, created_at) WHERE status = 'PENDING';

-- ---------- directories fed by other services' events ----------
CREATE TABLE members (
  org_id uuid NOT NULL,
  user_id uuid NOT NULL,
  name text NOT NULL,
  role text,
  active boolean NOT NULL DEFAULT true,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);

CREATE TABLE agents_directory (
  org_id uuid NOT NULL,
  agent_id uuid NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (org_id, agent_id)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tasks', 'comments', 'approvals', 'members', 'agents_directory'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY %I ON %I USING (org_id = nullif(current_setting(''app.org_id'', true), '''')::uuid) '
      'WITH CHECK (org_id = nullif(current_setting(''app.org_id'', true), '''')::uuid)',
      t || '_tenant', t);
  END LOOP;
END $$;
