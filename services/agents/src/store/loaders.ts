import DataLoader from 'dataloader';
import type { Db, TenantScope, Tx } from '@cos/db';
import { getAgentsByIds, type AgentRow } from './agent-store';
import { getCheckpointsByRunIds, getRecentRunsByAgentIds, getRunsByIds, getRunsByTaskIds, type CheckpointRow, type RunRow } from './run-store';
import { type BatchObserver, groupBy } from '@cos/service-kit';



/**
 * Per-request DataLoaders: one SQL statement per entity type (and per list-of-children) per request, each in a
 * tenant transaction so row-level security applies.
 */
export function createLoaders(db: Db, scope: () => TenantScope, onBatch: BatchObserver = () => {}) {
  const run = <T>(fn: (tx: Tx) => Promise<T>) => db.single(scope(), fn);

  return {
    agentById: new DataLoader<string, AgentRow | null>(async (ids) => {
      onBatch('agentById', ids.length);
      const byId = new Map((await run((tx) => getAgentsByIds(tx, ids))).map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    runById: new DataLoader<string, RunRow | null>(async (ids) => {
      onBatch('runById', ids.length);
      const byId = new Map((await run((tx) => getRunsByIds(tx, ids))).map((r) => [r.id, r]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** Key: agent id and page size; one statement per distinct page size (usually one). */
    runsByAgent: new DataLoader<{ agentId: string; first: number }, RunRow[], string>(
      async (keys) => {
        onBatch('runsByAgent', keys.length);
        const out = new Map<string, RunRow[]>();
        for (const [first, group] of groupBy([...keys], (k) => String(k.first))) {
          const rows = await run((tx) => getRecentRunsByAgentIds(tx, group.map((k) => k.agentId), Number(first)));
          const byAgent = groupBy(rows, (r) => r.agent_id);
          for (const k of group) out.set(`${k.agentId}|${first}`, byAgent.get(k.agentId) ?? []);
        }
        return keys.map((k) => out.get(`${k.agentId}|${k.first}`) ?? []);
      },
      { cacheKeyFn: (k) => `${k.agentId}|${k.first}` },
    ),
    runsByTask: new DataLoader<string, RunRow[]>(async (taskIds) => {
      onBatch('runsByTask', taskIds.length);
      const byTask = groupBy(await run((tx) => getRunsByTaskIds(tx, taskIds)), (r) => r.task_id);
      return taskIds.map((id) => byTask.get(id) ?? []);
    }),
    checkpointsByRun: new DataLoader<string, CheckpointRow[]>(async (runIds) => {
      onBatch('checkpointsByRun', runIds.length);
      const byRun = groupBy(await run((tx) => getCheckpointsByRunIds(tx, runIds)), (r) => r.run_id);
      return runIds.map((id) => byRun.get(id) ?? []);
    }),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
