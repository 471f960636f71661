-- replaces-checksum: 4003631e89524ed76d6ebeb778cdb5e9fbb9e1f9bd98edd23930dc3261f6e4b8
-- (issue 16: the events table is @cos/event-store's migration, applied first: packages.json; customers consumes no events,
--  so a new schema has no inbox — one made by the old version of this file stays, unused)
-- customers service: the read models projected from its events (the events table, the source of truth + outbox, is
-- @cos/event-store's migration, see packages.json).
-- Read models are written only by the projector (src/projections.ts), in the same transaction as the append;
-- `pnpm rebuild customers` truncates them and replays the events. They carry no foreign keys so a rebuild can
-- truncate them in any order.

CREATE TABLE customers (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  domain text,
  plan text CHECK (plan IS NULL OR char_length(plan) <= 50),
  mrr numeric(16, 2) CHECK (mrr IS NULL OR mrr >= 0),
  owner_id uuid,
  created_at timestamptz NOT NULL,
  -- the current health (null until the first signal); history lives in health_scores
  health_score int CHECK (health_score IS NULL OR health_score BETWEEN 0 AND 100),
  health_grade text,
  health_factors jsonb,
  health_computed_at timestamptz,
  churn_risk boolean NOT NULL DEFAULT false,
  churn_episode int NOT NULL DEFAULT 0
);
-- keyset pagination: newest first, per tenant; a partial index for the at-risk filter
CREATE INDEX customers_page_idx ON customers (org_id, created_at DESC, id DESC);
CREATE INDEX customers_at_risk_idx ON customers (org_id, created_at DESC, id DESC) WHERE churn_risk;

CREATE TABLE contacts (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  position int NOT NULL,
  name text NOT NULL,
  email text
);
CREATE INDEX contacts_customer_idx ON contacts (customer_id, position);

CREATE TABLE signals (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('PRODUCT_USAGE', 'SUPPORT_TICKET', 'NPS', 'PAYMENT_FAILED', 'LOGIN')),
  value double precision NOT NULL,
  occurred_at timestamptz NOT NULL,
  note text,
  recorded_at timestamptz NOT NULL
);
CREATE INDEX signals_customer_idx ON signals (customer_id, kind, occurred_at DESC);

CREATE TABLE health_scores (
  id uuid PRIMARY KEY,              -- the HealthScoreChanged event id (stable across rebuilds)
  org_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  score int NOT NULL CHECK (score BETWEEN 0 AND 100),
  grade text NOT NULL,
  factors jsonb NOT NULL,
  computed_at timestamptz NOT NULL,
  position bigint NOT NULL          -- the event's global position: a total order even for equal computed_at
);
CREATE INDEX health_scores_customer_idx ON health_scores (customer_id, position DESC);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['customers', 'contacts', 'signals', 'health_scores'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY %I ON %I
      USING (org_id = nullif(current_setting('app.org_id', true), '')::uuid)
      WITH CHECK (org_id = nullif(current_setting('app.org_id', true), '')::uuid)$p$, t || '_tenant', t);
  END LOOP;
END $$;
