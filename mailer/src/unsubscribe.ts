import { NOTIFICATION_KINDS } from '@cos/events';

/** The notification mails the mailer sends. */
export const MAIL_KINDS = ['INVITATION', 'APPROVAL_REQUESTED', 'TASK_ASSIGNED', 'CHURN_RISK', 'SUPPORT_REPLY'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];
/** Kinds a person can turn off (identity's NotificationKind); invitations and replies to customers are not subscriptions. */
export const OPTIONAL_KINDS: readonly MailKind[] = NOTIFICATION_KINDS;
export type NotificationKind = MailKind;
