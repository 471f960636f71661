import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';
import type { Client as WsClient } from 'graphql-ws';
import type { ConsoleConfig } from './config';
import type { Session, SessionStore } from './session';

export type Role = 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';

export interface AppServices {
  session: SessionStore;
  config: ConsoleConfig;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const s = useContext(AppContext);
  if (!s) throw new Error('AppContext missing');
  return s;
}

export function useSession(): Session | null {
  const { session } = useServices();
  return useSyncExternalStore((l) => session.subscribe(l), () => session.get());
}

/** The graphql-ws client of the signed-in identity (a new connection per user and organization). */
export const LiveContext = createContext<WsClient | null>(null);
export function useLive(): WsClient {
  const l = useContext(LiveContext);
  if (!l) throw new Error('LiveContext missing');
  return l;
}

/** The caller's role in the organization signed in to (set by the shell from `me`). */
export const RoleContext = createContext<Role>('VIEWER');
export const useRole = () => useContext(RoleContext);
/** VIEWERs see no write controls (the gateway refuses their writes anyway). */
export const useCanWrite = () => useRole() !== 'VIEWER';
export const useIsAdmin = () => {
  const r = useRole();
  return r === 'OWNER' || r === 'ADMIN';
};

/** Hash routes: #/board, #/customers/<id> ... */
export function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const navigate = (path: string) => {
  window.location.hash = `#/${path}`;
};
