import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signPrincipal, type Principal } from '@cos/auth';
import { manifestFromBodies, sha256Hex } from '@cos/persisted';
import { TEST_INTERNAL_SECRET, userPrincipal } from '@cos/testing';
import { PERSISTED_LOOKUP_PATH } from '../src/persisted/routes';
import { signUp, startIdentity, type Identity, type Session } from './harness';

const PUBLISH = `mutation($c: String!, $m: JSON!) { publishPersistedOperations(client: $c, manifest: $m) }`;
const GOOD = manifestFromBodies([
  'query PartnerMe { me { id name } }',
  'query PartnerTask($id: ID!) { task(id: $id) { id title status } }',
]);

let id: Identity;
let owner: Session;
let ownerP: Principal;

beforeAll(async () => {
  id = await startIdentity();
  owner = await signUp(id, { organizationName: 'Persisted Inc' });
  ownerP = userPrincipal(owner.user.id, owner.organization.id, 'OWNER');
});
afterAll(async () => {
  await id?.close();
});

const lookup = (body: unknown, principal: Principal = { kind: 'service', serviceId: 'gateway', orgId: owner.organization.id, scopes: [] }) =>
  id.yoga.fetch(`http://identity${PERSISTED_LOOKUP_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signPrincipal(principal, TEST_INTERNAL_SECRET) },
    body: JSON.stringify(body),
  });

describe('publishPersistedOperations', () => {
  it('registers a valid manifest once (idempotent), as an event projected into persisted_operations', async () => {
    const r = await id.exec(ownerP, PUBLISH, { c: 'acme', m: GOOD });
    expect(r.errors).toBeUndefined();
    expect(r.data?.publishPersistedOperations).toBe(2);
    const again = await id.exec(ownerP, PUBLISH, { c: 'acme', m: GOOD });
    expect(again.data?.publishPersistedOperations).toBe(0);
    const rows = await id.admin<{ client: string; name: string }>(
      'SELECT client, name FROM persisted_operations WHERE org_id = $1 ORDER BY name',
      [owner.organization.id],
    );
    expect(rows).toEqual([
      { client: 'acme', name: 'PartnerMe' },
      { client: 'acme', name: 'PartnerTask' },
    ]);
    const events = await id.admin<{ type: string; actor: string }>(
      `SELECT type, metadata->>'actor' AS actor FROM events WHERE stream_id = $1`,
      [`PersistedClient-${owner.organization.id}-acme`],
    );
    expect(events).toEqual([{ type: 'PersistedOperationsPublished', actor: `user:${owner.user.id}` }]);
  });

  it('refuses a manifest with an operation invalid against the current supergraph, naming it, writing nothing', async () => {
    const bad = manifestFromBodies(['query Fine { me { id } }', 'query Broken { me { id noSuchField } }']);
    const r = await id.exec(ownerP, PUBLISH, { c: 'acme-bad', m: bad });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.extensions?.operation).toBe('Broken');
    expect(r.errors?.[0]?.message).toMatch(/Operation Broken .*noSuchField/);
    const rows = await id.admin('SELECT 1 FROM persisted_operations WHERE client = $1', ['acme-bad']);
    expect(rows).toHaveLength(0);
  });

  it('refuses ids that are not the sha256 of the body, wrong formats, and non-admins', async () => {
    const op = { id: sha256Hex('query X { me { id } }'), name: 'X', type: 'query', body: 'query X { me { name } }' };
    const r = await id.exec(ownerP, PUBLISH, { c: 'acme', m: { format: 'apollo-persisted-query-manifest', version: 1, operations: [op] } });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(r.errors?.[0]?.message).toMatch(/sha256/);
    const wrongFormat = await id.exec(ownerP, PUBLISH, { c: 'acme', m: { format: 'nope', version: 1, operations: [] } });
    expect(wrongFormat.errors?.[0]?.extensions?.field).toBe('manifest.format');
    const viewer = userPrincipal(owner.user.id, owner.organization.id, 'MEMBER');
    const denied = await id.exec(viewer, PUBLISH, { c: 'acme', m: GOOD });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});

describe('internal lookup route', () => {
  it('answers registered documents per org and client, 404 otherwise, 401 without the gateway signature', async () => {
    const doc = GOOD.operations[0]!;
    const hit = await lookup({ orgId: owner.organization.id, client: 'acme', id: doc.id });
    expect(hit.status).toBe(200);
    expect(await hit.json()).toEqual({ id: doc.id, name: doc.name, body: doc.body });
    const anyClient = await lookup({ orgId: owner.organization.id, client: null, id: doc.id });
    expect(anyClient.status).toBe(200);
    expect((await lookup({ orgId: owner.organization.id, client: 'other', id: doc.id })).status).toBe(404);
    const other = await signUp(id, { organizationName: 'Other Org' });
    expect((await lookup({ orgId: other.organization.id, client: 'acme', id: doc.id })).status).toBe(404);
    const asUser = await lookup({ orgId: owner.organization.id, client: 'acme', id: doc.id }, ownerP);
    expect(asUser.status).toBe(401);
  });
});
