import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOrgAgents } from '../src/commands/agent-commands';
import { setupAgents, type AgentsHarness } from './harness';

let h: AgentsHarness;
beforeAll(async () => {
  h = await setupAgents();
});
afterAll(async () => {
  await h?.close();
});

describe('OrganizationCreated -> the seven agents', () => {
  it('creates seven agents once, even when the event arrives twice', async () => {
    const { orgId, agents } = await h.createOrg();
    expect(Object.keys(agents).sort()).toEqual(['ENGINEERING', 'OPERATIONS', 'RESEARCH', 'SALES', 'SUCCESS', 'SUPPORT', 'TRIAGE']);
    await h.deliverIdentity(orgId, { type: 'OrganizationCreated', data: { organizationId: orgId, name: 'Acme', slug: 'acme', ownerId: randomUUID() } });
    const count = await h.systemDb.query<{ n: number }>({ orgId }, 'SELECT count(*)::int AS n FROM agents WHERE org_id = $1', [orgId]);
    expect(count[0]!.n).toBe(7);
    const events = await h.systemDb.query<{ n: number }>({ orgId }, `SELECT count(*)::int AS n FROM events WHERE org_id = $1 AND type = 'AgentCreated'`, [orgId]);
    expect(events[0]!.n).toBe(7);
    // The exported seeding function is the same idempotent operation.
    const created = await h.systemDb.tx({ orgId }, (tx) => ensureOrgAgents(tx, orgId, { actor: 'system', correlationId: randomUUID() }));
    expect(created).toBe(0);
  });

  it('records the reaction metadata (actor, causation, correlation)', async () => {
    const orgId = randomUUID();
    await h.deliverIdentity(orgId, { type: 'OrganizationCreated', data: { organizationId: orgId, name: 'B', slug: 'b', ownerId: randomUUID() } });
    const [row] = await h.systemDb.query<{ metadata: { actor: string; causationId: string; correlationId: string } }>(
      { orgId },
      'SELECT metadata FROM events WHERE org_id = $1 LIMIT 1',
      [orgId],
    );
    expect(row!.metadata.actor).toBe('service:agents');
    expect(row!.metadata.causationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ignores other identity events', async () => {
    const orgId = randomUUID();
    await h.deliverIdentity(orgId, { type: 'UserRegistered', data: { userId: randomUUID(), email: 'a@b.c', name: 'A' } });
    const count = await h.systemDb.query<{ n: number }>({ orgId }, 'SELECT count(*)::int AS n FROM agents WHERE org_id = $1', [orgId]);
    expect(count[0]!.n).toBe(0);
  });
});

describe('tasks events', () => {
  it('TaskCreated and TaskUpdated keep known_tasks', async () => {
    const { orgId } = await h.createOrg();
    const taskId = await h.createTask(orgId, 'Old title');
    await h.deliverTasks(orgId, { type: 'TaskUpdated', data: { taskId, changes: { title: 'New title', priority: 'HIGH' } } });
    const [t] = await h.systemDb.query<{ title: string; priority: string; description: string | null }>(
      { orgId },
      'SELECT title, priority, description FROM known_tasks WHERE task_id = $1',
      [taskId],
    );
    expect(t).toEqual({ title: 'New title', priority: 'HIGH', description: null });
  });

  it('a task assigned to an agent queues one run, not twice for the same active assignment', async () => {
    const { orgId, agents } = await h.createOrg();
    const taskId = await h.createTask(orgId, 'Triage me');
    const assign = (id: string | null) =>
      h.deliverTasks(orgId, {
        type: 'TaskAssigned',
        data: { taskId, assignee: id ? { id, kind: 'Agent' } : null, previous: null },
      });
    await assign(agents.TRIAGE!);
    await assign(agents.TRIAGE!);
    let runs = await h.runs(orgId, taskId);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'QUEUED', attempt: 1, agent_id: agents.TRIAGE });
    // Another agent is another assignment.
    await assign(agents.RESEARCH!);
    runs = await h.runs(orgId, taskId);
    expect(runs.map((r) => r.agent_id)).toEqual([agents.TRIAGE, agents.RESEARCH]);
    // Assigning to a person, to nobody or to an agent of another organization queues nothing.
    await h.deliverTasks(orgId, { type: 'TaskAssigned', data: { taskId, assignee: { id: randomUUID(), kind: 'User' }, previous: null } });
    await assign(null);
    const other = await h.createOrg();
    await assign(other.agents.TRIAGE!);
    expect(await h.runs(orgId, taskId)).toHaveLength(2);
  });

  it('a task created already assigned to an agent queues a run', async () => {
    const { orgId, agents } = await h.createOrg();
    const taskId = await h.createTask(orgId, 'Born assigned', { id: agents.SUPPORT!, kind: 'Agent' });
    expect(await h.runs(orgId, taskId)).toHaveLength(1);
  });

  it('an approval decision for a run that is not ours or not waiting changes nothing', async () => {
    const { orgId, agents } = await h.createOrg();
    const taskId = await h.createTask(orgId, 'x', { id: agents.SUPPORT!, kind: 'Agent' });
    const [run] = await h.runs(orgId, taskId);
    const decide = (runId: string) =>
      h.deliverTasks(orgId, {
        type: 'ApprovalDecided',
        data: { approvalId: randomUUID(), taskId, runId, agentId: agents.SUPPORT!, approved: true, reason: null, decidedBy: randomUUID() },
      });
    await decide(randomUUID());
    await decide(run!.id); // QUEUED, not WAITING_FOR_APPROVAL
    expect(await h.eventTypes(run!.id)).toEqual(['AgentRunQueued']);
  });
});
