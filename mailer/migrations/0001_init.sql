-- replaces-checksum: 3f7420376e4908a367e9e0e00005c64f8ea9e98d8bf775ae831ce3ae54cff920
-- (issue 16: the inbox is @cos/bus's migration, applied first: packages.json)
-- mailer: notification mails from the events. Fed only by its JetStream consumers (the inbox is @cos/bus's migration,
-- see packages.json) and drained by its sender;
-- every table is the system role's (BYPASSRLS): RLS on with no policy hides them from the runtime role.

-- ---------- directory: who the mails go to (identity and customers events) ----------
CREATE TABLE recipients (
  user_id uuid PRIMARY KEY,
  email text,
  name text,
  erased_at timestamptz
);
CREATE TABLE members (
  org_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role text NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE TABLE organizations (
  org_id uuid PRIMARY KEY,
  name text NOT NULL
);
CREATE TABLE task_titles (
  task_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  title text NOT NULL,
  customer_id uuid
);
-- Approvals whose applied effect the mailer delivers (support.sendReply: the approved reply goes to the contact).
CREATE TABLE reply_approvals (
  approval_id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  task_id uuid NOT NULL
);
CREATE TABLE contacts (
  contact_id uuid PRIMARY KEY,
  customer_id uuid NOT NULL,
  org_id uuid NOT NULL,
  email text,
  name text
);
CREATE INDEX contacts_customer_idx ON contacts (customer_id);

-- ---------- preferences: kinds a person opted out of (NotificationPreferencesChanged, unsubscribe links) ----------
CREATE TABLE preferences (
  user_id uuid PRIMARY KEY,
  disabled text[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- ---------- the mail outbox: one row per notification, leased by the sender (FOR UPDATE SKIP LOCKED) ----------
-- A row is the intent (kind, recipient, template data); the sender resolves the address, the person's
-- preferences and erasure, and renders the mail at send time, so a consumer of another service that runs ahead of
-- identity's (a TaskAssigned before the assignee's UserRegistered) still mails the right person.
CREATE TABLE mails (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL,
  kind text NOT NULL,
  event_id uuid NOT NULL,
  -- A person (address from recipients at send time) and/or a literal address (invitees, customer contacts).
  recipient_user_id uuid,
  to_address text,
  recipient text NOT NULL GENERATED ALWAYS AS (coalesce(recipient_user_id::text, lower(to_address))) STORED,
  template jsonb NOT NULL,
  subject text,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'DEAD', 'SKIPPED')),
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  leased_until timestamptz,
  last_error text,
  message_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  CHECK (recipient_user_id IS NOT NULL OR to_address IS NOT NULL),
  -- One mail per event, kind and recipient, however often the event is delivered or replayed.
  CONSTRAINT mails_once UNIQUE (event_id, kind, recipient)
);
CREATE INDEX mails_due_idx ON mails (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX mails_dead_idx ON mails (created_at) WHERE status = 'DEAD';
CREATE INDEX mails_created_idx ON mails (created_at);
CREATE INDEX mails_recipient_idx ON mails (recipient_user_id);
CREATE INDEX mails_address_idx ON mails (lower(to_address));

ALTER TABLE recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_titles ENABLE ROW LEVEL SECURITY;
ALTER TABLE reply_approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE mails ENABLE ROW LEVEL SECURITY;
