import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * What the entity batcher leaves behind for V8's young-generation collector. A client request's loaders once lived in
 * a WeakMap keyed by its context; each loader reaches the context (its batch's fetches carry it), and the scavenger
 * cannot free a WeakMap entry whose value reaches its key — only a mark-compact can. So every request's context and
 * everything it reached survived every scavenge and was promoted: ~36 KiB per request on the Guild workload, most of
 * what filled the old generation between mark-compacts.
 *
 * Measured in a fresh process (--expose-gc): requests go through an EntityBatcher with a fake transport, young-only
 * collections run every ten requests (twice: survivors of one are promoted by the next), and the old space's growth
 * per request is what was promoted. Each context carries an 8 KB array of its own, so requests whose contexts are
 * promoted show as kilobytes: the WeakMap version promoted ~4 KB per request here, the context-held loaders 0.1–0.2 KB.
 */
describe('entity batcher and the scavenger', () => {
  it('leaves nothing of a finished client request for a mark-compact to free', () => {
    const script = `
      import v8 from 'node:v8';
      import { EntityBatcher } from './src/execution/entity-batcher.ts';
      const QUERY = 'query($representations:[_Any!]!){_entities(representations:$representations){...on User{name}}}';
      const batcher = new EntityBatcher(async (_ctx, payload) => {
        await new Promise((r) => setImmediate(r));
        const reps = payload.variables.representations;
        return { text: JSON.stringify({ data: { _entities: reps.map((r) => ({ name: 'n' + r.id })) } }), cacheControl: null };
      });
      const request = async (i) => {
        const ctx = { id: i, own: new Array(1000).fill(i) };
        const ids = [[1, 2], [2, 3], [4]];
        const out = await Promise.all(ids.map((set) => batcher.load(ctx, { query: QUERY, variables: { representations: set.map((id) => ({ __typename: 'User', id: String(id) })) } })));
        if (out[2].result.data._entities[0].name !== 'n4') throw new Error('wrong answer');
      };
      const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      for (let i = 0; i < 100; i++) await request(i);
      gc(); gc();
      const before = oldSpace();
      const N = 500;
      for (let i = 0; i < N; i++) {
        await request(i);
        if (i % 10 === 9) { gc({ type: 'minor' }); gc({ type: 'minor' }); }
      }
      gc({ type: 'minor' }); gc({ type: 'minor' });
      console.log(JSON.stringify({ promotedPerRequest: (oldSpace() - before) / N, batches: batcher.stats.requests, fetches: batcher.stats.fetches }));
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.join(import.meta.dirname, '..'),
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { promotedPerRequest: number; batches: number; fetches: number };
    // The three fetches of a request went out as one HTTP request each time (the batcher was in the path).
    expect(r.fetches).toBe(3 * 600);
    expect(r.batches).toBe(600);
    expect(r.promotedPerRequest).toBeLessThan(1_000);
  });
});
