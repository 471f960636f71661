import { describe, expect, it } from 'vitest';
import { ResponseCache } from '../src/cache/response-cache';
import { clientCacheDirective, UNCACHEABLE_FIELDS } from '../src/cache/useResponseCache';
import { readFileSync } from 'node:fs';
import { buildASTSchema, isObjectType, parse } from 'graphql';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const answer = (n: number) => ({ result: { data: { n } }, json: JSON.stringify({ data: { n } }), operation: 'Op' });
const live = (opts?: ConstructorParameters<typeof ResponseCache>[0]) => {
  const c = new ResponseCache(opts);
  c.setLive(true);
  return c;
};

describe('ResponseCache', () => {
  it('serves what it stored, for that key only', () => {
    const c = live();
    expect(c.store(c.ticket('k1', 'org-a'), ['tasks'], answer(1))).toBe(true);
    expect(c.get('k1')?.json).toBe('{"data":{"n":1}}');
    expect(c.get('k2')).toBeUndefined();
  });

  it('drops an answer when one of its subgraphs is invalidated for its tenant, and only then', () => {
    const c = live();
    c.store(c.ticket('a-tasks', 'org-a'), ['tasks', 'identity'], answer(1));
    c.store(c.ticket('a-customers', 'org-a'), ['customers'], answer(2));
    c.store(c.ticket('b-tasks', 'org-b'), ['tasks'], answer(3));
    c.invalidate('org-a', 'identity');
    expect(c.get('a-tasks')).toBeUndefined();
    expect(c.get('a-customers')).toBeDefined();
    expect(c.get('b-tasks')).toBeDefined();
  });

  it('keeps subgraph answers under the same rules, counted apart from client answers', () => {
    const c = live();
    const sg = { json: '{"data":{"_entities":[]}}', cacheControl: null };
    const raced = c.ticket('sg-identity-raced', 'org-a');
    expect(c.store(c.ticket('sg-identity', 'org-a'), ['identity'], sg, 'subgraph')).toBe(true);
    expect(c.store(c.ticket('sg-tasks', 'org-a'), ['tasks'], sg, 'subgraph')).toBe(true);
    expect(c.get('sg-identity', 'subgraph')?.json).toBe(sg.json);
    expect(c.get('sg-nothing', 'subgraph')).toBeUndefined();
    c.invalidate('org-a', 'tasks');
    expect(c.get('sg-tasks', 'subgraph')).toBeUndefined();
    expect(c.get('sg-identity', 'subgraph')).toBeDefined();
    c.invalidate('org-a', 'identity');
    expect(c.store(raced, ['identity'], sg, 'subgraph')).toBe(false);
    const s = c.snapshot();
    expect([s.subgraphHits, s.subgraphMisses, s.subgraphStores, s.raced]).toEqual([2, 2, 2, 1]);
    expect([s.hits, s.misses, s.stores]).toEqual([0, 0, 0]);
  });

  it('refuses an answer computed while its data was invalidated (read/commit race)', () => {
    const c = live();
    const ticket = c.ticket('k', 'org-a');
    c.invalidate('org-a', 'tasks'); // the event of a commit the answer may or may not have seen
    expect(c.store(ticket, ['tasks'], answer(1))).toBe(false);
    expect(c.snapshot().raced).toBe(1);
    // Invalidations elsewhere do not matter; a ticket taken after the event is fine.
    const other = c.ticket('k', 'org-a');
    c.invalidate('org-b', 'tasks');
    c.invalidate('org-a', 'customers');
    expect(c.store(other, ['tasks'], answer(2))).toBe(true);
  });

  it('serves and stores nothing while the event feed is down, and forgets everything across an outage', () => {
    const c = live();
    c.store(c.ticket('k', 'org-a'), ['tasks'], answer(1));
    const inFlight = c.ticket('k2', 'org-a');
    c.setLive(false);
    expect(c.get('k')).toBeUndefined();
    expect(c.store(c.ticket('k3', 'org-a'), ['tasks'], answer(3))).toBe(false);
    c.setLive(true);
    expect(c.get('k')).toBeUndefined();
    expect(c.store(inFlight, ['tasks'], answer(2))).toBe(false);
  });

  it('is not live before the feed says so', () => {
    const c = new ResponseCache();
    expect(c.enabled).toBe(false);
    expect(c.store(c.ticket('k', 'org-a'), ['tasks'], answer(1))).toBe(false);
  });

  it('keeps its memory bound: big answers are refused, old ones evicted', () => {
    const c = live({ ttlMs: 60_000, maxBytes: 10_000, maxEntryBytes: 2_000 });
    const big = { result: { data: {} }, json: 'x'.repeat(2_001), operation: 'Op' };
    expect(c.store(c.ticket('big', 'org-a'), ['tasks'], big)).toBe(false);
    for (let i = 0; i < 20; i++) c.store(c.ticket(`k${i}`, 'org-a'), ['tasks'], { result: { data: {} }, json: 'y'.repeat(1_000), operation: 'Op' });
    const s = c.snapshot();
    expect(s.bytes).toBeLessThanOrEqual(10_000);
    expect(c.get('k0')).toBeUndefined();
    expect(c.get('k19')).toBeDefined();
    // Evicted keys are untagged: invalidating their tag later touches only live entries.
    c.invalidate('org-a', 'tasks');
    expect(c.snapshot().entries).toBe(0);
  });

  it('expires entries after the TTL (safety net for missed events)', async () => {
    const c = live({ ttlMs: 30, maxBytes: 1_000_000, maxEntryBytes: 100_000 });
    c.store(c.ticket('k', 'org-a'), ['tasks'], answer(1));
    await new Promise((r) => setTimeout(r, 60));
    expect(c.get('k')).toBeUndefined();
  });
});

describe('UNCACHEABLE_FIELDS', () => {
  it('names fields that exist in the supergraph (a rename must not make them cacheable silently)', () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const sdl = readFileSync(path.join(here, '../../schema/supergraph.graphql'), 'utf8');
    const schema = buildASTSchema(parse(sdl), { assumeValidSDL: true });
    for (const coordinate of UNCACHEABLE_FIELDS) {
      const [typeName, field] = coordinate.split('.') as [string, string];
      const type = schema.getType(typeName);
      expect(type && isObjectType(type) ? Object.keys(type.getFields()) : [], coordinate).toContain(field);
    }
  });
});

describe('clientCacheDirective (request Cache-Control)', () => {
  it('reads no-cache, max-age=0 and no-store; anything else uses the cache', () => {
    expect(clientCacheDirective(null)).toBe('default');
    expect(clientCacheDirective('max-age=60')).toBe('default');
    expect(clientCacheDirective('no-cache')).toBe('no-cache');
    expect(clientCacheDirective('Max-Age = 0')).toBe('no-cache');
    expect(clientCacheDirective('private, No-Cache')).toBe('no-cache');
    expect(clientCacheDirective('no-cache, no-store')).toBe('no-store');
    expect(clientCacheDirective('max-age=0, no-store')).toBe('no-store');
    // Look-alikes are not directives.
    expect(clientCacheDirective('x-no-cache')).toBe('default');
    expect(clientCacheDirective('max-age=00x')).toBe('default');
  });
});
