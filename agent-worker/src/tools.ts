import { z } from 'zod';
import type { GraphClient } from './graph';
import type { ToolSpec } from './models/provider';

/**
 * The tools a model may call. Each is a trusted read operation of the graph, run with the worker's own key, so the
 * gateway's authorization, tenant isolation, limits and audit apply to the model exactly as to any client: a model
 * asking for another organization's ids gets nothing. Tools only read; effects go through approvals.
 */
export type ToolName = 'get_task' | 'get_customer' | 'search_tasks';

const id = z.string().uuid('must be an id');
const args = {
  get_task: z.object({ taskId: id }),
  get_customer: z.object({ customerId: id }),
  search_tasks: z.object({ query: z.string().trim().min(1).max(200) }),
};

function parse<T>(schema: z.ZodType<T>, raw: Record<string, unknown>): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(`bad arguments: ${r.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join('; ')}`);
  return r.data;
}

export function graphTools(graph: GraphClient): Record<ToolName, ToolSpec> {
  return {
    get_task: {
      name: 'get_task',
      description: 'Read a task of the company: title, description, status, priority, customer, comments and approvals.',
      parameters: z.toJSONSchema(args.get_task) as Record<string, unknown>,
      async run(raw) {
        const { taskId } = parse(args.get_task, raw);
        const d = await graph.request<{ task: unknown }>('ToolTask', { id: taskId });
        if (!d.task) throw new Error(`no task ${taskId}`);
        return d.task;
      },
    },
    get_customer: {
      name: 'get_customer',
      description: "Read a customer account: plan, health score (0..100, grade A..F) with its factors and recent history, churn risk, contacts' names.",
      parameters: z.toJSONSchema(args.get_customer) as Record<string, unknown>,
      async run(raw) {
        const { customerId } = parse(args.get_customer, raw);
        const d = await graph.request<{ customer: unknown }>('ToolCustomer', { id: customerId });
        if (!d.customer) throw new Error(`no customer ${customerId}`);
        return d.customer;
      },
    },
    search_tasks: {
      name: 'search_tasks',
      description: 'Search the company tasks by text; returns up to 5 matches (id, title, status, priority) and the total count.',
      parameters: z.toJSONSchema(args.search_tasks) as Record<string, unknown>,
      async run(raw) {
        const { query } = parse(args.search_tasks, raw);
        const d = await graph.request<{ tasks: unknown }>('ToolSearchTasks', { search: query, first: 5 });
        return d.tasks;
      },
    },
  };
}
