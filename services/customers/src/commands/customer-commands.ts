/**
 * Command handlers: one tenant transaction each — load the stream, decide, append (the projector updates the read
 * models in the same transaction). No dual writes.
 */
import { randomUUID } from 'node:crypto';
import { actorOf, type AuthenticatedPrincipal } from '@cos/auth';
import type { EventMetadata } from '@cos/event-store';
import type { Tx } from '@cos/db';
import type { CustomerEvent } from '@cos/events';
import type { Logger } from '@cos/logger';
import { ErrorCode } from '@cos/errors';
import { GraphQLError } from 'graphql';
import type { Context } from '../context';
import { customerAggregate, decide, initialCustomerState, STREAM_TYPE, streamIdOf } from '../domain/customer';
import type { HealthScoreView } from '../domain/health';
import { parseCreateCustomerInput, parseSignalInput, type SignalInput } from '../domain/validation';
import { eventStore } from '../projector';
import { customersPii } from '../store/pii';
import { getCustomersByIds, lockStream, type CustomerRow } from '../store/customer-store';

/**
 * Attempts for a command that still lost the optimistic version check (signals commute, so a retry is safe). The
 * stream lock makes this rare: only a writer that skips the lock (none today) can race.
 */
const MAX_ATTEMPTS = 3;

function metadataOf(ctx: Context, principal: AuthenticatedPrincipal): EventMetadata {
  return { actor: actorOf(principal), correlationId: ctx.correlationId, causationId: null, traceparent: ctx.traceparent };
}

const scopeOf = (p: AuthenticatedPrincipal) => ({ orgId: p.orgId, userId: p.kind === 'user' ? p.userId : null });

export async function createCustomer(ctx: Context, principal: AuthenticatedPrincipal, rawInput: unknown): Promise<CustomerRow> {
  const input = parseCreateCustomerInput(rawInput);
  const customerId = randomUUID();
  return ctx.db.tx(scopeOf(principal), async (tx) => {
    const events = decide(
      {
        type: 'CreateCustomer',
        customerId,
        name: input.name,
        domain: input.domain,
        plan: input.plan,
        mrr: input.mrr,
        ownerId: input.ownerId,
        contacts: input.contacts.map((c) => ({ id: randomUUID(), name: c.name, email: c.email })),
      },
      initialCustomerState,
    );
    await eventStore.append(tx, {
      orgId: principal.orgId,
      streamId: streamIdOf(customerId),
      streamType: STREAM_TYPE,
      expectedVersion: 0,
      events,
      metadata: metadataOf(ctx, principal),
    });
    const [row] = await getCustomersByIds(tx, [customerId]);
    return row!;
  });
}

export async function recordSignal(
  ctx: Context,
  principal: AuthenticatedPrincipal,
  customerId: string,
  rawInput: unknown,
): Promise<HealthScoreView> {
  const received = new Date();
  const input = parseSignalInput(rawInput, received);
  return withConflictRetry(ctx.log, customerId, () =>
    ctx.db.tx(scopeOf(principal), async (tx) => {
      const appended = await appendSignal(tx, principal.orgId, customerId, { ...input, signalId: randomUUID() }, metadataOf(ctx, principal), null);
      return appended!.health;
    }),
  );
}

/** Where a signal came from when a connection delivered it (SignalRecorded.source). */
export type SignalSource = NonNullable<Extract<CustomerEvent, { type: 'SignalRecorded' }>['data']['source']>;

/**
 * Appends one signal to the customer's stream in the caller's tenant transaction (stream lock, load, decide, append;
 * the projector recomputes the read models in the same transaction) and returns the new health. The one path every
 * signal takes: recordSignal, webhooks and connector pulls.
 */
export async function appendSignal(
  tx: Tx,
  orgId: string,
  customerId: string,
  input: SignalInput & { signalId: string },
  metadata: EventMetadata,
  source: SignalSource | null,
  guard?: () => Promise<boolean>,
): Promise<{ health: HealthScoreView } | null> {
  const streamId = streamIdOf(customerId);
  await lockStream(tx, streamId);
  const { state, version } = await eventStore.load(tx, streamId, customerAggregate);
  const events = decide({ type: 'RecordSignal', customerId, ...input, source, now: new Date() }, state);
  if (guard && !(await guard())) return null;
  await eventStore.append(tx, { orgId, streamId, streamType: STREAM_TYPE, expectedVersion: version, events, metadata });
  const changed = events.find((e) => e.type === 'HealthScoreChanged');
  if (changed?.type !== 'HealthScoreChanged') throw new Error('decide produced no HealthScoreChanged');
  const { score, grade, factors, computedAt } = changed.data;
  return { health: { score, grade, factors, computedAt } };
}

/** Runs a command again when it lost the optimistic version check (signals commute, so a retry is safe). */
export async function withConflictRetry<T>(log: Logger, customerId: string, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const isConflict = err instanceof GraphQLError && err.extensions.code === ErrorCode.CONFLICT;
      if (!isConflict || attempt >= MAX_ATTEMPTS) throw err;
      log.debug({ customerId, attempt }, 'a signal lost a concurrency race; retrying');
    }
  }
}

/**
 * GDPR erasure of one contact (OWNER, scope privacy:erase; the resolver checks it): in the caller's tenant
 * transaction, the contact's data key is destroyed (crypto-shredding: its name and email in every event read as
 * placeholders from now on) and CustomerContactErased is appended (the projector deletes the contact row and its
 * search document; identity records the audit entry). A customer or contact of another organization is NOT_FOUND.
 */
export async function eraseCustomerContact(
  ctx: Context,
  principal: AuthenticatedPrincipal,
  customerId: string,
  contactId: string,
): Promise<CustomerRow> {
  return ctx.db.tx(scopeOf(principal), async (tx) => {
    const streamId = streamIdOf(customerId);
    await lockStream(tx, streamId);
    const { state, version } = await eventStore.load(tx, streamId, customerAggregate);
    const events = decide({ type: 'EraseContact', customerId, contactId }, state);
    await customersPii.erase(tx, [contactId]);
    // Events stored before encryption kept their plaintext: scrub this contact's now (tombstones; RLS: this org's).
    await customersPii.sealStoredEvents(tx, { subjects: [contactId] });
    await eventStore.append(tx, {
      orgId: principal.orgId,
      streamId,
      streamType: STREAM_TYPE,
      expectedVersion: version,
      events,
      metadata: metadataOf(ctx, principal),
    });
    const [row] = await getCustomersByIds(tx, [customerId]);
    return row!;
  });
}
