import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compareMatches,
  headlineToHtml,
  mergeSearchMatches,
  parseSearchArgs,
  parseSearchKey,
  searchCursor,
  searchKey,
  type SearchMatch,
} from '../src/search';

const m = (type: SearchMatch['type'], rank: number, id = randomUUID()): SearchMatch => ({
  type,
  id,
  rank,
  title: 't',
  highlight: 'h',
  customerId: null,
});

describe('parseSearchArgs / searchKey', () => {
  it('trims, defaults and orders types; the key round-trips', () => {
    const spec = parseSearchArgs({ query: '  renewal  ', types: ['CONTACT', 'TASK'] });
    expect(spec).toEqual({ query: 'renewal', types: ['TASK', 'CONTACT'], first: 20, after: null });
    expect(parseSearchKey(searchKey(spec))).toEqual(spec);
    const hit = m('TASK', 0.25);
    const withAfter = parseSearchArgs({ query: 'x', first: 5, after: searchCursor(hit) });
    expect(withAfter.after).toEqual({ rank: 0.25, key: `TASK:${hit.id}` });
    expect(parseSearchKey(searchKey(withAfter))).toEqual(withAfter);
  });

  it('refuses unknown types and repeated junk', () => {
    expect(() => parseSearchArgs({ query: 'x', types: ['TASK', 'USER'] })).toThrow(/types/);
    expect(() => parseSearchKey('W10')).toThrow(/search key/);
  });
});

describe('mergeSearchMatches', () => {
  it('orders by rank desc then TYPE:id, sums totals, reports a next page', () => {
    const a = [m('TASK', 0.9), m('COMMENT', 0.5), m('TASK', 0.1)];
    const b = [m('CUSTOMER', 0.7), m('CONTACT', 0.5, '00000000-0000-4000-8000-000000000000')];
    const r = mergeSearchMatches([{ totalCount: 10, matches: a }, { totalCount: 3, matches: b }], 4);
    expect(r.totalCount).toBe(13);
    expect(r.hasNextPage).toBe(true);
    expect(r.matches.map((x) => x.rank)).toEqual([0.9, 0.7, 0.5, 0.5]);
    // Equal ranks: COMMENT:… < CONTACT:… in byte order.
    expect(r.matches.slice(2).map((x) => x.type)).toEqual(['COMMENT', 'CONTACT']);
    expect(compareMatches(r.matches[2]!, r.matches[3]!)).toBeLessThan(0);
  });

  it('the last page says so', () => {
    expect(mergeSearchMatches([{ totalCount: 1, matches: [m('TASK', 1)] }], 1).hasNextPage).toBe(false);
  });
});

describe('headlineToHtml', () => {
  it('escapes the text and turns the markers into <mark>', () => {
    expect(headlineToHtml('a < b & "c" \u0002hit\u0003 \'d\' <img>')).toBe(
      'a &lt; b &amp; &quot;c&quot; <mark>hit</mark> &#39;d&#39; &lt;img&gt;',
    );
  });
});
