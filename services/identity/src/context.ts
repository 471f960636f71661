import type { Principal } from '@cos/auth';
import type { BaseContext } from '@cos/service-kit';
import type { ServerDeps } from './deps';
import type { Viewer } from './parents';
import { createLoaders, type Loaders } from './store/loaders';

/** identity's per-request context (codegen's contextType). */
export interface Context extends BaseContext {
  deps: ServerDeps;
  /** The request's caller as a Viewer. */
  viewer: Viewer;
  /** DataLoaders for `viewer` (memoized per viewer for the request). */
  loaders(viewer?: Viewer): Loaders;
}

export function viewerOf(p: Principal): Viewer {
  switch (p.kind) {
    case 'user':
      return { userId: p.userId, orgId: p.orgId, role: p.role, scopes: p.scopes };
    case 'apiKey':
    case 'service':
      return { userId: null, orgId: p.orgId, role: null, scopes: p.scopes };
    default:
      return { userId: null, orgId: null, role: null, scopes: [] };
  }
}

export function createContextFactory(deps: ServerDeps) {
  return (base: BaseContext): Context => {
    const viewer = viewerOf(base.principal);
    const cache = new Map<string, Loaders>();
    let own: Loaders | undefined;
    return Object.assign(base, {
      deps,
      viewer,
      loaders(v = viewer) {
        // Resolvers ask once per entity; the request's own viewer skips building the key after the first time.
        if (v === viewer && own) return own;
        const key = `${v.orgId ?? ''}:${v.userId ?? ''}`;
        let l = cache.get(key);
        if (!l) cache.set(key, (l = createLoaders(deps.db, v, deps.onLoaderBatch)));
        if (v === viewer) own = l;
        return l;
      },
    });
  };
}
