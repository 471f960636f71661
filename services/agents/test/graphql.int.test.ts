import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execSubgraph, userPrincipal } from '@cos/testing';
import { workQueuedRuns } from './drive';
import { setupAgents, type AgentsHarness } from './harness';

let h: AgentsHarness;
let orgA: { orgId: string; agents: Record<string, string> };
let orgB: { orgId: string; agents: Record<string, string> };
let taskA: string;
let taskB: string;
const ownerA = () => userPrincipal(randomUUID(), orgA.orgId, 'OWNER');
const viewerA = () => userPrincipal(randomUUID(), orgA.orgId, 'VIEWER');
const ownerB = () => userPrincipal(randomUUID(), orgB.orgId, 'OWNER');

beforeAll(async () => {
  h = await setupAgents();
  orgA = await h.createOrg();
  orgB = await h.createOrg();
  taskA = await h.createTask(orgA.orgId, 'Task in A');
  taskB = await h.createTask(orgB.orgId, 'Task in B');
});
afterAll(async () => {
  await h?.close();
});

const START = /* GraphQL */ `mutation($taskId: ID!, $agentId: ID!) { startAgentRun(taskId: $taskId, agentId: $agentId) {
  id status attempt agent { id kind name } task { id } checkpoints { seq } createdAt error } }`;
const CANCEL = /* GraphQL */ `mutation($id: ID!) { cancelAgentRun(id: $id) { id status error } }`;

describe('agents subgraph', () => {
  it('lists the seven agents of the caller organization only', async () => {
    const res = await execSubgraph<{ agents: { id: string; kind: string; name: string }[] }>(h.subgraph, viewerA(), '{ agents { id kind name } }');
    expect(res.errors).toBeUndefined();
    expect(res.data!.agents).toHaveLength(7);
    expect(res.data!.agents.map((a) => a.id).sort()).toEqual(Object.values(orgA.agents).sort());
    expect(res.data!.agents.find((a) => a.kind === 'TRIAGE')!.name).toBe('Triage');
  });

  it('startAgentRun queues a run; cancelAgentRun cancels it; a terminal run cannot be cancelled', async () => {
    const res = await execSubgraph<{ startAgentRun: { id: string; status: string; attempt: number; agent: { kind: string }; task: { id: string } } }>(
      h.subgraph,
      ownerA(),
      START,
      { taskId: taskA, agentId: orgA.agents.TRIAGE },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.startAgentRun).toMatchObject({ status: 'QUEUED', attempt: 1, agent: { kind: 'TRIAGE' }, task: { id: taskA } });
    const runId = res.data!.startAgentRun.id;
    const cancelled = await execSubgraph<{ cancelAgentRun: { status: string; error: string } }>(h.subgraph, ownerA(), CANCEL, { id: runId });
    expect(cancelled.data!.cancelAgentRun.status).toBe('CANCELLED');
    const again = await execSubgraph(h.subgraph, ownerA(), CANCEL, { id: runId });
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT' });
    expect(typeof again.errors![0]!.extensions!.currentVersion).toBe('number');
  });

  it('refuses bad input with clear codes and writes nothing', async () => {
    const before = await h.systemDb.query<{ n: number }>({ orgId: null }, 'SELECT count(*)::int AS n FROM events');
    const unknownTask = await execSubgraph(h.subgraph, ownerA(), START, { taskId: randomUUID(), agentId: orgA.agents.TRIAGE });
    expect(unknownTask.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'taskId' });
    const otherOrgsTask = await execSubgraph(h.subgraph, ownerA(), START, { taskId: taskB, agentId: orgA.agents.TRIAGE });
    expect(otherOrgsTask.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'taskId' });
    const otherOrgsAgent = await execSubgraph(h.subgraph, ownerA(), START, { taskId: taskA, agentId: orgB.agents.TRIAGE });
    expect(otherOrgsAgent.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'agentId' });
    const malformed = await execSubgraph(h.subgraph, ownerA(), START, { taskId: 'nope', agentId: orgA.agents.TRIAGE });
    expect(malformed.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'taskId' });
    const viewer = await execSubgraph(h.subgraph, viewerA(), START, { taskId: taskA, agentId: orgA.agents.TRIAGE });
    expect(viewer.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const anonymous = await execSubgraph(h.subgraph, { kind: 'anonymous' }, '{ agents { id } }');
    expect(anonymous.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    const missing = await execSubgraph(h.subgraph, ownerA(), CANCEL, { id: randomUUID() });
    expect(missing.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const after = await h.systemDb.query<{ n: number }>({ orgId: null }, 'SELECT count(*)::int AS n FROM events');
    expect(after[0]!.n).toBe(before[0]!.n);
  });

  it('org isolation: B can neither read nor cancel A runs, agents or tasks', async () => {
    const started = await execSubgraph<{ startAgentRun: { id: string } }>(h.subgraph, ownerA(), START, {
      taskId: taskA,
      agentId: orgA.agents.RESEARCH,
    });
    const runId = started.data!.startAgentRun.id;
    const read = await execSubgraph<{ agentRun: unknown; agent: unknown }>(h.subgraph, ownerB(), `query($r: ID!, $a: ID!) { agentRun(id: $r) { id } agent(id: $a) { id } }`, {
      r: runId,
      a: orgA.agents.RESEARCH,
    });
    expect(read.data).toEqual({ agentRun: null, agent: null });
    const cancel = await execSubgraph(h.subgraph, ownerB(), CANCEL, { id: runId });
    expect(cancel.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const entities = await execSubgraph<{ _entities: Array<{ agentRuns?: unknown[]; id?: string } | null> }>(
      h.subgraph,
      ownerB(),
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Task { agentRuns { id } } ... on AgentRun { id } } }`,
      { reps: [{ __typename: 'Task', id: taskA }, { __typename: 'AgentRun', id: runId }] },
    );
    expect(entities.data!._entities).toEqual([{ agentRuns: [] }, null]);
    // And the runtime role really is fenced by RLS, not only by the resolvers' where clauses.
    const rows = await h.db.query({ orgId: orgB.orgId }, 'SELECT id FROM agent_runs WHERE id = $1', [runId]);
    expect(rows).toEqual([]);
    await expect(
      h.db.query({ orgId: orgB.orgId }, `INSERT INTO known_tasks (task_id, org_id, title) VALUES ($1, $2, 'x')`, [randomUUID(), orgA.orgId]),
    ).rejects.toThrow();
    expect((await execSubgraph(h.subgraph, ownerA(), CANCEL, { id: runId })).errors).toBeUndefined();
  });

  it('resolves runs, checkpoints and Task.agentRuns with one SQL statement per entity type (DataLoader batching)', async () => {
    // Several tasks, each with a finished TRIAGE run (two checkpoints each).
    const tasks: string[] = [];
    for (let i = 0; i < 4; i++) {
      const taskId = await h.createTask(orgA.orgId, `Batch ${i} bug`, { id: orgA.agents.TRIAGE!, kind: 'Agent' });
      tasks.push(taskId);
    }
    await workQueuedRuns(h.systemDb, orgA.orgId);

    const statementsFor = async (query: string, variables: Record<string, unknown>) => {
      const statements: string[] = [];
      const off = h.db.onQuery((e) => statements.push(/\/\* (\w+) \*\//.exec(e.sql)?.[1] ?? e.sql));
      const res = await execSubgraph<Record<string, unknown>>(h.subgraph, ownerA(), query, variables);
      off();
      expect(res.errors).toBeUndefined();
      return { statements: statements.sort(), data: res.data! };
    };

    // The gateway's entity fetch for Task.agentRuns, as many tasks as the page has.
    const entities = /* GraphQL */ `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Task { id
      agentRuns { id status lastHeartbeatAt agent { id kind } checkpoints { seq state createdAt } } } } }`;
    const reps = (n: number) => ({ reps: tasks.slice(0, n).map((id) => ({ __typename: 'Task', id })) });
    const one = await statementsFor(entities, reps(1));
    const four = await statementsFor(entities, reps(4));
    expect(four.statements).toEqual(['getAgentsByIds', 'getCheckpointsByRunIds', 'getRunsByTaskIds']);
    expect(one.statements).toEqual(four.statements);
    const list = four.data._entities as Array<{ agentRuns: Array<{ status: string; checkpoints: unknown[]; agent: { kind: string } }> }>;
    expect(list).toHaveLength(4);
    for (const t of list) {
      expect(t.agentRuns).toHaveLength(1);
      expect(t.agentRuns[0]).toMatchObject({ status: 'SUCCEEDED', agent: { kind: 'TRIAGE' } });
      expect(t.agentRuns[0]!.checkpoints).toHaveLength(2);
    }

    // agents -> runs -> checkpoints, and runs by reference: one statement per level however many rows.
    const tree = await statementsFor(`{ agents { id runs(first: 5) { id agent { name } checkpoints { seq } } } }`, {});
    expect(tree.statements).toEqual(['getCheckpointsByRunIds', 'getRecentRunsByAgentIds', 'listAgents']);
    const runIds = ((tree.data.agents as Array<{ runs: Array<{ id: string }> }>).flatMap((a) => a.runs.map((r) => r.id)));
    expect(runIds.length).toBeGreaterThanOrEqual(4);
    const byRef = await statementsFor(
      `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on AgentRun { id agent { id } checkpoints { seq } } } }`,
      { reps: runIds.map((id) => ({ __typename: 'AgentRun', id })) },
    );
    expect(byRef.statements).toEqual(['getAgentsByIds', 'getCheckpointsByRunIds', 'getRunsByIds']);
  });

  it('Agent.runs validates first', async () => {
    const res = await execSubgraph(h.subgraph, ownerA(), `query($id: ID!) { agent(id: $id) { runs(first: 1000) { id } } }`, { id: orgA.agents.TRIAGE });
    expect(res.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});
