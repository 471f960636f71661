import { z } from 'zod';
import type { AgentKind } from '@cos/events';
import type { ToolName } from './tools';

/**
 * The seven specialists: ordered steps. A `model` step asks the model provider for an answer of a given shape (with a
 * versioned prompt and the tools it may call); its `rules` are the deterministic answer the `rules` provider gives
 * (the demo needs no model key). An `approval` step pauses the run until a person decides; a `tool` step reads the
 * graph without a model. The worker checkpoints after every step, so a resumed run continues after the last one.
 */
export interface TaskSnapshot {
  id: string;
  title: string;
  description: string | null;
  priority: string | null;
  customerId: string | null;
}

export type StepData = Record<string, unknown>;

export interface StepContext {
  task: TaskSnapshot;
  /** What earlier steps produced. */
  data: StepData;
  /** The approval that resumed the run, if any. */
  approval: { approvalId: string; reason: string | null } | null;
}

/** Calls a tool through the graph and records the call on the step. */
export type CallTool = (name: ToolName, args: Record<string, unknown>) => Promise<unknown>;

export type Step =
  | {
      type: 'model';
      name: string;
      prompt: string;
      tools: ToolName[];
      output: z.ZodType<StepData>;
      input(ctx: StepContext): Record<string, unknown>;
      rules(input: Record<string, unknown>, call: CallTool): StepData | Promise<StepData>;
    }
  | { type: 'approval'; name: string; action: string; payload(ctx: StepContext): unknown }
  | { type: 'tool'; name: string; run(ctx: StepContext, call: CallTool): Promise<StepData> };

export interface Specialist {
  steps: Step[];
  /** The run's result, from everything the steps produced. */
  result(data: StepData, task: TaskSnapshot): unknown;
}

const PRIORITY = z.enum(['URGENT', 'HIGH', 'MEDIUM', 'LOW']);
type Priority = z.infer<typeof PRIORITY>;

const KEYWORDS: Record<Exclude<Priority, 'MEDIUM'>, string[]> = {
  URGENT: ['outage', 'down', 'urgent', 'security', 'breach', 'data loss', 'asap'],
  HIGH: ['bug', 'error', 'broken', 'churn', 'cancel', 'refund', 'failed', 'blocked'],
  LOW: ['typo', 'nice to have', 'someday', 'idea', 'cosmetic'],
};

const textOf = (i: Record<string, unknown>) => `${String(i.title ?? '')} ${String(i.description ?? '')}`.toLowerCase();

/** Keyword matches by priority class, in a stable order. */
export function findKeywords(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [prio, words] of Object.entries(KEYWORDS)) out[prio] = words.filter((w) => text.includes(w));
  return out;
}

/** The most severe keyword class wins, otherwise MEDIUM. */
export function proposePriority(matches: Record<string, string[]>): Priority {
  if (matches.URGENT?.length) return 'URGENT';
  if (matches.HIGH?.length) return 'HIGH';
  if (matches.LOW?.length) return 'LOW';
  return 'MEDIUM';
}

const summarize = (i: Record<string, unknown>) => (i.description ? `${String(i.title)}: ${String(i.description)}` : String(i.title)).slice(0, 280);
const taskInput = ({ task }: StepContext) => ({ taskId: task.id, title: task.title, description: task.description, priority: task.priority, customerId: task.customerId });

interface CustomerView {
  name?: string;
  churnRisk?: boolean;
  healthScore?: { score: number; grade: string } | null;
}

export const SPECIALISTS: Record<AgentKind, Specialist> = {
  TRIAGE: {
    steps: [
      {
        type: 'model',
        name: 'assess',
        prompt: 'triage/assess@v1',
        tools: ['search_tasks'],
        output: z.object({ proposedPriority: PRIORITY, rationale: z.string().min(1).max(500) }),
        input: taskInput,
        rules: (i) => {
          const matches = findKeywords(textOf(i));
          const hits = Object.values(matches).flat();
          return {
            proposedPriority: proposePriority(matches),
            rationale: hits.length ? `matched: ${hits.join(', ')}` : 'no severity keywords; default MEDIUM',
          };
        },
      },
    ],
    result: (d, task) => ({ proposedPriority: d.proposedPriority, rationale: d.rationale, previousPriority: task.priority }),
  },
  SUPPORT: {
    steps: [
      {
        type: 'model',
        name: 'analyze',
        prompt: 'support/analyze@v1',
        tools: [],
        output: z.object({ summary: z.string().min(1).max(500), severity: PRIORITY }),
        input: taskInput,
        rules: (i) => ({ summary: summarize(i), severity: proposePriority(findKeywords(textOf(i))) }),
      },
      {
        type: 'model',
        name: 'draft-reply',
        prompt: 'support/draft-reply@v1',
        tools: ['get_task', 'get_customer'],
        output: z.object({ draft: z.string().min(1).max(5_000) }),
        input: (ctx) => ({ ...taskInput(ctx), summary: ctx.data.summary, severity: ctx.data.severity }),
        rules: async (i, call) => {
          const customer = i.customerId ? ((await call('get_customer', { customerId: i.customerId })) as CustomerView) : null;
          const greeting = customer?.name ? `Hello ${customer.name} team` : 'Hello';
          const urgent = i.severity === 'URGENT' || i.severity === 'HIGH';
          return {
            draft:
              `${greeting}, thank you for reaching out about "${String(i.title)}". ` +
              (urgent ? 'We treat this as a priority and an engineer is looking at it now.' : 'We have logged it and will follow up shortly.'),
          };
        },
      },
      {
        type: 'approval',
        name: 'request-send-approval',
        action: 'support.sendReply',
        payload: ({ task, data }) => ({ taskId: task.id, draft: data.draft }),
      },
      {
        // Approving posted the reply on the task (the platform applies support.sendReply with the decision, exactly
        // once), and the mailer mails that comment to the customer's contact (README "Email": SUPPORT_REPLY; failures
        // in `pnpm dlq mail list`). The worker can only see the graph: it checks the comment is there and reports
        // that, not a delivery it cannot observe.
        type: 'tool',
        name: 'confirm-posted',
        run: async ({ task, approval }, call) => {
          if (!approval) throw new Error('resumed without an approval decision');
          const t = (await call('get_task', { taskId: task.id })) as { comments: Array<{ id: string }> };
          const posted = t.comments.find((c) => c.id === approval.approvalId);
          if (!posted) throw new Error(`the approved reply ${approval.approvalId} is not on the task`);
          return { posted: true, commentId: posted.id, approvalId: approval.approvalId };
        },
      },
    ],
    result: (d) => ({ posted: d.posted === true, commentId: d.commentId, reply: d.draft, approvalId: d.approvalId }),
  },
  RESEARCH: {
    steps: [
      {
        type: 'model',
        name: 'brief',
        prompt: 'research/brief@v1',
        tools: ['search_tasks'],
        output: z.object({ questions: z.array(z.string().min(1).max(300)).min(1).max(10), brief: z.string().min(1).max(1_000) }),
        input: taskInput,
        rules: (i) => {
          const questions = [`What is the context of "${String(i.title)}"?`, 'Who is affected?', 'What changed recently?'];
          return { questions, brief: `${summarize(i)} — ${questions.length} open questions` };
        },
      },
    ],
    result: (d) => ({ brief: d.brief, questions: d.questions }),
  },
  SUCCESS: {
    steps: [
      {
        type: 'model',
        name: 'assess-account',
        prompt: 'success/assess-account@v1',
        tools: ['get_customer'],
        output: z.object({ risk: z.enum(['elevated', 'normal']), plan: z.array(z.string().min(1).max(300)).min(1).max(4) }),
        input: taskInput,
        rules: async (i, call) => {
          const customer = i.customerId ? ((await call('get_customer', { customerId: i.customerId })) as CustomerView) : null;
          const elevated =
            customer?.churnRisk === true || (customer?.healthScore?.score ?? 100) < 50 || (findKeywords(textOf(i)).HIGH?.length ?? 0) > 0;
          return {
            risk: elevated ? 'elevated' : 'normal',
            plan: elevated ? ['schedule a call this week', 'offer a training session'] : ['send a check-in email'],
          };
        },
      },
    ],
    result: (d) => ({ risk: d.risk, plan: d.plan }),
  },
  SALES: {
    steps: [
      {
        type: 'model',
        name: 'qualify',
        prompt: 'sales/qualify@v1',
        tools: [],
        output: z.object({ qualified: z.boolean(), followUp: z.string().max(500).nullable() }),
        input: taskInput,
        rules: (i) => {
          const qualified = !/spam|test/i.test(String(i.title));
          return { qualified, followUp: qualified ? `Following up on "${String(i.title)}": can we book a demo?` : null };
        },
      },
    ],
    result: (d) => ({ qualified: d.qualified, followUp: d.followUp }),
  },
  ENGINEERING: {
    steps: [
      {
        type: 'model',
        name: 'plan',
        prompt: 'engineering/plan@v1',
        tools: ['search_tasks'],
        output: z.object({ isBug: z.boolean(), plan: z.array(z.string().min(1).max(300)).min(2).max(6) }),
        input: taskInput,
        rules: (i) => {
          const isBug = (findKeywords(textOf(i)).HIGH?.length ?? 0) > 0;
          return { isBug, plan: isBug ? ['reproduce', 'write a failing test', 'fix', 'release'] : ['scope', 'design', 'implement'] };
        },
      },
    ],
    result: (d) => ({ isBug: d.isBug, plan: d.plan }),
  },
  OPERATIONS: {
    steps: [
      {
        type: 'model',
        name: 'runbook',
        prompt: 'operations/runbook@v1',
        tools: [],
        output: z.object({ runbook: z.enum(['incident-response', 'routine']), actions: z.array(z.string().min(1).max(300)).min(1).max(6) }),
        input: taskInput,
        rules: (i) => {
          const incident = (findKeywords(textOf(i)).URGENT?.length ?? 0) > 0;
          return { runbook: incident ? 'incident-response' : 'routine', actions: incident ? ['page on-call', 'open incident'] : ['schedule'] };
        },
      },
    ],
    result: (d) => ({ runbook: d.runbook, actions: d.actions }),
  },
};
