import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventStore, READ_MODEL_TABLES } from '../src/projector';
import { workQueuedRuns } from './drive';
import { setupAgents, type AgentsHarness } from './harness';

let h: AgentsHarness;
beforeAll(async () => {
  h = await setupAgents();
});
afterAll(async () => {
  await h?.close();
});

const snapshot = () =>
  h.systemDb.tx({ orgId: null }, async (tx) => ({
    agents: await tx.query('SELECT id, org_id, name, kind, created_at FROM agents ORDER BY id'),
    runs: await tx.query(
      `SELECT id, org_id, agent_id, task_id, status, attempt, max_attempts, error, dead_lettered, worker_id, lease_no, lease_token_hash,
         not_before, result, model_calls, tool_calls, prompt_tokens, completion_tokens, cost_usd, created_at FROM agent_runs ORDER BY id`,
    ),
    checkpoints: await tx.query('SELECT run_id, seq, state, step, created_at FROM checkpoints ORDER BY run_id, seq'),
  }));

it('the read models are rebuilt identically from the events', async () => {
  const { orgId, agents } = await h.createOrg();
  await h.createTask(orgId, 'Outage', { id: agents.TRIAGE!, kind: 'Agent' });
  const waiting = await h.createTask(orgId, 'Reply please', { id: agents.SUPPORT!, kind: 'Agent' });
  expect(await workQueuedRuns(h.systemDb, orgId)).toEqual(['succeeded', 'waiting']);
  const [run] = await h.runs(orgId, waiting);
  await h.deliverTasks(orgId, {
    type: 'ApprovalDecided',
    data: { approvalId: randomUUID(), taskId: waiting, runId: run!.id, agentId: agents.SUPPORT!, approved: false, reason: 'no', decidedBy: randomUUID() },
  });
  const before = await snapshot();
  expect(before.runs).toHaveLength(2);
  const replayed = await h.systemDb.tx({ orgId: null }, async (tx) => {
    // The system role may DELETE (not TRUNCATE); the list is in foreign-key order.
    for (const table of READ_MODEL_TABLES) await tx.query(`DELETE FROM ${table}`);
    return eventStore.replayAll(tx);
  });
  expect(replayed).toBeGreaterThan(7);
  expect(await snapshot()).toEqual(before);
});
