import type { Db } from '@cos/db';
import type { AgentKind, AgentStepRecord } from '@cos/events';
import { claimRun, checkpointRun, fencedCommand } from '../src/commands/worker-protocol';

const metadata = () => ({ actor: 'service:test-worker', correlationId: 'c', causationId: null, traceparent: null });
export const testStep = (name: string): AgentStepRecord => ({
  name,
  startedAt: null,
  finishedAt: null,
  model: 'rules',
  prompt: null,
  modelCalls: 0,
  promptTokens: 10,
  completionTokens: 5,
  costUsd: 0,
  toolCalls: [],
});

/**
 * Works every claimable run of `orgId` through the protocol's application services (what a worker does over the
 * graph): two checkpoints, then SUPPORT asks for approval (support.sendReply), the others complete. For tests that
 * need runs with history.
 */
export async function workQueuedRuns(db: Db, orgId: string, kinds: AgentKind[] = ['TRIAGE', 'RESEARCH', 'SUPPORT', 'SUCCESS', 'SALES', 'ENGINEERING', 'OPERATIONS']) {
  const outcomes: string[] = [];
  for (;;) {
    const c = await db.tx({ orgId }, (tx) => claimRun(tx, { orgId, kinds, leaseMs: 60_000, workerId: 'service:test-worker', metadata }));
    if (!c) return outcomes;
    const runId = c.run.id;
    const kind = (await db.query<{ kind: AgentKind }>({ orgId }, 'SELECT kind FROM agents WHERE id = $1', [c.run.agent_id]))[0]!.kind;
    await db.tx({ orgId }, async (tx) => {
      for (const seq of [1, 2]) {
        await checkpointRun(tx, { orgId, runId, token: c.token, seq, step: testStep(`step-${seq}`), data: { next: seq }, metadata });
      }
      await fencedCommand(tx, {
        orgId,
        runId,
        token: c.token,
        metadata,
        command: (tokenHash) =>
          kind === 'SUPPORT'
            ? { type: 'RequestApproval', tokenHash, action: 'support.sendReply', payload: { draft: 'Hello' } }
            : { type: 'Succeed', tokenHash, result: { ok: true } },
      });
    });
    outcomes.push(kind === 'SUPPORT' ? 'waiting' : 'succeeded');
  }
}
