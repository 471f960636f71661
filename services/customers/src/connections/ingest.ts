/**
 * One provider event (a webhook delivery or a pulled item) into the customers command path, in the caller's tenant
 * transaction: resolve the customer, claim the provider event id (a redelivery writes nothing new), append the signal
 * through appendSignal (health recomputed, churn flags raised, as for recordSignal) and record the delivery.
 */
import { randomUUID } from 'node:crypto';
import type { Tx } from '@cos/db';
import type { ConnectionProvider } from '@cos/events';
import { GraphQLError } from 'graphql';
import { appendSignal } from '../commands/customer-commands';
import { SIGNAL_VALUE_RULES } from '../domain/validation';
import { claimExternalEvent, customerExists, findCustomerByDomain, recordDelivery, type DeliveryOutcome } from '../store/connection-store';
import { domainOf, type Mapped } from './providers';

export interface IngestResult {
  outcome: Exclude<DeliveryOutcome, 'REJECTED'>;
  reason: string | null;
  externalId: string;
  customerId: string | null;
  signalId: string | null;
}

export interface IngestTarget {
  orgId: string;
  connectionId: string;
  provider: ConnectionProvider;
  via: 'WEBHOOK' | 'SYNC';
}

/** The actor of events a connection causes. */
export const connectionActor = (connectionId: string) => `connection:${connectionId}`;

export async function ingestMapped(tx: Tx, target: IngestTarget, mapped: Extract<Mapped, { ok: true }>, correlationId: string): Promise<IngestResult> {
  const { orgId, connectionId } = target;
  const done = async (outcome: IngestResult['outcome'], reason: string | null, customerId: string | null, signalId: string | null): Promise<IngestResult> => {
    // A pull sees an item again whenever the provider reports it updated: only webhook redeliveries are audited.
    if (outcome === 'DUPLICATE' && target.via === 'SYNC') return { outcome, reason, externalId: mapped.externalId, customerId, signalId };
    await recordDelivery(tx, {
      id: randomUUID(),
      orgId,
      connectionId,
      via: target.via,
      outcome,
      reason,
      externalId: mapped.externalId,
      customerId,
      signalId,
      httpStatus: target.via === 'WEBHOOK' ? 200 : null,
    });
    return { outcome, reason, externalId: mapped.externalId, customerId, signalId };
  };

  let customerId: string | null = null;
  if (mapped.customer.customerId && (await customerExists(tx, mapped.customer.customerId))) customerId = mapped.customer.customerId;
  if (!customerId) {
    const domain = domainOf(mapped.customer.email);
    if (domain) customerId = await findCustomerByDomain(tx, domain);
  }

  const signal = mapped.signal;
  const rule = signal ? SIGNAL_VALUE_RULES[signal.kind] : null;
  const ignore = !signal
    ? (mapped.ignoreReason ?? 'no_signal_for_event')
    : !customerId
      ? 'customer_not_found'
      : !Number.isFinite(signal.value) || signal.value < rule!.min || (rule!.max !== undefined && signal.value > rule!.max)
        ? 'value_out_of_range'
        : Date.parse(mapped.occurredAt) > Date.now() + 5 * 60_000
          ? 'occurred_in_the_future'
          : null;
  if (ignore || !signal || !customerId) {
    // Claimed all the same: the redelivery of an ignored event is a duplicate, not a second audit entry of the same kind.
    if (!(await claimExternalEvent(tx, orgId, connectionId, mapped.externalId, null))) return done('DUPLICATE', null, customerId, null);
    return done('IGNORED', ignore, customerId, null);
  }

  const signalId = randomUUID();
  // Stream lock first, then the claim (appendSignal locks; the claim needs the decision): two concurrent deliveries
  // of one event serialize on the stream lock, and the second finds the id claimed.
  let appended: Awaited<ReturnType<typeof appendSignal>>;
  try {
    appended = await appendSignal(
      tx,
      orgId,
      customerId,
      { kind: signal.kind, value: signal.value, occurredAt: mapped.occurredAt, note: signal.note.slice(0, 500), signalId },
      { actor: connectionActor(connectionId), correlationId, causationId: null, traceparent: null },
      { connectionId, provider: target.provider, externalId: mapped.externalId, via: target.via },
      async () => claimExternalEvent(tx, orgId, connectionId, mapped.externalId, signalId),
    );
  } catch (err) {
    // decide refuses a lone signal older than its health window: nothing to record for it.
    if (err instanceof GraphQLError && err.extensions.code === 'BAD_USER_INPUT') {
      if (!(await claimExternalEvent(tx, orgId, connectionId, mapped.externalId, null))) return done('DUPLICATE', null, customerId, null);
      return done('IGNORED', 'outside_health_window', customerId, null);
    }
    throw err;
  }
  if (!appended) return done('DUPLICATE', null, customerId, null);
  return done('ACCEPTED', null, customerId, signalId);
}
