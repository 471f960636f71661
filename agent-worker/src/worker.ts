import { hostname } from 'node:os';
import type { AgentKind, AgentStepRecord, AgentToolCallRecord } from '@cos/events';
import type { Logger } from '@cos/logger';
import { GraphError, type GraphClient } from './graph';
import { ModelError, recordingCaller, type ModelProvider } from './models/provider';
import { renderPrompt } from './prompts';
import { SPECIALISTS, type CallTool, type Specialist, type StepContext, type StepData, type TaskSnapshot } from './specialists';
import { graphTools } from './tools';
import type { WorkerMetrics } from './metrics';

/**
 * The worker loop (the worker protocol, through the gateway only):
 *   wait (agentRunQueued, or a poll) → claimAgentRun → heartbeats every third of the lease → for each remaining step:
 *   run it (model / tool / approval) → checkpointAgentRun (the state to resume from, and what the step did) →
 *   completeAgentRun, or requestApproval (the run pauses; the decision re-queues it and the next claim resumes after
 *   the last checkpoint), or failAgentRun (retryable: re-queued with backoff).
 * LEASE_LOST on any write means another worker (or a person) took over: this worker drops the run at once.
 */

/** What the worker stores in each checkpoint: where to resume and what the steps produced. */
export interface CheckpointState {
  /** Index of the next step to run. */
  next: number;
  data: StepData;
  /** Approval decisions already consumed by an approval step (a resumed run finds the new one). */
  approvals: string[];
}

interface Claim {
  token: string;
  attempt: number;
  leaseExpiresAt: string;
  run: { id: string; status: string; agent: { id: string; kind: AgentKind; name: string } };
  task: TaskSnapshot | null;
  resumeFrom: { seq: number; state: unknown } | null;
  approval: { approvalId: string; reason: string | null } | null;
}

export type RunOutcome = 'succeeded' | 'waiting' | 'requeued' | 'failed' | 'lost';

export interface WorkerOptions {
  graph: GraphClient;
  model: ModelProvider;
  kinds: AgentKind[];
  log: Logger;
  concurrency: number;
  leaseSeconds: number;
  pollMs: number;
  name?: string;
  metrics?: WorkerMetrics;
  specialists?: Partial<Record<AgentKind, Specialist>>;
}

class LeaseLost extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export function createWorker(opts: WorkerOptions) {
  const log = opts.log.child({ component: 'worker' });
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const specialists: Record<AgentKind, Specialist> = { ...SPECIALISTS, ...opts.specialists };
  const tools = graphTools(opts.graph);
  const held = new Map<string, { token: string; abort: AbortController }>();
  let stopping: AbortController | null = null;
  let loops: Promise<void>[] = [];
  let unsubscribe: (() => void) | null = null;
  // Wakes idle loops when agentRunQueued arrives.
  let wake: () => void = () => {};
  let wakeSignal = new AbortController();
  let wakes = 0;
  const wakeAll = () => {
    wakes++;
    wakeSignal.abort();
    wakeSignal = new AbortController();
  };

  async function write<T>(op: string, vars: Record<string, unknown>): Promise<T> {
    try {
      return await opts.graph.request<T>(op, vars);
    } catch (err) {
      if (err instanceof GraphError && err.code === 'LEASE_LOST') throw new LeaseLost(err.message);
      throw err;
    }
  }

  /** Calls a write once more when the first try got no answer (checkpoints carry seq, so a retry is idempotent). */
  async function writeWithRetry<T>(op: string, vars: Record<string, unknown>): Promise<T> {
    try {
      return await write<T>(op, vars);
    } catch (err) {
      if (!(err instanceof GraphError) || !err.transient) throw err;
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
      return write<T>(op, vars);
    }
  }

  async function claim(): Promise<Claim | null> {
    const d = await opts.graph.request<{ claimAgentRun: Claim | null }>('ClaimAgentRun', {
      kinds: opts.kinds,
      leaseSeconds: opts.leaseSeconds,
      worker: name,
    });
    return d.claimAgentRun;
  }

  /** Works one claimed run until it pauses, ends or is lost. */
  async function execute(c: Claim): Promise<RunOutcome> {
    const runId = c.run.id;
    const kind = c.run.agent.kind;
    const rlog = log.child({ runId, kind, attempt: c.attempt });
    const abort = new AbortController();
    held.set(runId, { token: c.token, abort });
    const beat = setInterval(() => {
      opts.graph.request('HeartbeatAgentRun', { id: runId, token: c.token }).then(
        () => opts.metrics?.heartbeats.inc({ outcome: 'ok' }),
        (err: unknown) => {
          opts.metrics?.heartbeats.inc({ outcome: 'error' });
          if (err instanceof GraphError && err.code === 'LEASE_LOST') {
            rlog.warn('lease lost (heartbeat refused): dropping the run');
            abort.abort();
          } else rlog.warn({ err: (err as Error).message }, 'heartbeat failed; retrying at the next beat');
        },
      );
    }, Math.max(1_000, Math.floor((opts.leaseSeconds * 1000) / 3)));
    try {
      const outcome = await steps(c, abort.signal, rlog);
      opts.metrics?.runs.inc({ agent_kind: kind, outcome });
      rlog.info({ outcome }, 'run handed back');
      return outcome;
    } catch (err) {
      if (err instanceof LeaseLost || abort.signal.aborted) {
        opts.metrics?.runs.inc({ agent_kind: kind, outcome: 'lost' });
        rlog.warn({ err: (err as Error).message }, 'lease lost: another worker or a person has the run now');
        return 'lost';
      }
      const retryable = !(err instanceof ModelError) || err.retryable;
      rlog.warn({ err: (err as Error).message, retryable }, 'step failed');
      try {
        const d = await writeWithRetry<{ failAgentRun: { status: string } }>('FailAgentRun', {
          id: runId,
          token: c.token,
          reason: (err as Error).message.slice(0, 2_000),
          retryable,
        });
        const outcome = d.failAgentRun.status === 'FAILED' ? 'failed' : 'requeued';
        opts.metrics?.runs.inc({ agent_kind: kind, outcome });
        return outcome;
      } catch (failErr) {
        // The lease will lapse and the supervisor re-queues the run.
        rlog.error({ err: (failErr as Error).message }, 'could not report the failure');
        return 'lost';
      }
    } finally {
      clearInterval(beat);
      held.delete(runId);
    }
  }

  async function steps(c: Claim, signal: AbortSignal, rlog: Logger): Promise<RunOutcome> {
    const specialist = specialists[c.run.agent.kind];
    if (!c.task) throw new Error('the task has not reached the agents service yet');
    const saved = (c.resumeFrom?.state ?? null) as CheckpointState | null;
    const state: CheckpointState = { next: saved?.next ?? 0, data: { ...(saved?.data ?? {}) }, approvals: [...(saved?.approvals ?? [])] };
    let seq = c.resumeFrom?.seq ?? 0;
    if (saved) rlog.info({ resumeAfter: seq, next: state.next }, 'resuming from the last checkpoint');

    const checkpoint = async (step: AgentStepRecord) => {
      seq++;
      await writeWithRetry('CheckpointAgentRun', { id: c.run.id, token: c.token, step, data: state, seq });
    };

    for (; state.next < specialist.steps.length; ) {
      if (signal.aborted) throw new LeaseLost('lease lost');
      const step = specialist.steps[state.next]!;
      const ctx: StepContext = { task: c.task, data: state.data, approval: c.approval };
      const startedAt = new Date().toISOString();
      if (step.type === 'approval') {
        const decided = c.approval && !state.approvals.includes(c.approval.approvalId) ? c.approval : null;
        if (!decided) {
          // Ask (again, if a crash came between the last checkpoint and the request): the run pauses here.
          await write('RequestApproval', { runId: c.run.id, token: c.token, action: step.action, payload: step.payload(ctx) });
          return 'waiting';
        }
        state.approvals.push(decided.approvalId);
        state.data = { ...state.data, approvalId: decided.approvalId };
        state.next++;
        await checkpoint(record(step.name, startedAt, null, null, [], zeroUsage));
        continue;
      }
      const calls: AgentToolCallRecord[] = [];
      if (step.type === 'tool') {
        const out = await step.run(ctx, recordingCaller(Object.values(tools), calls) as CallTool);
        state.data = { ...state.data, ...out };
        state.next++;
        await checkpoint(record(step.name, startedAt, null, null, calls, zeroUsage));
        continue;
      }
      const input = step.input(ctx);
      const started = performance.now();
      const result = await opts.model.complete({
        prompt: renderPrompt(step.prompt, input),
        input,
        tools: step.tools.map((t) => tools[t]),
        output: step.output,
        rules: step.rules as never,
        signal,
      });
      opts.metrics?.modelStep(c.run.agent.kind, result, (performance.now() - started) / 1000);
      state.data = { ...state.data, ...result.output };
      state.next++;
      await checkpoint(record(step.name, startedAt, result.model, step.prompt, result.toolCalls, result.usage));
    }
    if (signal.aborted) throw new LeaseLost('lease lost');
    await writeWithRetry('CompleteAgentRun', { id: c.run.id, token: c.token, result: specialist.result(state.data, c.task) });
    return 'succeeded';
  }

  async function loop(signal: AbortSignal) {
    while (!signal.aborted) {
      let claimed: Claim | null = null;
      const seen = wakes;
      try {
        claimed = await claim();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'claim failed');
      }
      if (claimed) {
        opts.metrics?.claims.inc({ agent_kind: claimed.run.agent.kind });
        await execute(claimed);
        continue;
      }
      // Nothing claimable: wait for agentRunQueued, a poll tick, or stop (a wake during the claim: claim again).
      if (wakes !== seen) continue;
      const woken = wakeSignal.signal;
      await sleep(opts.pollMs, AbortSignal.any([signal, woken]));
    }
  }

  return {
    name,
    claim,
    execute,
    /** Claims and works one run (tests drive the worker step by step); null when nothing was claimable. */
    async runOnce(): Promise<RunOutcome | null> {
      const c = await claim();
      return c ? execute(c) : null;
    },
    start() {
      if (stopping) return;
      stopping = new AbortController();
      wake = wakeAll;
      // A run re-queued after a failure is claimable only after its backoff: wake the loops then, not now.
      unsubscribe = opts.graph.subscribe('AgentRunQueued', { kinds: opts.kinds }, (data) => {
        const at = Date.parse((data as { agentRunQueued?: { claimableAt?: string | null } } | null)?.agentRunQueued?.claimableAt ?? '');
        const wait = Number.isFinite(at) ? at - Date.now() : 0;
        if (wait <= 0) wake();
        else setTimeout(() => wake(), Math.min(wait + 50, opts.pollMs)).unref();
      });
      loops = Array.from({ length: opts.concurrency }, () => loop(stopping!.signal));
      log.info({ kinds: opts.kinds, concurrency: opts.concurrency, model: opts.model.name, name }, 'agent worker started');
    },
    /**
     * Stops claiming and waits up to `drainMs` for the steps in flight; runs still held after that are handed back
     * (failAgentRun, retryable) so another worker resumes them from their last checkpoint without waiting for the lease.
     */
    async stop(drainMs: number) {
      if (!stopping) return;
      stopping.abort();
      unsubscribe?.();
      const all = Promise.allSettled(loops);
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), drainMs).unref());
      if ((await Promise.race([all, timer])) === 'timeout') {
        for (const [runId, h] of held) {
          h.abort.abort();
          await opts.graph
            .request('FailAgentRun', { id: runId, token: h.token, reason: 'the worker was stopped', retryable: true })
            .catch((err: unknown) => log.warn({ runId, err: (err as Error).message }, 'could not hand the run back; its lease will lapse'));
        }
      }
      loops = [];
      stopping = null;
      log.info('agent worker stopped');
    },
  };
}

export type Worker = ReturnType<typeof createWorker>;

const zeroUsage = { modelCalls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };

function record(
  name: string,
  startedAt: string,
  model: string | null,
  prompt: string | null,
  toolCalls: AgentToolCallRecord[],
  usage: { modelCalls: number; promptTokens: number; completionTokens: number; costUsd: number },
): AgentStepRecord {
  return { name, startedAt, finishedAt: new Date().toISOString(), model, prompt, ...usage, toolCalls };
}
