import type { RemoteGraphQLDataSource } from '@apollo/gateway';
import { signPrincipal, type Principal } from '@cos/auth';

type Fetcher = RemoteGraphQLDataSource['fetcher'];

const QUERY = /* GraphQL */ `query AuthzOrgMembers($id: ID!) { organization(id: $id) { members { user { id } } } }`;

interface MembersAnswer {
  data?: { organization?: { members?: Array<{ user?: { id?: unknown } | null } | null> } | null } | null;
  errors?: unknown[];
}

/**
 * Ids of the members of the caller's current organization, asked of the identity subgraph directly with the
 * caller's own signed principal (so identity's RLS and role checks apply). Used by policies such as user_email; the
 * plugin calls it at most once per request. The shared subgraph pool's fetcher carries the fetch timeout.
 */
export function createOrgMemberLookup(opts: { identityUrl: () => string | undefined; fetcher: Fetcher; internalSecret: string }) {
  return async function orgMemberIds(principal: Principal): Promise<ReadonlySet<string>> {
    if (principal.kind === 'anonymous') return new Set();
    const url = opts.identityUrl();
    if (!url) throw new Error('no identity URL for the organization-members lookup');
    const res = await opts.fetcher(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signPrincipal(principal, opts.internalSecret) },
      body: JSON.stringify({ query: QUERY, variables: { id: principal.orgId } }),
    });
    if (!res.ok) {
      await res.text();
      throw new Error(`identity answered HTTP ${res.status} to the organization-members lookup`);
    }
    const body = (await res.json()) as MembersAnswer;
    const ids = new Set<string>();
    for (const m of body.data?.organization?.members ?? []) {
      if (typeof m?.user?.id === 'string') ids.add(m.user.id);
    }
    return ids;
  };
}
