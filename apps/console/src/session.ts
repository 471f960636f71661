/**
 * The signed-in session: access JWT (15 min), rotating refresh token, user and organization, kept in localStorage so
 * a reload stays signed in. `fresh()` refreshes once (single flight) when the access token is about to expire or was
 * refused; a refresh that fails (revoked, reused) signs out. Both the HTTP client and the WebSocket use it.
 */
import type { DocumentNode } from 'graphql';
import {
  LoginDocument,
  LogoutDocument,
  RefreshSessionDocument,
  type LoginMutation,
  type RefreshSessionMutation,
} from './__generated__/graphql';
import { persistedExtensions } from './documents';

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  user: { id: string; name: string };
  organization: { id: string; name: string };
}

const KEY = 'cos.console.session';
/** Refresh this long before the access token expires. */
const EARLY_MS = 60_000;

type Listener = (s: Session | null) => void;

export class SessionStore {
  private current: Session | null;
  private listeners = new Set<Listener>();
  private refreshing: Promise<Session | null> | null = null;

  constructor(private readonly httpUrl: string) {
    try {
      this.current = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    } catch {
      this.current = null;
    }
  }

  get(): Session | null {
    return this.current;
  }

  set(s: Session | null): void {
    this.current = s;
    if (s) localStorage.setItem(KEY, JSON.stringify(s));
    else localStorage.removeItem(KEY);
    for (const l of this.listeners) l(s);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  expiresSoon(): boolean {
    return this.current !== null && Date.parse(this.current.expiresAt) - Date.now() < EARLY_MS;
  }

  /** A usable access token: the current one, or a refreshed one when it expires soon (or `force`). */
  async fresh(force = false): Promise<Session | null> {
    if (!this.current) return null;
    if (!force && !this.expiresSoon()) return this.current;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refresh(): Promise<Session | null> {
    const s = this.current;
    if (!s) return null;
    try {
      const r = await this.post<RefreshSessionMutation>(RefreshSessionDocument, { refreshToken: s.refreshToken });
      if (!r.data) {
        // A spent, revoked or expired refresh token: sign out (unless a newer session replaced it meanwhile).
        // Anything else (rate limit, outage): keep the session, the next call tries again.
        const spent = r.codes.some((c) => c === 'UNAUTHENTICATED' || c === 'BAD_USER_INPUT');
        if (spent && this.current?.refreshToken === s.refreshToken) this.set(null);
        return this.current;
      }
      const next = r.data.refreshToken;
      const session: Session = { ...next, organization: next.organization, user: next.user };
      this.set(session);
      return session;
    } catch {
      // Network trouble: keep the session, the next call tries again.
      return this.current;
    }
  }

  /** Signs in (to `organizationId`, or the person's first organization); returns the error message on failure. */
  async signIn(email: string, password: string, organizationId?: string): Promise<string | null> {
    let r: { data: LoginMutation | null; codes: string[]; message?: string };
    try {
      r = await this.post<LoginMutation>(LoginDocument, { email, password, organizationId });
    } catch {
      return 'The server cannot be reached';
    }
    if (!r.data) return r.message ?? 'Sign-in failed';
    const previous = this.current;
    this.set({ ...r.data.login });
    // Switching organization: the old session's refresh token is no longer needed.
    if (previous && previous.refreshToken !== r.data.login.refreshToken) {
      await this.post(LogoutDocument, { refreshToken: previous.refreshToken }).catch(() => undefined);
    }
    return null;
  }

  async signOut(): Promise<void> {
    const s = this.current;
    this.set(null);
    if (s) await this.post(LogoutDocument, { refreshToken: s.refreshToken }).catch(() => undefined);
  }

  /** A persisted operation over plain fetch (no auth header): refresh and logout carry their token in variables. */
  private async post<T>(doc: DocumentNode, variables: Record<string, unknown>): Promise<{ data: T | null; codes: string[]; message?: string }> {
    const res = await fetch(this.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ variables, extensions: persistedExtensions(doc) }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] };
    const codes = (body.errors ?? []).map((e) => e.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
    return { data: codes.length ? null : (body.data ?? null), codes, message: body.errors?.[0]?.message };
  }
}
