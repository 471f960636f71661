import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db, Tx } from '@cos/db';
import type { EventMetadata } from '@cos/event-store';
import type { AgentKind } from '@cos/events';
import type { Logger } from '@cos/logger';
import { RunRejected, type RunState } from '../domain/agent-run';
import { executeRunCommand } from '../domain/commands';
import { SERVICE_ACTOR } from '../events/subjects';
import { getKnownTask } from '../store/known-task-store';
import { extendLease, lockNextQueuedRun, lockRun } from '../store/run-store';
import { SPECIALISTS, type CheckpointState, type Specialist, type StepData, type TaskSnapshot } from './specialists';
import { createSupervisor } from './supervisor';

export interface RunnerOptions {
  /** SYSTEM role Db (BYPASSRLS): the runner works across tenants. */
  db: Db;
  log: Logger;
  /** Unique per process; recorded on AgentRunStarted and fences every later write. */
  workerId?: string;
  /** How long a claim stays valid without a heartbeat. */
  leaseMs: number;
  /** How often a running run renews its lease (well below leaseMs). */
  heartbeatMs: number;
  /** How long an idle worker waits before looking for QUEUED runs again. */
  pollMs: number;
  /** How often the supervisor re-queues runs whose lease lapsed. */
  supervisorMs: number;
  /** Runs executed in parallel by this process. */
  concurrency?: number;
  /** Longest wait in stop() for in-flight steps; a hung step is left to lapse and be re-queued. */
  stopTimeoutMs?: number;
  /** Replaces specialists (tests inject failing or counting ones). */
  specialists?: Partial<Record<AgentKind, Specialist>>;
}

/** A run this worker claimed (status RUNNING, lease held) and the state it resumes from. */
export interface ClaimedRun {
  runId: string;
  orgId: string;
  attempt: number;
  workerId: string;
  agentKind: AgentKind;
  task: TaskSnapshot | null;
  /** Steps already completed (the last checkpoint's seq). */
  lastSeq: number;
  data: StepData;
  approval: RunState['approval'];
  correlationId: string;
}

export type StepResult = 'continue' | 'waiting' | 'succeeded' | 'requeued' | 'failed' | 'lost';

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

/**
 * The agent runner: claims QUEUED runs (FOR UPDATE SKIP LOCKED), holds a lease renewed by heartbeats, executes the
 * specialist's steps with a checkpoint after each, pauses for approval, and resumes from the last checkpoint. Its
 * supervisor re-queues runs whose lease lapsed (another worker crashed) and dead-letters them after max attempts.
 */
export function createRunner(opts: RunnerOptions) {
  const workerId = opts.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = opts.log.child({ component: 'runner', workerId });
  const specialists: Record<AgentKind, Specialist> = { ...SPECIALISTS, ...opts.specialists };
  const supervisor = createSupervisor({ db: opts.db, log });
  const inFlight = new Set<Promise<unknown>>();
  let controller: AbortController | null = null;
  let loops: Promise<void>[] = [];

  const metadataFor = (c: { correlationId: string }): EventMetadata => ({
    actor: SERVICE_ACTOR,
    correlationId: c.correlationId,
    causationId: null,
    traceparent: null,
  });

  /** Claims the oldest QUEUED run: AgentRunStarted + a fresh lease, in one transaction. */
  async function claim(): Promise<ClaimedRun | null> {
    return opts.db.tx({ orgId: null }, async (tx) => {
      const next = await lockNextQueuedRun(tx);
      if (!next) return null;
      const { state } = await executeRunCommand(tx, {
        orgId: next.org_id,
        runId: next.id,
        command: { type: 'Start', workerId },
        metadata: (s) => metadataFor({ correlationId: s.correlationId ?? next.id }),
      });
      const correlationId = state.correlationId ?? next.id;
      await extendLease(tx, next.id, workerId, opts.leaseMs);
      const agent = await tx.one<{ kind: AgentKind }>(/* getAgentKind */ `SELECT kind FROM agents WHERE id = $1`, [state.agentId]);
      const task = await getKnownTask(tx, next.org_id, state.taskId);
      const checkpoint = state.lastCheckpointState as CheckpointState | null;
      return {
        runId: next.id,
        orgId: next.org_id,
        attempt: state.attempt,
        workerId,
        agentKind: agent!.kind,
        task: task ? { id: task.task_id, title: task.title, description: task.description, priority: task.priority } : null,
        lastSeq: state.lastSeq,
        data: checkpoint?.data ?? {},
        approval: state.approval,
        correlationId,
      };
    });
  }

  /** Runs `fn` with the run's row locked, as its owner; a lost lease (RunRejected) becomes 'lost'. */
  async function asOwner(c: ClaimedRun, fn: (tx: Tx) => Promise<StepResult>): Promise<StepResult> {
    try {
      return await opts.db.tx({ orgId: c.orgId }, async (tx) => {
        const row = await lockRun(tx, c.runId);
        if (!row || row.status !== 'RUNNING' || row.worker_id !== workerId || row.attempt !== c.attempt) return 'lost';
        return fn(tx);
      });
    } catch (err) {
      if (err instanceof RunRejected) return 'lost';
      throw err;
    }
  }

  /** Executes the next step of a claimed run and records its checkpoint (and approval request or success). */
  async function step(c: ClaimedRun): Promise<StepResult> {
    const specialist = specialists[c.agentKind];
    const current = specialist.steps[c.lastSeq];
    const command = { workerId, attempt: c.attempt };
    const md = metadataFor(c);
    if (!current) {
      return asOwner(c, async (tx) => {
        await executeRunCommand(tx, { orgId: c.orgId, runId: c.runId, command: { type: 'Succeed', ...command, result: specialist.result(c.data) }, metadata: md });
        return 'succeeded';
      });
    }
    let outcome;
    try {
      if (!c.task) throw new Error('the task is not known to the agents service yet');
      outcome = await current.run({ task: c.task, data: c.data, approval: c.approval });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ runId: c.runId, step: current.name, attempt: c.attempt, err: message }, 'agent step failed');
      return asOwner(c, async (tx) => {
        const { state } = await executeRunCommand(tx, {
          orgId: c.orgId,
          runId: c.runId,
          command: { type: 'FailAttempt', ...command, error: `${current.name}: ${message}` },
          metadata: md,
        });
        return state.status === 'FAILED' ? 'failed' : 'requeued';
      });
    }
    const data = { ...c.data, ...outcome.data };
    const seq = c.lastSeq + 1;
    const isLast = seq === specialist.steps.length;
    const result = await asOwner(c, async (tx) => {
      const state: CheckpointState = { step: current.name, data };
      await executeRunCommand(tx, { orgId: c.orgId, runId: c.runId, command: { type: 'Checkpoint', ...command, seq, state }, metadata: md });
      if (outcome.approval) {
        await executeRunCommand(tx, {
          orgId: c.orgId,
          runId: c.runId,
          command: { type: 'RequestApproval', ...command, action: outcome.approval.action, payload: outcome.approval.payload },
          metadata: md,
        });
        return 'waiting';
      }
      if (isLast) {
        await executeRunCommand(tx, { orgId: c.orgId, runId: c.runId, command: { type: 'Succeed', ...command, result: specialist.result(data) }, metadata: md });
        return 'succeeded';
      }
      await extendLease(tx, c.runId, workerId, opts.leaseMs);
      return 'continue';
    });
    if (result === 'continue' || result === 'waiting' || result === 'succeeded') {
      c.lastSeq = seq;
      c.data = data;
    }
    return result;
  }

  /** Runs a claimed run's remaining steps while a heartbeat renews its lease. */
  async function execute(c: ClaimedRun): Promise<StepResult> {
    let lost = false;
    const beat = setInterval(() => {
      opts.db
        .tx({ orgId: c.orgId }, (tx) => extendLease(tx, c.runId, workerId, opts.leaseMs))
        .then((ok) => {
          if (!ok) lost = true;
        })
        .catch((err: unknown) => log.warn({ err, runId: c.runId }, 'heartbeat failed'));
    }, opts.heartbeatMs);
    try {
      for (;;) {
        if (lost) return 'lost';
        const r = await step(c);
        if (r !== 'continue') {
          log.info({ runId: c.runId, attempt: c.attempt, outcome: r, seq: c.lastSeq }, 'agent run stopped');
          return r;
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /** Claims one QUEUED run and executes it; null when nothing was queued. */
  async function runOnce(): Promise<StepResult | null> {
    const c = await claim();
    if (!c) return null;
    const p = execute(c);
    inFlight.add(p);
    try {
      return await p;
    } finally {
      inFlight.delete(p);
    }
  }

  /** Runs until nothing is QUEUED (tests: drive the runner deterministically). */
  async function drain(): Promise<StepResult[]> {
    const out: StepResult[] = [];
    for (let r = await runOnce(); r !== null; r = await runOnce()) out.push(r);
    return out;
  }

  async function workLoop(signal: AbortSignal) {
    while (!signal.aborted) {
      let worked = false;
      try {
        worked = (await runOnce()) !== null;
      } catch (err) {
        log.error({ err }, 'runner iteration failed');
      }
      if (!worked) await sleep(opts.pollMs, signal);
    }
  }

  async function supervisorLoop(signal: AbortSignal) {
    while (!signal.aborted) {
      try {
        await supervisor.superviseOnce();
      } catch (err) {
        log.error({ err }, 'supervisor iteration failed');
      }
      await sleep(opts.supervisorMs, signal);
    }
  }

  return {
    workerId,
    claim,
    step,
    execute,
    runOnce,
    drain,
    superviseOnce: supervisor.superviseOnce,
    /** Starts `concurrency` work loops and the supervisor loop. */
    start() {
      if (controller) return;
      controller = new AbortController();
      const n = opts.concurrency ?? 1;
      loops = [...Array.from({ length: n }, () => workLoop(controller!.signal)), supervisorLoop(controller.signal)];
      log.info({ concurrency: n, leaseMs: opts.leaseMs }, 'runner started');
    },
    /** Stops claiming; runs in flight finish their steps (they are short) before this resolves. */
    async stop() {
      if (!controller) return;
      controller.abort();
      controller = null;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.stopTimeoutMs ?? 10_000);
      });
      await Promise.race([Promise.allSettled([...loops, ...inFlight]), timeout]);
      clearTimeout(timer);
      loops = [];
      log.info('runner stopped');
    },
  };
}

export type Runner = ReturnType<typeof createRunner>;
