-- The audit log and sign-in throttling.

-- audit_entries: one row per event of any service (id = the event id), newest first per organization.
-- identity's own events are written by its projection in the append's transaction; tasks, customers and agents
-- events arrive through durable JetStream consumers (src/events/reactors/audit-entries.ts), whose inbox makes each
-- insert happen once. Not a READ_MODEL_TABLE: `pnpm rebuild identity` replays identity's events into it
-- idempotently (ON CONFLICT DO NOTHING) and keeps the rows the consumers wrote.
CREATE TABLE audit_entries (
  id uuid PRIMARY KEY,
  -- insertion order: breaks ties between events of one transaction (they share their timestamp)
  seq bigserial NOT NULL,
  org_id uuid NOT NULL,
  at timestamptz NOT NULL,
  service text NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  correlation_id text,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_entries_org_at_idx ON audit_entries (org_id, at DESC, seq DESC);
ALTER TABLE audit_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_entries_tenant ON audit_entries
  USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
  WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid);

-- login_attempts: operational state for the sliding-window sign-in throttle (per account and per client IP).
-- `account` is the sha256 of the normalized email, whether or not such an account exists (no enumeration).
-- A row is written 'pending' BEFORE the password is checked, so concurrent guesses count against the limit too.
-- Not tenant data: RLS on with no policy, so only the system role (BYPASSRLS) reads or writes it.
CREATE TABLE login_attempts (
  id uuid PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  account text NOT NULL,
  ip text,
  outcome text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'success', 'failure'))
);
CREATE INDEX login_attempts_account_idx ON login_attempts (account, at);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, at) WHERE ip IS NOT NULL;
CREATE INDEX login_attempts_at_idx ON login_attempts (at);
ALTER TABLE login_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_attempts FORCE ROW LEVEL SECURITY;
