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

describe('revokePersistedOperation', () => {
  const REVOKE = `mutation($c: String!, $id: String!) { revokePersistedOperation(client: $c, id: $id) }`;
  const m = manifestFromBodies(['query RevokeMe { me { id } }', 'query KeepMe { me { name } }']);
  const [gone, kept] = m.operations as [(typeof m.operations)[0], (typeof m.operations)[0]];

  it('withdraws one document (event, audit actor, row gone, lookup 404), keeps the others, and can be published again', async () => {
    expect((await id.exec(ownerP, PUBLISH, { c: 'revoker', m })).data?.publishPersistedOperations).toBe(2);
    const r = await id.exec(ownerP, REVOKE, { c: 'revoker', id: gone.id });
    expect(r.errors).toBeUndefined();
    expect(r.data?.revokePersistedOperation).toBe(true);
    expect((await lookup({ orgId: owner.organization.id, client: 'revoker', id: gone.id })).status).toBe(404);
    expect((await lookup({ orgId: owner.organization.id, client: null, id: gone.id })).status).toBe(404);
    expect((await lookup({ orgId: owner.organization.id, client: 'revoker', id: kept.id })).status).toBe(200);
    const events = await id.admin<{ type: string; actor: string; data: unknown }>(
      `SELECT type, metadata->>'actor' AS actor, data FROM events WHERE stream_id = $1 ORDER BY version`,
      [`PersistedClient-${owner.organization.id}-revoker`],
    );
    expect(events.map((e) => e.type)).toEqual(['PersistedOperationsPublished', 'PersistedOperationsRevoked']);
    expect(events[1]).toMatchObject({ actor: `user:${owner.user.id}`, data: { client: 'revoker', ids: [gone.id] } });
    // Published again: registered again (1 new), found again.
    expect((await id.exec(ownerP, PUBLISH, { c: 'revoker', m })).data?.publishPersistedOperations).toBe(1);
    expect((await lookup({ orgId: owner.organization.id, client: 'revoker', id: gone.id })).status).toBe(200);
  });

  it('NOT_FOUND for a document not registered for that client (or another organization’s), BAD_USER_INPUT for a malformed id, FORBIDDEN below ADMIN', async () => {
    expect((await id.exec(ownerP, REVOKE, { c: 'nobody', id: kept.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const other = await signUp(id, { organizationName: 'Revoke Other Org' });
    const otherP = userPrincipal(other.user.id, other.organization.id, 'OWNER');
    expect((await id.exec(otherP, REVOKE, { c: 'revoker', id: kept.id })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await lookup({ orgId: owner.organization.id, client: 'revoker', id: kept.id })).status).toBe(200);
    const bad = await id.exec(ownerP, REVOKE, { c: 'revoker', id: 'abc' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0]?.extensions?.field).toBe('id');
    const member = userPrincipal(owner.user.id, owner.organization.id, 'MEMBER');
    expect((await id.exec(member, REVOKE, { c: 'revoker', id: kept.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await lookup({ orgId: owner.organization.id, client: 'revoker', id: kept.id })).status).toBe(200);
  });
});
