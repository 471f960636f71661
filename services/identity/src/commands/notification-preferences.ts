/**
 * Notification preferences (README "Email"): which optional mails a person receives. Event-sourced on the User
 * stream (NotificationPreferencesChanged, an audit entry; the mailer consumes it). Two ways in: the signed-in person
 * (`updateNotificationPreferences`), and an unsubscribe link from a mail (the mailer forwards the verified request).
 */
import { NOTIFICATION_KINDS, streamTypeOf, type NotificationKind } from '@cos/events';
import type { Tx } from '@cos/db';
import type { EventMetadata } from '@cos/event-store';
import { badInput, forbidden } from '@cos/errors';
import type { Context } from '../context';
import { decideUser, userAggregate, userStream } from '../domain/user';
import { eventStore } from '../projector';
import { metadataFor, retryOnConflict } from './common';

export interface NotificationPreferencesView {
  enabled: NotificationKind[];
  disabled: NotificationKind[];
}

export const preferencesView = (disabled: readonly string[]): NotificationPreferencesView => ({
  enabled: NOTIFICATION_KINDS.filter((k) => !disabled.includes(k)),
  disabled: NOTIFICATION_KINDS.filter((k) => disabled.includes(k)),
});

/** The person's current set (system role: the User stream spans tenants). */
export async function disabledNotificationsOf(tx: Tx, userId: string): Promise<NotificationKind[]> {
  const row = await tx.one<{ d: string[] }>(`/* notificationDisabled */ SELECT notification_disabled AS d FROM users WHERE id = $1`, [userId]);
  return NOTIFICATION_KINDS.filter((k) => row?.d.includes(k));
}

/** Appends the change (nothing when the set is unchanged), in the organization `orgId`. Returns the new set. */
export async function changeNotificationPreferences(
  tx: Tx,
  cmd: { orgId: string; userId: string; disabled: NotificationKind[]; via: 'graph' | 'unsubscribe'; metadata: EventMetadata },
): Promise<NotificationKind[]> {
  const stream = await eventStore.load(tx, userStream(cmd.userId), userAggregate);
  const events = decideUser({ type: 'ChangeNotificationPreferences', userId: cmd.userId, disabled: cmd.disabled, via: cmd.via }, stream.state);
  if (events.length > 0) {
    await eventStore.append(tx, { orgId: cmd.orgId, streamId: userStream(cmd.userId), streamType: streamTypeOf('identity', 'User'), expectedVersion: stream.version, events, metadata: cmd.metadata });
  }
  return NOTIFICATION_KINDS.filter((k) => cmd.disabled.includes(k));
}

/** `updateNotificationPreferences(input: { disabled })`: the signed-in person's own preferences (people only). */
export async function updateNotificationPreferences(ctx: Context, input: { disabled: readonly string[] }): Promise<NotificationPreferencesView> {
  const p = ctx.principal;
  if (p.kind !== 'user') throw forbidden('Only a person has notification preferences');
  const unknown = input.disabled.find((k) => !(NOTIFICATION_KINDS as readonly string[]).includes(k));
  if (unknown) throw badInput('disabled', `Unknown notification kind ${unknown}`);
  const disabled = await retryOnConflict(() =>
    ctx.deps.systemDb.tx({ orgId: null }, (tx) =>
      changeNotificationPreferences(tx, { orgId: p.orgId, userId: p.userId, disabled: input.disabled as NotificationKind[], via: 'graph', metadata: metadataFor(ctx) }),
    ),
  );
  return preferencesView(disabled);
}
