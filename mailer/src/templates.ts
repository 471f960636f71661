import type { NotificationKind } from './unsubscribe';

/** HTML-escapes text taken from events (names, titles, replies): nothing a user typed becomes markup. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export type TemplateInput =
  | { kind: 'INVITATION'; name: string; organization: string; role: string; acceptUrl: string | null }
  | { kind: 'APPROVAL_REQUESTED'; name: string; organization: string; taskTitle: string; action: string; taskUrl: string }
  | { kind: 'TASK_ASSIGNED'; name: string; organization: string; taskTitle: string; taskUrl: string }
  | { kind: 'CHURN_RISK'; name: string; organization: string; customer: string; score: number; customerUrl: string }
  | { kind: 'SUPPORT_REPLY'; name: string; organization: string; subject: string; body: string };

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

interface Parts {
  subject: string;
  greeting: string;
  /** Paragraphs of plain text (escaped for HTML). */
  lines: string[];
  link?: { label: string; url: string };
}

function parts(t: TemplateInput): Parts {
  const greeting = `Hello ${t.name},`;
  switch (t.kind) {
    case 'INVITATION':
      return {
        subject: `You are invited to ${t.organization}`,
        greeting,
        lines: [`You have been invited to join ${t.organization} on Company OS as ${t.role}.`],
        link: t.acceptUrl ? { label: 'Accept the invitation', url: t.acceptUrl } : undefined,
      };
    case 'APPROVAL_REQUESTED':
      return {
        subject: `Approval requested: ${t.action} on "${t.taskTitle}"`,
        greeting,
        lines: [`An agent in ${t.organization} asks for approval to ${t.action} on the task "${t.taskTitle}".`],
        link: { label: 'Review the request', url: t.taskUrl },
      };
    case 'TASK_ASSIGNED':
      return {
        subject: `Task assigned to you: ${t.taskTitle}`,
        greeting,
        lines: [`The task "${t.taskTitle}" in ${t.organization} is now assigned to you.`],
        link: { label: 'Open the task', url: t.taskUrl },
      };
    case 'CHURN_RISK':
      return {
        subject: `Churn risk: ${t.customer} (health ${t.score})`,
        greeting,
        lines: [`${t.customer} in ${t.organization} is at risk of churning: its health score fell to ${t.score}.`],
        link: { label: 'Open the customer', url: t.customerUrl },
      };
    case 'SUPPORT_REPLY':
      return { subject: t.subject, greeting, lines: t.body.split(/\n{2,}/) };
  }
}

/** Text and HTML of one notification; `unsubscribeUrl` adds the footer link (optional kinds only). */
export function renderMail(t: TemplateInput, unsubscribeUrl: string | null): RenderedMail {
  const p = parts(t);
  const text = [
    p.greeting,
    '',
    ...p.lines.flatMap((l) => [l, '']),
    ...(p.link ? [`${p.link.label}: ${p.link.url}`, ''] : []),
    ...(t.kind === 'SUPPORT_REPLY' ? [`— ${t.organization}`] : ['— Company OS']),
    ...(unsubscribeUrl ? ['', `Stop these emails: ${unsubscribeUrl}`] : []),
  ].join('\n');
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>${escapeHtml(p.greeting)}</p>`,
    ...p.lines.map((l) => `<p>${escapeHtml(l).replace(/\n/g, '<br>')}</p>`),
    ...(p.link ? [`<p><a href="${escapeHtml(p.link.url)}">${escapeHtml(p.link.label)}</a></p>`] : []),
    `<p>— ${escapeHtml(t.kind === 'SUPPORT_REPLY' ? t.organization : 'Company OS')}</p>`,
    ...(unsubscribeUrl ? [`<p style="font-size:small"><a href="${escapeHtml(unsubscribeUrl)}">Stop these emails</a></p>`] : []),
    '</body></html>',
  ].join('\n');
  return { subject: p.subject.replace(/[\r\n]+/g, ' '), text, html };
}

export type { NotificationKind };
