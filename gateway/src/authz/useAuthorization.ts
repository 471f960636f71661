import type { DocumentNode, ExecutionArgs, ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Principal } from '@cos/auth';
import type { GatewayContext } from '../context';
import {
  applyToResult,
  createDecider,
  principalFingerprint,
  policyView,
  transformDocument,
  type Decider,
  type Transformed,
  type Via,
} from './engine';
import { DEFAULT_POLICIES, type PolicyContext, type PolicyRegistry } from './policies';
import type { RequirementMap } from './requirements';

export interface UseAuthorizationOptions {
  /** The requirements of the supergraph currently served (swapped on reload). */
  requirements: () => RequirementMap;
  policies?: PolicyRegistry;
  /** Members of the caller's organization; called at most once per request, only when a policy needs it. */
  orgMemberIds: (principal: Principal) => Promise<ReadonlySet<string>>;
}

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  typeof v === 'object' && v !== null && Symbol.asyncIterator in v;

/**
 * @authenticated / @requiresScopes / @policy from the supergraph, enforced with Apollo Router's semantics: before
 * planning, the fields the caller may not read are removed from the operation (so no subgraph sees them); after
 * execution each removed field is null at its path with UNAUTHENTICATED (anonymous caller) or FORBIDDEN, null
 * propagating through non-null positions, and the rest of the operation runs. Policies that depend on the object
 * (User.email) are evaluated after execution in one batched call per policy per request.
 *
 * Transformed documents are cached per parsed document and permission fingerprint, so the planner's cache (keyed by
 * the printed document) sees one document per permission set.
 */
export function useAuthorization(opts: UseAuthorizationOptions): Plugin<GatewayContext> {
  const policies = opts.policies ?? DEFAULT_POLICIES;
  let cacheFor: RequirementMap | undefined;
  let cache = new WeakMap<DocumentNode, Map<string, Transformed>>();

  const transformed = (args: ExecutionArgs, requirements: RequirementMap, principal: Principal, decide: Decider) => {
    if (cacheFor !== requirements) {
      cacheFor = requirements;
      cache = new WeakMap();
    }
    const fp = `${principalFingerprint(principal)}|${args.operationName ?? ''}`;
    let perDoc = cache.get(args.document);
    if (!perDoc) {
      perDoc = new Map();
      cache.set(args.document, perDoc);
    }
    let t = perDoc.get(fp);
    if (!t) {
      t = transformDocument(args.document, args.schema, decide, policies, args.operationName);
      if (perDoc.size < 64) perDoc.set(fp, t);
    }
    return t;
  };

  return {
    onExecute({ args, setResultAndStopExecution }) {
      const requirements = opts.requirements();
      if (requirements.size === 0) return undefined;
      const principal = (args.contextValue as GatewayContext).principal ?? { kind: 'anonymous' };
      const decide = createDecider(requirements, principal, policies);
      const original = args.document;
      const t = transformed(args, requirements, principal, decide);
      if (!t.changed) return undefined;
      // envelop hands the same args object to the federation executor's onExecute (registered after this plugin).
      (args as { document: DocumentNode }).document = t.document;

      let members: Promise<ReadonlySet<string>> | undefined;
      const policyCtx: PolicyContext = {
        principal,
        orgMemberIds: () => (members ??= opts.orgMemberIds(principal)),
      };

      const finish = async (result: ExecutionResult): Promise<ExecutionResult> => {
        const walk = (allowed: (o: Record<string, unknown>, groups: string[][], via: Via) => boolean) =>
          applyToResult(result.data as Record<string, unknown> | null | undefined, {
            schema: args.schema,
            document: original,
            operationName: args.operationName,
            variables: args.variableValues as Record<string, unknown> | undefined,
            decide,
            allowed,
          });
        // Pass 1 collects the objects each per-object policy must judge; pass 2 applies the verdicts.
        const pending = new Map<string, Map<Record<string, unknown>, Via>>();
        walk((o, groups, via) => {
          for (const g of groups) for (const name of g) (pending.get(name) ?? pending.set(name, new Map()).get(name))?.set(o, via);
          return true;
        });
        const verdicts = new Map<string, Map<Record<string, unknown>, boolean>>();
        await Promise.all(
          [...pending].map(async ([name, seen]) => {
            const policy = policies[name];
            const objects = [...seen.keys()];
            const answers = policy
              ? await policy.decide(policyCtx, [...seen].map(([o, via]) => policyView(o, policy.requires, via)))
              : objects.map(() => false);
            verdicts.set(name, new Map(objects.map((o, i) => [o, answers[i] === true])));
          }),
        );
        const applied = walk((o, groups) => groups.some((g) => g.every((name) => verdicts.get(name)?.get(o) === true)));
        const errors: GraphQLError[] = [...(result.errors ?? []), ...applied.errors];
        return { ...result, data: applied.data, ...(errors.length ? { errors } : {}) };
      };

      if (t.rootEmpty) {
        return finish({ data: {} }).then((r) => setResultAndStopExecution(r));
      }
      return {
        async onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result)) return;
          setResult(await finish(result as ExecutionResult));
        },
      };
    },
  };
}
