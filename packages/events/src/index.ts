/**
 * The public event catalog: what each service publishes on `cos.<orgId>.<service>.<aggregate>.<EventType>`.
 * Each service appends only its own union; other services consume them. Past-tense names; `data` shapes are
 * versioned by `schemaVersion` on the envelope (bump it and upcast when a shape changes).
 */
import type { DomainEvent } from '@cos/event-store';

export type Role = 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';
export type AssigneeRef = { id: string; kind: 'User' | 'Agent' };

/** Notification mails a person can turn off (README "Email"). */
export const NOTIFICATION_KINDS = ['APPROVAL_REQUESTED', 'TASK_ASSIGNED', 'CHURN_RISK'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

// ---------- identity (aggregates: Organization, User, Invitation, ApiKey) ----------
export type IdentityEvent =
  | DomainEvent<'OrganizationCreated', { organizationId: string; name: string; slug: string; ownerId: string }>
  | DomainEvent<'UserRegistered', { userId: string; email: string; name: string }>
  | DomainEvent<'MemberJoined', { organizationId: string; userId: string; name: string; role: Role }>
  | DomainEvent<'MemberRoleChanged', { organizationId: string; userId: string; role: Role; previousRole: Role }>
  | DomainEvent<'MemberRemoved', { organizationId: string; userId: string }>
  | DomainEvent<
      'InvitationCreated',
      {
        invitationId: string;
        email: string;
        name: string;
        role: Role;
        tokenHash: string;
        expiresAt: string;
        /** the (password-less) user the invitation is for */
        userId?: string;
        /** The accept link with the token, for the mailer's invitation mail (sealed per subject; null once erased). */
        acceptUrl?: string | null;
      }
    >
  | DomainEvent<'InvitationAccepted', { invitationId: string; userId: string }>
  | DomainEvent<'UserLoggedIn', { userId: string }>
  /**
   * GDPR erasure (stream `User-<id>`): the person's data key was destroyed (crypto-shredding), so their personal
   * fields in every event read as placeholders from now on; their credentials, sessions and memberships are gone.
   * Other services drop what they keep about them (tasks: directory names, and the attachments they uploaded, blobs
   * included). No personal data.
   */
  | DomainEvent<'UserErased', { userId: string }>
  /**
   * The notification mails a person turned off (stream `User-<id>`): through `updateNotificationPreferences` or an
   * unsubscribe link (`via`). `disabled` is the whole set after the change. The mailer consumes it.
   */
  | DomainEvent<'NotificationPreferencesChanged', { userId: string; disabled: NotificationKind[]; via: 'graph' | 'unsubscribe' }>
  /** kind 'service' (absent = 'partner'): a service account for agent workers, verified as a service principal. */
  | DomainEvent<'ApiKeyCreated', { apiKeyId: string; name: string; scopes: string[]; prefix: string; kind?: 'partner' | 'service' }>
  | DomainEvent<'ApiKeyRevoked', { apiKeyId: string }>
  /**
   * A sign-in that did not succeed (stream `LoginAttempt-<attemptId>`, one event). Recorded in the organization the
   * person would have signed in to; an unknown email (or a person without any membership) lands in SYSTEM_ORG_ID,
   * which no tenant can read. No email in the data: userId identifies known people, unknown emails stay unrecorded.
   */
  | DomainEvent<'LoginFailed', { attemptId: string; userId: string | null; reason: 'invalid_credentials' | 'not_a_member'; ip: string | null }>
  /** A spent refresh token was presented again: its whole family (session) was revoked. */
  | DomainEvent<'RefreshTokenReused', { userId: string; familyId: string; ip: string | null }>
  /**
   * Trusted documents registered for a client of the organization (stream `PersistedClient-<orgId>-<client>`); only
   * operations not registered before. Each was valid against the supergraph of the moment.
   */
  | DomainEvent<
      'PersistedOperationsPublished',
      { client: string; operations: Array<{ id: string; name: string; type: 'query' | 'mutation' | 'subscription'; body: string }> }
    >
  /** Trusted documents withdrawn from a client (same stream): the gateway refuses them from then on. */
  | DomainEvent<'PersistedOperationsRevoked', { client: string; ids: string[] }>;

/** The organization id of records that belong to no tenant (failed sign-ins with an unknown email). */
export const SYSTEM_ORG_ID = '00000000-0000-0000-0000-000000000000';

// ---------- tasks (aggregates: Task, Approval) ----------
export type TaskStatus = 'TODO' | 'IN_PROGRESS' | 'AWAITING_APPROVAL' | 'DONE' | 'CANCELLED';
export type TaskPriority = 'LOW' | 'MEDIUM' | 'HIGH' | 'URGENT';
export type TaskEvent =
  | DomainEvent<
      'TaskCreated',
      {
        taskId: string;
        title: string;
        description: string | null;
        priority: TaskPriority;
        status: TaskStatus;
        customerId: string | null;
        assignee: AssigneeRef | null;
        createdBy: string;
        dueAt: string | null;
        /** Set when a reaction created the task, e.g. { kind: 'churnRisk', customerId, episode }. */
        origin?: { kind: string; key: string } | null;
      }
    >
  | DomainEvent<'TaskUpdated', { taskId: string; changes: { title?: string; description?: string | null; priority?: TaskPriority; customerId?: string | null; dueAt?: string | null } }>
  | DomainEvent<'TaskStatusChanged', { taskId: string; from: TaskStatus; to: TaskStatus }>
  | DomainEvent<'TaskAssigned', { taskId: string; assignee: AssigneeRef | null; previous: AssigneeRef | null }>
  /**
   * `draftedBy`: the comment is an agent's draft that a person approved (the approver is the author); absent for
   * comments people write themselves.
   */
  | DomainEvent<'CommentAdded', { taskId: string; commentId: string; body: string; authorId: string; draftedBy?: { agentId: string; approvalId: string } | null }>
  /**
   * A file attached to the task (or to one of its comments). The blob lives in content-addressed storage under its
   * sha256; `uploadedBy` is the person (or actor string) who uploaded it.
   */
  | DomainEvent<
      'AttachmentAdded',
      { taskId: string; attachmentId: string; commentId: string | null; sha256: string; size: number; contentType: string; name: string; uploadedBy: string }
    >
  /** `reason`: 'removed' (a person removed it) or 'erasure' (its uploader's data was erased). */
  | DomainEvent<'AttachmentRemoved', { taskId: string; attachmentId: string; sha256: string; reason: 'removed' | 'erasure' }>
  | DomainEvent<'ApprovalRequested', { approvalId: string; taskId: string; runId: string; agentId: string; action: string; payload: unknown }>
  | DomainEvent<'ApprovalDecided', { approvalId: string; taskId: string; runId: string; agentId: string; approved: boolean; reason: string | null; decidedBy: string }>;

// ---------- customers (aggregate: Customer) ----------
export type SignalKind = 'PRODUCT_USAGE' | 'SUPPORT_TICKET' | 'NPS' | 'PAYMENT_FAILED' | 'LOGIN';
export type HealthFactor = { name: string; weight: number; value: number };
export type CustomerEvent =
  | DomainEvent<
      'CustomerCreated',
      { customerId: string; name: string; domain: string | null; plan: string | null; mrr: number | null; ownerId: string | null; contacts: { id: string; name: string; email: string | null }[] }
    >
  /**
   * `source`: the signal came from a connection (webhook or connector pull); `externalId` is the provider's event id
   * the connection deduplicates on (absent for signals recorded through the graph).
   */
  | DomainEvent<
      'SignalRecorded',
      {
        customerId: string;
        signalId: string;
        kind: SignalKind;
        value: number;
        occurredAt: string;
        note: string | null;
        source?: { connectionId: string; provider: ConnectionProvider; externalId: string; via: 'WEBHOOK' | 'SYNC' } | null;
      }
    >
  | DomainEvent<'HealthScoreChanged', { customerId: string; score: number; grade: string; factors: HealthFactor[]; previousScore: number | null; computedAt: string }>
  /** churnRisk turned true; `episode` counts the times it did, so reactions act once per episode. */
  | DomainEvent<'ChurnRiskFlagged', { customerId: string; name: string; score: number; ownerId: string | null; episode: number }>
  | DomainEvent<'ChurnRiskCleared', { customerId: string; score: number; episode: number }>
  /** GDPR erasure of one contact (stream `Customer-<id>`): its data key was destroyed; the contact is gone. */
  | DomainEvent<'CustomerContactErased', { customerId: string; contactId: string }>

  // Connection aggregate (stream `Connection-<id>`): a provider the organization's signals come from. Credentials
  // never travel in events: they are stored encrypted beside the stream (connection_secrets); events carry hints.
  | DomainEvent<
      'ConnectionCreated',
      { connectionId: string; provider: ConnectionProvider; name: string; config: ConnectionConfig; webhookSecretHint: SecretHint; apiTokenHint: SecretHint | null }
    >
  | DomainEvent<'ConnectionSecretRotated', { connectionId: string; secret: 'WEBHOOK_SECRET' | 'API_TOKEN'; hint: SecretHint }>
  | DomainEvent<'ConnectionDeleted', { connectionId: string }>;

/** The providers a connection speaks (webhook signature scheme, payload mapping, pull API). */
export type ConnectionProvider = 'SUPPORT_ZENDESK' | 'SUPPORT_INTERCOM' | 'USAGE_SEGMENT' | 'USAGE_MIXPANEL' | 'BILLING_STRIPE';
/** The non-secret settings of a connection. */
export type ConnectionConfig = {
  /** Provider API base URL for pulls (e.g. https://acme.zendesk.com, https://api.stripe.com); null: webhooks only. */
  baseUrl: string | null;
  /** Zendesk API user (`email/token` basic auth). */
  email: string | null;
  /** Seconds between pulls. */
  syncIntervalSeconds: number;
};
/** What may be shown of a secret: its last 4 characters and a sha256 fingerprint prefix. */
export type SecretHint = { last4: string; fingerprint: string };

// ---------- agents (aggregates: Agent, AgentRun) ----------
export type AgentKind = 'TRIAGE' | 'RESEARCH' | 'SUPPORT' | 'SUCCESS' | 'SALES' | 'ENGINEERING' | 'OPERATIONS';
export const AGENT_KINDS: readonly AgentKind[] = ['TRIAGE', 'RESEARCH', 'SUPPORT', 'SUCCESS', 'SALES', 'ENGINEERING', 'OPERATIONS'];

/** A tool a model called during a step, as the worker reports it (arguments and result as JSON, both size-bounded). */
export interface AgentToolCallRecord {
  name: string;
  arguments: unknown;
  result?: unknown;
  error?: string | null;
  durationMs?: number | null;
}

/** What a worker reports about one step it completed (recorded on the checkpoint that ends the step). */
export interface AgentStepRecord {
  name: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** `provider:model`, e.g. `openai:gpt-4o-mini` or `rules`. */
  model: string | null;
  /** The versioned prompt the step used, e.g. `support/draft-reply@v1`. */
  prompt: string | null;
  modelCalls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  toolCalls: AgentToolCallRecord[];
}

export type AgentEvent =
  | DomainEvent<'AgentCreated', { agentId: string; name: string; kind: AgentKind }>
  | DomainEvent<
      'AgentRunQueued',
      {
        runId: string;
        agentId: string;
        taskId: string;
        attempt: number;
        /** Attempts before the run is dead-lettered (absent: 3). */
        maxAttempts?: number;
        /** The agent's kind, so workers waiting for their kinds are woken by subject filters alone (absent before v2). */
        agentKind?: AgentKind;
      }
    >
  /**
   * A worker claimed the run. `lease` counts the claims of this run (the fencing sequence); `tokenHash` is the sha256
   * of the fencing token handed to that worker (the token itself never leaves the claim's answer). Events written by
   * the in-process runner of earlier versions have neither.
   */
  | DomainEvent<'AgentRunStarted', { runId: string; attempt: number; workerId: string; lease?: number; tokenHash?: string }>
  /** `step`: what the worker reports about the step this checkpoint ends (absent in events of earlier versions). */
  | DomainEvent<'AgentRunCheckpointed', { runId: string; seq: number; state: unknown; step?: AgentStepRecord }>
  | DomainEvent<'AgentRunApprovalRequested', { runId: string; agentId: string; taskId: string; action: string; payload: unknown }>
  | DomainEvent<'AgentRunResumed', { runId: string; approvalId: string; reason: string | null; agentKind?: AgentKind }>
  /** `retryAt`: not claimable before this instant (backoff with jitter after a failed or lapsed attempt). */
  | DomainEvent<'AgentRunRequeued', { runId: string; attempt: number; reason: string; agentKind?: AgentKind; retryAt?: string }>
  | DomainEvent<'AgentRunSucceeded', { runId: string; result: unknown }>
  | DomainEvent<'AgentRunFailed', { runId: string; error: string; deadLettered: boolean }>
  | DomainEvent<'AgentRunCancelled', { runId: string; reason: string | null }>;

export type AnyEvent = IdentityEvent | TaskEvent | CustomerEvent | AgentEvent;

export {
  EVENT_CATALOG,
  eventSubject,
  streamTypeOf,
  isStreamEvent,
  streamOfEvent,
  type ServiceEvents,
  type ServiceName,
  type EventTypeOf,
  type StreamTypeOf,
  type StreamEventType,
} from './subjects';
