import { useEffect, useMemo, useState } from 'react';
import { Provider, useQuery } from 'urql';
import { MeDocument } from './__generated__/graphql';
import { LiveContext, navigate, RoleContext, useIsAdmin, useRoute, useServices, useSession, type Role } from './app-context';
import { createGraphqlClient, createLiveClient } from './client';
import { LiveFeedsProvider } from './live';
import { AdminPage } from './pages/Admin';
import { AgentsPage } from './pages/Agents';
import { ApprovalsPage } from './pages/Approvals';
import { BoardPage } from './pages/Board';
import { CustomerPage, CustomersPage } from './pages/Customers';
import { LoginPage, SwitchOrganization } from './pages/Login';
import { SearchBox, SearchPage } from './pages/Search';

export function App() {
  const { session, config } = useServices();
  const s = useSession();
  const identity = s ? `${s.user.id}:${s.organization.id}` : null;
  // One HTTP client and one WebSocket per signed-in identity: nothing cached or subscribed for one user or
  // organization survives a sign-out or a switch.
  const clients = useMemo(
    () => (identity ? { http: createGraphqlClient(config.httpUrl, session), live: createLiveClient(config.wsUrl, session) } : null),
    [identity, config, session],
  );
  useEffect(() => () => void clients?.live.dispose(), [clients]);
  if (!s || !clients) return <LoginPage />;
  return (
    <Provider value={clients.http}>
      <LiveContext.Provider value={clients.live}>
        <LiveFeedsProvider>
          <Shell />
        </LiveFeedsProvider>
      </LiveContext.Provider>
    </Provider>
  );
}

const NAV: [string, string, boolean][] = [
  ['board', 'Tasks', false],
  ['approvals', 'Approvals', false],
  ['customers', 'Customers', false],
  ['agents', 'Agents', false],
  ['admin', 'Admin', true],
];

function Shell() {
  const { session } = useServices();
  const s = useSession()!;
  const [me] = useQuery({ query: MeDocument });
  const memberships = me.data?.me?.memberships ?? [];
  const role = (memberships.find((m) => m.organization.id === s.organization.id)?.role ?? 'VIEWER') as Role;
  const [switching, setSwitching] = useState<{ id: string; name: string } | null>(null);
  const route = useRoute();
  const page = route[0] ?? 'board';
  return (
    <RoleContext.Provider value={role}>
      <header className="topbar">
        <strong className="brand">Company OS</strong>
        <nav>
          {NAV.filter(([, , admin]) => !admin || role === 'OWNER' || role === 'ADMIN').map(([path, label]) => (
            <a key={path} href={`#/${path}`} className={page === path ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <SearchBox />
        <select
          aria-label="Organization"
          value={s.organization.id}
          onChange={(e) => {
            const org = memberships.find((m) => m.organization.id === e.target.value)?.organization;
            if (org && org.id !== s.organization.id) setSwitching(org);
          }}
        >
          {memberships.length === 0 && <option value={s.organization.id}>{s.organization.name}</option>}
          {memberships.map((m) => (
            <option key={m.organization.id} value={m.organization.id}>
              {m.organization.name}
            </option>
          ))}
        </select>
        <span className="who" data-testid="who">
          {s.user.name} · <span data-testid="role">{role}</span>
        </span>
        <button type="button" onClick={() => void session.signOut()}>
          Sign out
        </button>
      </header>
      {switching && <SwitchOrganization org={switching} onDone={() => setSwitching(null)} />}
      <main>
        <Page page={page} rest={route.slice(1)} />
      </main>
    </RoleContext.Provider>
  );
}

function Page({ page, rest }: { page: string; rest: string[] }) {
  const admin = useIsAdmin();
  switch (page) {
    case 'board':
      return <BoardPage />;
    case 'approvals':
      return <ApprovalsPage />;
    case 'customers':
      return rest[0] ? <CustomerPage id={rest[0]} /> : <CustomersPage />;
    case 'agents':
      return <AgentsPage />;
    case 'admin':
      return admin ? <AdminPage /> : <p>Only owners and admins manage the organization.</p>;
    case 'search':
      return <SearchPage query={decodeURIComponent(rest.join('/'))} />;
    default:
      navigate('board');
      return null;
  }
}
