import type { AgentKind } from '@cos/events';

/**
 * The specialists' deterministic steps (no LLM in this service). Each step reads the task and the data the earlier
 * steps produced and returns more data; the runner checkpoints after every step, so a resumed run skips the steps
 * it already completed. A step may ask for a person's approval before the next one runs.
 */
export interface TaskSnapshot {
  id: string;
  title: string;
  description: string | null;
  priority: string | null;
}

export type StepData = Record<string, unknown>;

export interface StepContext {
  task: TaskSnapshot;
  /** What earlier steps produced (restored from the last checkpoint after a crash or an approval). */
  data: StepData;
  /** The approval that resumed this run, if any. */
  approval: { approvalId: string; reason: string | null } | null;
}

export interface StepOutcome {
  data: StepData;
  /** Stop here and ask a person; the run continues with the next step once approved. */
  approval?: { action: string; payload: unknown };
}

export interface Step {
  name: string;
  run(ctx: StepContext): StepOutcome | Promise<StepOutcome>;
}

export interface Specialist {
  steps: Step[];
  /** The run's result, from everything the steps produced. */
  result(data: StepData): unknown;
}

/** The checkpoint state the runner stores after each step. */
export interface CheckpointState {
  step: string;
  data: StepData;
}

const textOf = (t: TaskSnapshot) => `${t.title} ${t.description ?? ''}`.toLowerCase();

const KEYWORDS: Record<string, string[]> = {
  URGENT: ['outage', 'down', 'urgent', 'security', 'breach', 'data loss', 'asap'],
  HIGH: ['bug', 'error', 'broken', 'churn', 'cancel', 'refund', 'failed', 'blocked'],
  LOW: ['typo', 'nice to have', 'someday', 'idea', 'cosmetic'],
};

/** Keyword matches by priority, in a stable order. */
export function findKeywords(t: TaskSnapshot): Record<string, string[]> {
  const text = textOf(t);
  const out: Record<string, string[]> = {};
  for (const [prio, words] of Object.entries(KEYWORDS)) out[prio] = words.filter((w) => text.includes(w));
  return out;
}

/** TRIAGE's rule: the most severe keyword class wins, otherwise MEDIUM. */
export function proposePriority(matches: Record<string, string[]>): 'URGENT' | 'HIGH' | 'MEDIUM' | 'LOW' {
  if (matches.URGENT?.length) return 'URGENT';
  if (matches.HIGH?.length) return 'HIGH';
  if (matches.LOW?.length) return 'LOW';
  return 'MEDIUM';
}

const summarize = (t: TaskSnapshot) => (t.description ? `${t.title}: ${t.description}` : t.title).slice(0, 280);

export const SPECIALISTS: Record<AgentKind, Specialist> = {
  TRIAGE: {
    steps: [
      { name: 'read-task', run: ({ task }) => ({ data: { keywords: findKeywords(task), currentPriority: task.priority } }) },
      {
        name: 'propose-priority',
        run: ({ data }) => {
          const matches = data.keywords as Record<string, string[]>;
          const proposed = proposePriority(matches);
          const hits = Object.values(matches).flat();
          return {
            data: {
              proposedPriority: proposed,
              rationale: hits.length ? `matched: ${hits.join(', ')}` : 'no severity keywords; default MEDIUM',
            },
          };
        },
      },
    ],
    result: (d) => ({ proposedPriority: d.proposedPriority, rationale: d.rationale, previousPriority: d.currentPriority }),
  },
  SUPPORT: {
    steps: [
      { name: 'read-task', run: ({ task }) => ({ data: { summary: summarize(task), severity: proposePriority(findKeywords(task)) } }) },
      {
        name: 'draft-reply',
        run: ({ task, data }) => ({
          data: {
            draft:
              `Hello, thank you for reaching out about "${task.title}". ` +
              (data.severity === 'URGENT' || data.severity === 'HIGH'
                ? 'We treat this as a priority and an engineer is looking at it now.'
                : 'We have logged it and will follow up shortly.'),
          },
        }),
      },
      {
        name: 'request-send-approval',
        run: ({ task, data }) => ({
          data: { approvalRequestedFor: 'support.sendReply' },
          approval: { action: 'support.sendReply', payload: { taskId: task.id, draft: data.draft } },
        }),
      },
      {
        name: 'send-reply',
        run: ({ approval, data }) => ({ data: { sent: true, sentDraft: data.draft, approvalId: approval?.approvalId ?? null } }),
      },
    ],
    result: (d) => ({ sent: d.sent === true, reply: d.sentDraft, approvalId: d.approvalId }),
  },
  RESEARCH: {
    steps: [
      {
        name: 'collect-questions',
        run: ({ task }) => ({
          data: { questions: [`What is the context of "${task.title}"?`, 'Who is affected?', 'What changed recently?'] },
        }),
      },
      { name: 'summarize', run: ({ task, data }) => ({ data: { brief: `${summarize(task)} — ${(data.questions as string[]).length} open questions` } }) },
    ],
    result: (d) => ({ brief: d.brief, questions: d.questions }),
  },
  SUCCESS: {
    steps: [
      { name: 'assess-account', run: ({ task }) => ({ data: { risk: findKeywords(task).HIGH?.length ? 'elevated' : 'normal' } }) },
      {
        name: 'plan-outreach',
        run: ({ data }) => ({
          data: { plan: data.risk === 'elevated' ? ['schedule a call this week', 'offer a training session'] : ['send a check-in email'] },
        }),
      },
    ],
    result: (d) => ({ risk: d.risk, plan: d.plan }),
  },
  SALES: {
    steps: [
      { name: 'qualify', run: ({ task }) => ({ data: { qualified: !/spam|test/i.test(task.title) } }) },
      {
        name: 'draft-follow-up',
        run: ({ task, data }) => ({ data: { followUp: data.qualified ? `Following up on "${task.title}": can we book a demo?` : null } }),
      },
    ],
    result: (d) => ({ qualified: d.qualified, followUp: d.followUp }),
  },
  ENGINEERING: {
    steps: [
      { name: 'classify-issue', run: ({ task }) => ({ data: { isBug: (findKeywords(task).HIGH?.length ?? 0) > 0 } }) },
      {
        name: 'propose-fix-plan',
        run: ({ data }) => ({
          data: { plan: data.isBug ? ['reproduce', 'write a failing test', 'fix', 'release'] : ['scope', 'design', 'implement'] },
        }),
      },
    ],
    result: (d) => ({ isBug: d.isBug, plan: d.plan }),
  },
  OPERATIONS: {
    steps: [
      { name: 'match-runbook', run: ({ task }) => ({ data: { runbook: findKeywords(task).URGENT?.length ? 'incident-response' : 'routine' } }) },
      { name: 'plan-actions', run: ({ data }) => ({ data: { actions: data.runbook === 'incident-response' ? ['page on-call', 'open incident'] : ['schedule'] } }) },
    ],
    result: (d) => ({ runbook: d.runbook, actions: d.actions }),
  },
};
