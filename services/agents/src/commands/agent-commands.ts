import { randomUUID } from 'node:crypto';
import type { Tx } from '@cos/db';
import type { EventMetadata, StoredOf } from '@cos/event-store';
import type { AgentEvent, AgentKind } from '@cos/events';
import { eventStore } from '../projector';
import { agentKindsOfOrg } from '../store/agent-store';
import { decideMissingAgents, agentStreamId } from '../domain/agent';
import {
  decideRun,
  evolveRun,
  initialRunState,
  runStreamId,
  RUN_STREAM_TYPE,
  type RunCommand,
  type RunEvent,
  type RunState,
} from '../domain/agent-run';
import { streamTypeOf } from '@cos/events';

/**
 * Application services: load an aggregate, decide, append (the append projects in the same transaction). The
 * transaction decides who may see what (runtime role + tenant for requests, system role for reactors/runner).
 */

export async function loadRun(tx: Tx, runId: string): Promise<{ state: RunState; version: number }> {
  return eventStore.load(tx, runStreamId(runId), {
    initial: initialRunState,
    evolve: (s, e) => (e.type === 'AgentCreated' ? s : evolveRun(s, e as StoredOf<RunEvent>)),
  });
}

/**
 * Loads the run, decides `command` and appends; throws RunRejected when the command does not fit the state.
 * `command` may be a function of the loaded state; returning null writes nothing.
 */
export async function executeRunCommand(
  tx: Tx,
  args: {
    orgId: string;
    runId: string;
    command: RunCommand | ((state: RunState) => RunCommand | null);
    metadata: EventMetadata | ((state: RunState) => EventMetadata);
  },
): Promise<{ state: RunState; events: StoredOf<AgentEvent>[] }> {
  const { state, version } = await loadRun(tx, args.runId);
  const command = typeof args.command === 'function' ? args.command(state) : args.command;
  if (command === null) return { state, events: [] };
  const events = decideRun(command, state);
  const metadata = typeof args.metadata === 'function' ? args.metadata(state) : args.metadata;
  const stored = await eventStore.append(tx, {
    orgId: args.orgId,
    streamId: runStreamId(args.runId),
    streamType: RUN_STREAM_TYPE,
    expectedVersion: version,
    events,
    metadata,
  });
  let next = state;
  for (const e of stored) next = e.type === 'AgentCreated' ? next : evolveRun(next, e as StoredOf<RunEvent>);
  return { state: next, events: stored };
}

/** Queues a new run of `agent` on `taskId`; returns its id. */
export async function queueRun(
  tx: Tx,
  args: { orgId: string; agent: { id: string; kind: AgentKind }; taskId: string; maxAttempts: number; metadata: EventMetadata },
): Promise<string> {
  const runId = randomUUID();
  await executeRunCommand(tx, {
    orgId: args.orgId,
    runId,
    command: { type: 'Queue', runId, agentId: args.agent.id, agentKind: args.agent.kind, taskId: args.taskId, maxAttempts: args.maxAttempts },
    metadata: args.metadata,
  });
  return runId;
}

/**
 * Creates the seven specialists an organization lacks (AgentCreated each). Idempotent: a second call creates
 * nothing; a concurrent one loses on unique (org_id, kind) and its transaction retries. Used by the
 * OrganizationCreated reaction and by seed scripts/tests (pass a system-role transaction).
 */
export async function ensureOrgAgents(tx: Tx, orgId: string, metadata: EventMetadata): Promise<number> {
  const existing = await agentKindsOfOrg(tx, orgId);
  const created = decideMissingAgents(existing, randomUUID);
  for (const event of created) {
    await eventStore.append(tx, {
      orgId,
      streamId: agentStreamId(event.data.agentId),
      streamType: streamTypeOf('agents', 'Agent'),
      expectedVersion: 0,
      events: [event],
      metadata,
    });
  }
  return created.length;
}
