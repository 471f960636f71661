import type { StoredEvent } from '@cos/event-store';

/** Header names the bus writes on every event message (and reads back on dead letters). */
export const BusHeaders = {
  EventId: 'Cos-Event-Id',
  EventType: 'Cos-Event-Type',
  OrgId: 'Cos-Org-Id',
  CorrelationId: 'Cos-Correlation-Id',
  Traceparent: 'traceparent',
  Tracestate: 'tracestate',
  /** Dead letters only: where the event was originally published, and why it died. */
  DlqSubject: 'Cos-Dlq-Subject',
  DlqConsumer: 'Cos-Dlq-Consumer',
  DlqError: 'Cos-Dlq-Error',
  DlqDeliveryCount: 'Cos-Dlq-Delivery-Count',
  DlqStreamSeq: 'Cos-Dlq-Stream-Seq',
} as const;

// A subject token may not be empty or contain separators/wildcards/whitespace.
const TOKEN = /^[^.*>\s]+$/;

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new Error(`invalid NATS subject token for ${kind}: ${JSON.stringify(value)}`);
  return value;
}

/** `${prefix}.${orgId}.${service}.${streamType}.${type}`: the tenant leads so routing can be subject-based. */
export function subjectFor(prefix: string, service: string, e: Pick<StoredEvent, 'orgId' | 'streamType' | 'type'>): string {
  return [token('prefix', prefix), token('orgId', e.orgId), token('service', service), token('streamType', e.streamType), token('type', e.type)].join('.');
}

/** Durable consumer name: `${service}-${name}` (also the inbox `consumer` column). */
export function durableName(service: string, name: string): string {
  const d = `${service}-${name}`;
  if (!/^[A-Za-z0-9_-]+$/.test(d)) throw new Error(`invalid consumer name ${JSON.stringify(d)}: use letters, digits, '-' and '_'`);
  return d;
}

/** Where a consumer's dead letters go: `${prefix}dlq.${service}.${name}`. */
export function dlqSubjectFor(prefix: string, service: string, name: string): string {
  return `${token('prefix', prefix)}dlq.${token('service', service)}.${token('name', name)}`;
}

export const streamNames = (prefix: string) => ({
  events: `${prefix.toUpperCase()}_EVENTS`,
  dlq: `${prefix.toUpperCase()}_DLQ`,
});

/** NATS header values are single-line; keep error texts short and printable. */
export function headerValue(s: string, max = 512): string {
  const flat = s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** Delay before the next delivery after `deliveryCount` failed attempts (1-based); the last value repeats. */
export function backoffFor(backoffMs: readonly number[], deliveryCount: number): number {
  if (backoffMs.length === 0) return 0;
  return backoffMs[Math.max(0, deliveryCount - 1)] ?? backoffMs[backoffMs.length - 1]!;
}
