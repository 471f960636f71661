/**
 * joinLeafEntityFetches (plan.ts): a leaf `_entities` fetch beside a Sequence that calls the same subgraph later runs
 * beside that later fetch, so the entity batcher sends both in one request. Checked on the real plan of the Guild
 * workload's TestQuery and on hand-made plans, including those where moving would change what a fetch reads.
 */
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadGuildFixtures } from '../../bench/guild/data';
import { composeGuildSupergraph } from '../../bench/guild/supergraph';
import { joinLeafEntityFetches } from '../src/execution/executor/plan';
import { planningSupergraph } from '../src/execution/executor/planning-supergraph';

/** Every fetch of a plan as `service@path`, sorted. */
function fetches(node: PlanNode | undefined, path = ''): string[] {
  if (!node) return [];
  switch (node.kind) {
    case 'Fetch':
      return [`${node.serviceName}@${path}`];
    case 'Flatten':
      return fetches(node.node, [path, node.path.join('.')].filter(Boolean).join('.'));
    case 'Sequence':
    case 'Parallel':
      return node.nodes.flatMap((n) => fetches(n, path)).sort();
    case 'Condition':
      return [...fetches(node.ifClause, path), ...fetches(node.elseClause, path)].sort();
    default:
      return [];
  }
}

/** Steps of every Sequence, each as the list of `service@path` it runs together. */
function sequenceSteps(node: PlanNode | undefined, out: string[][][] = []): string[][][] {
  if (!node) return out;
  if (node.kind === 'Sequence') out.push(node.nodes.map((n) => fetches(n)));
  if (node.kind === 'Sequence' || node.kind === 'Parallel') for (const n of node.nodes) sequenceSteps(n, out);
  if (node.kind === 'Flatten') sequenceSteps(node.node, out);
  return out;
}

const entityFetch = (service: string): FetchNode => ({
  kind: 'Fetch',
  serviceName: service,
  variableUsages: [],
  requires: [{ kind: 'InlineFragment', typeCondition: 'T', selections: [{ kind: 'Field', name: 'id' }] }],
  operation: `query($representations:[_Any!]!){_entities(representations:$representations){...on T{${service}}}}`,
  operationKind: 'query' as never,
  operationName: undefined,
});
const at = (path: string, node: PlanNode): PlanNode => ({ kind: 'Flatten', path: path.split('.'), node });

describe('joinLeafEntityFetches', () => {
  it('on the Guild TestQuery plan: the lone inventory fetches join inventory shippingEstimate after products', () => {
    const { query } = loadGuildFixtures();
    const sdl = composeGuildSupergraph({ accounts: 'http://a', inventory: 'http://i', products: 'http://p', reviews: 'http://r' });
    const supergraph = Supergraph.build(planningSupergraph(sdl).sdl);
    const plan = new QueryPlanner(supergraph).buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(query), {}));
    const node = plan.node as PlanNode;
    const before = JSON.stringify(node);
    const joined = joinLeafEntityFetches(node);

    expect(JSON.stringify(node)).toBe(before); // the planner's (cached) plan is not touched
    expect(fetches(joined)).toEqual(fetches(node)); // the same 16 fetches
    expect(fetches(joined)).toHaveLength(16);
    // Every Sequence `products at P → inventory at P` now runs the inventory fetches that stood alone beside it: inStock
    // at the same path, and topProducts' own inventory fetch (nothing before it merges at a prefix of its path).
    const joinedSteps = sequenceSteps(joined).filter((steps) => steps.length === 2 && /^products@./.test(steps[0]![0]!));
    expect(joinedSteps.map((s) => s[1])).toEqual([
      ['inventory@users.@.reviews.@.product', 'inventory@users.@.reviews.@.product'],
      ['inventory@users.@.reviews.@.product.reviews.@.author.reviews.@.product', 'inventory@users.@.reviews.@.product.reviews.@.author.reviews.@.product'],
      ['inventory@topProducts.@', 'inventory@topProducts.@.reviews.@.author.reviews.@.product', 'inventory@topProducts.@.reviews.@.author.reviews.@.product'],
    ]);
  });

  it('moves a leaf only where nothing before its new place merges at a proper prefix of its path', () => {
    const seq = (...nodes: PlanNode[]): PlanNode => ({ kind: 'Sequence', nodes });
    const par = (...nodes: PlanNode[]): PlanNode => ({ kind: 'Parallel', nodes });

    // Joined: same subgraph at step 1, at the same path or another one.
    const ok = joinLeafEntityFetches(par(seq(at('a.@', entityFetch('p')), at('a.@', entityFetch('i'))), at('a.@', entityFetch('i'))));
    expect(ok.kind).toBe('Sequence');
    expect(sequenceSteps(ok)[0]).toEqual([['p@a.@'], ['i@a.@', 'i@a.@']]);
    const other = joinLeafEntityFetches(par(seq(at('a.@', entityFetch('p')), at('a.@', entityFetch('i'))), at('b.@', entityFetch('i'))));
    expect(sequenceSteps(other)[0]).toEqual([['p@a.@'], ['i@a.@', 'i@b.@']]);
    // Joined deep inside: a Parallel of the Sequence's second step, then a nested Sequence's second step.
    const deep = joinLeafEntityFetches(
      par(seq(at('a.@', entityFetch('r')), par(at('a.@.b', entityFetch('x')), seq(at('a.@.c', entityFetch('p')), at('a.@.c', entityFetch('i'))))), at('a.@', entityFetch('i'))),
    );
    expect(sequenceSteps(deep)[1]).toEqual([['p@a.@.c'], ['i@a.@', 'i@a.@.c']]);

    const unchanged = (plan: PlanNode) => expect(JSON.stringify(joinLeafEntityFetches(plan))).toBe(JSON.stringify(plan));
    // A step before it merges at a proper prefix of the leaf's path: it could add or replace the objects the leaf reads.
    unchanged(par(seq(at('a', entityFetch('p')), at('a.@', entityFetch('i'))), at('a.@', entityFetch('i'))));
    unchanged(par(seq({ ...entityFetch('p'), requires: undefined }, at('a.@', entityFetch('i'))), at('a.@', entityFetch('i'))));
    // Same subgraph only at step 0: nothing to wait for.
    unchanged(par(seq(at('a.@', entityFetch('i')), at('a.@', entityFetch('p'))), at('a.@', entityFetch('i'))));
    // A root fetch (no requires) is not an entity fetch the batcher merges.
    unchanged(par(seq(at('a.@', entityFetch('p')), at('a.@', entityFetch('i'))), { ...entityFetch('i'), requires: undefined }));
    // A fetch with a continuation (a Sequence of its own) is not a leaf: moving it would delay what follows it.
    unchanged(par(seq(at('a.@', entityFetch('p')), at('a.@', entityFetch('i'))), seq(at('a.@', entityFetch('i')), at('a.@', entityFetch('x')))));
  });
});
