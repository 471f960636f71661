-- The worker protocol (external agent workers through the graph): fencing tokens, claim leases sized by the worker,
-- retry backoff, the step records and usage of each run, its result; the task snapshot a claim hands out.
ALTER TABLE agent_runs
  ADD COLUMN lease_no int NOT NULL DEFAULT 0,
  ADD COLUMN lease_token_hash text,
  ADD COLUMN lease_ms int,
  ADD COLUMN not_before timestamptz,
  ADD COLUMN result jsonb,
  ADD COLUMN model_calls int NOT NULL DEFAULT 0,
  ADD COLUMN tool_calls int NOT NULL DEFAULT 0,
  ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
  ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
  ADD COLUMN cost_usd numeric(16, 6) NOT NULL DEFAULT 0;

-- Workers claim within their organization, oldest first.
DROP INDEX agent_runs_queued_idx;
CREATE INDEX agent_runs_queued_idx ON agent_runs (org_id, created_at, id) WHERE status = 'QUEUED';

-- What the worker reported about the step a checkpoint ends (name, times, model, prompt, tokens, cost, tool calls).
ALTER TABLE checkpoints ADD COLUMN step jsonb;

ALTER TABLE known_tasks ADD COLUMN customer_id uuid;
