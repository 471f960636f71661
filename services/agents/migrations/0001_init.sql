-- replaces-checksum: cd5ec66500aec91d78110ca94cc61766046120fbaf72a901d2d3d6397ea5fe23
-- (issue 16: the events table is @cos/event-store's migration and the inbox @cos/bus's, applied first: packages.json)
-- agents service: read models (projections of our events), known_tasks (fed by tasks
-- events) and the runner's operational columns (lease/heartbeat). Every table is tenant-scoped with RLS.

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
