-- agents service: event store + outbox, inbox, read models (projections of our events), known_tasks (fed by tasks
-- events) and the runner's operational columns (lease/heartbeat). Every table is tenant-scoped with RLS.

-- ---------- event store (copied from packages/event-store/sql/events.sql) ----------
CREATE TABLE events (
  global_position bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  org_id uuid NOT NULL,
  stream_id text NOT NULL,
  stream_type text NOT NULL,
  version int NOT NULL CHECK (version > 0),
  type text NOT NULL,
  schema_version int NOT NULL DEFAULT 1,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version)
);
CREATE INDEX events_unpublished_idx ON events (global_position) WHERE published_at IS NULL;
CREATE INDEX events_org_idx ON events (org_id, global_position);
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON events
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- ---------- inbox (idempotent consumers; written by the system role only) ----------
CREATE TABLE inbox (
  consumer text NOT NULL,
  event_id uuid NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- ---------- agents (projection of AgentCreated) ----------
CREATE TABLE agents (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('TRIAGE','RESEARCH','SUPPORT','SUCCESS','SALES','ENGINEERING','OPERATIONS')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT agents_org_kind_unique UNIQUE (org_id, kind)
);
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY agents_tenant ON agents
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- ---------- agent_runs (projection of AgentRun* events + lease/heartbeat operational state) ----------
CREATE TABLE agent_runs (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  agent_id uuid NOT NULL REFERENCES agents (id),
  task_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('QUEUED','RUNNING','WAITING_FOR_APPROVAL','SUCCEEDED','FAILED','CANCELLED')),
  attempt int NOT NULL DEFAULT 1,
  max_attempts int NOT NULL DEFAULT 3,
  last_heartbeat_at timestamptz,
  lease_until timestamptz,
  worker_id text,
  error text,
  dead_lettered boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The runner claims the oldest QUEUED run; the supervisor scans RUNNING leases.
CREATE INDEX agent_runs_queued_idx ON agent_runs (created_at) WHERE status = 'QUEUED';
CREATE INDEX agent_runs_running_lease_idx ON agent_runs (lease_until) WHERE status = 'RUNNING';
CREATE INDEX agent_runs_agent_idx ON agent_runs (agent_id, created_at DESC);
CREATE INDEX agent_runs_task_idx ON agent_runs (task_id, created_at DESC);
ALTER TABLE agent_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_runs_tenant ON agent_runs
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- ---------- checkpoints (projection of AgentRunCheckpointed) ----------
CREATE TABLE checkpoints (
  org_id uuid NOT NULL,
  run_id uuid NOT NULL REFERENCES agent_runs (id),
  seq int NOT NULL CHECK (seq > 0),
  state jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, seq)
);
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY checkpoints_tenant ON checkpoints
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- ---------- known_tasks (fed by tasks' TaskCreated/TaskUpdated; eventually consistent) ----------
CREATE TABLE known_tasks (
  task_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  title text NOT NULL,
  description text,
  priority text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX known_tasks_org_idx ON known_tasks (org_id);
ALTER TABLE known_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE known_tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY known_tasks_tenant ON known_tasks
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);
