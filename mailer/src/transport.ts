import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  id: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

/** Sends one mail; resolves with the message id, rejects on any failure (the sender retries). */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<string | null>;
  close(): void;
  describe: string;
}

const message = (m: OutgoingMail) => ({
  from: m.from,
  to: m.to,
  subject: m.subject,
  text: m.text,
  html: m.html,
  headers: m.headers,
  // A stable Message-ID per outbox row: a retry after an ambiguous failure is recognisable as the same mail.
  messageId: `<${m.id}@company-os.mailer>`,
});

/** SMTP (nodemailer; smtp:// or smtps:// with credentials in the URL), with every socket phase under `timeoutMs`. */
export function smtpTransport(url: string, timeoutMs: number): MailTransport {
  const u = new URL(url);
  const t = nodemailer.createTransport({
    host: u.hostname,
    port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
    secure: u.protocol === 'smtps:',
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    // Local/test relays without STARTTLS certificates: ?tls=off on the URL.
    ignoreTLS: u.searchParams.get('tls') === 'off',
    tls: u.searchParams.get('tls') === 'insecure' ? { rejectUnauthorized: false } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    describe: `smtp ${u.hostname}:${u.port || (u.protocol === 'smtps:' ? 465 : 587)}`,
    async send(m) {
      const info = await t.sendMail(message(m));
      if (info.rejected.length > 0) throw new Error(`rejected: ${info.rejected.join(', ')}`);
      return info.messageId ?? null;
    },
    close: () => t.close(),
  };
}

/** Development without SMTP_URL: each mail becomes `<dir>/<created>-<id>.eml` (open it with any mail client). */
export function fileTransport(dir: string): MailTransport {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    describe: `files in ${dir}`,
    async send(m) {
      const info = await t.sendMail(message(m));
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${m.id}.eml`), info.message as Buffer);
      return info.messageId ?? null;
    },
    close: () => t.close(),
  };
}
