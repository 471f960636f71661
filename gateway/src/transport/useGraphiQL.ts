import { createHash } from 'node:crypto';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

/** Where the gateway serves GraphiQL's scripts, styles, workers and icon (the page itself is GET /graphql). */
export const GRAPHIQL_ASSETS_PATH = '/graphiql/';

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  etag: string;
}

/** Monaco asks for a worker by label; these are the labels the GraphiQL bundle uses. */
const WORKER_FILES = { editorWorkerService: 'editor.worker.js', json: 'json.worker.js', graphql: 'graphql.worker.js' } as const;
const JS = 'text/javascript; charset=utf-8';

/**
 * Runs before the GraphiQL bundle: Monaco creates its workers from these same-origin URLs (the page's CSP allows
 * workers from 'self' only). Rendering waits for DOMContentLoaded, by then the bundle below has defined YogaGraphiQL.
 * The options come from a JSON data block in the page: no inline script, so the CSP needs no 'unsafe-inline' for
 * scripts.
 */
const START_JS = `'use strict';
self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: function (_moduleId, label) {
    var files = ${JSON.stringify(WORKER_FILES)};
    return '${GRAPHIQL_ASSETS_PATH}' + (files[label] || files.editorWorkerService);
  },
};
document.addEventListener('DOMContentLoaded', function () {
  var options = JSON.parse(document.getElementById('graphiql-options').textContent || '{}');
  if (options.subscriptionsEndpoint) options.subscriptionsEndpoint = new URL(options.subscriptionsEndpoint, location.href).href;
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), options);
});
`;

const asset = (body: string | Uint8Array<ArrayBuffer>, contentType: string): Asset => {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return { body: bytes, contentType, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"` };
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON inside <script type="application/json">: `<` escaped so no value can close the element. */
const jsonForScript = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

export interface GraphiQL {
  /** yoga's `renderGraphiQL`: the page, referencing only this gateway's own asset URLs. */
  render(options: GraphiQLOptions): string;
  /** Serves the assets under GRAPHIQL_ASSETS_PATH (GET/HEAD, ETag revalidation), loading them on first use. */
  plugin: Plugin;
}

export interface GraphiQLPageOptions {
  title: string;
  /**
   * Where GraphiQL sends subscriptions (its fetcher speaks graphql-sse there; passed through to it as is): the
   * gateway's SSE endpoint, as @apollo/gateway executes none on the plain HTTP one.
   */
  subscriptionsEndpoint: string;
}

/**
 * GraphiQL served entirely by the gateway, for development (NODE_ENV=development). yoga's default page loads its
 * bundle, styles and Monaco workers from a public CDN — a blank page without internet — and leaves a literal
 * `Loading __TITLE__...` in it (it replaces the first `__TITLE__` only). @graphql-yoga/render-graphiql ships the same
 * GraphiQL build (the version matching graphql-yoga) as strings; they are served here as separate, cacheable files
 * instead of being inlined into every page (~8 MB of inline script a CSP would have to allow).
 *
 * The 9 MB module takes ~2 s to import (measured on this 2-core machine), so it is imported on the first page view,
 * not at startup: the page starts it, its asset requests wait for it. Production never loads it.
 */
export function createGraphiQL(page: GraphiQLPageOptions): GraphiQL {
  let loading: Promise<Map<string, Asset>> | undefined;
  const assets = () => (loading ??= loadAssets());
  const url = (name: string) => `${GRAPHIQL_ASSETS_PATH}${name}`;

  return {
    render(yogaOptions) {
      void assets().catch(() => (loading = undefined)); // warm up; an asset request reports a failure
      const options = { ...page, ...yogaOptions };
      const title = options.title || page.title;
      return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(title)}</title>
    <link rel="icon" href="${url('favicon.ico')}" />
    <link rel="stylesheet" href="${url('graphiql.css')}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root"></div>
    <script type="application/json" id="graphiql-options">${jsonForScript({ ...options, title })}</script>
    <script src="${url('start.js')}"></script>
    <script src="${url('yoga-graphiql.js')}"></script>
  </body>
</html>
`;
    },
    plugin: {
      async onRequest({ request, url: reqUrl, endResponse, fetchAPI }) {
        if (!reqUrl.pathname.startsWith(GRAPHIQL_ASSETS_PATH)) return;
        const method = request.method.toUpperCase();
        const a = method === 'GET' || method === 'HEAD' ? (await assets()).get(reqUrl.pathname.slice(GRAPHIQL_ASSETS_PATH.length)) : undefined;
        if (!a) {
          endResponse(new fetchAPI.Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
          return;
        }
        // Revalidated on every load (cheap 304s): a gateway upgrade changes the files under the same names.
        const headers = { 'content-type': a.contentType, etag: a.etag, 'cache-control': 'no-cache' };
        if (request.headers.get('if-none-match') === a.etag) {
          endResponse(new fetchAPI.Response(null, { status: 304, headers }));
          return;
        }
        endResponse(new fetchAPI.Response(method === 'HEAD' ? null : a.body, { status: 200, headers: { ...headers, 'content-length': String(a.body.byteLength) } }));
      },
    },
  };
}

async function loadAssets(): Promise<Map<string, Asset>> {
  const g = await import('@graphql-yoga/render-graphiql/graphiql');
  const assets = new Map<string, Asset>([
    ['yoga-graphiql.js', asset(g.js, JS)],
    ['graphiql.css', asset(g.css, 'text/css; charset=utf-8')],
    ['start.js', asset(START_JS, JS)],
    [WORKER_FILES.editorWorkerService, asset(g.editorWorkerService, JS)],
    [WORKER_FILES.json, asset(g.jsonWorker, JS)],
    [WORKER_FILES.graphql, asset(g.graphqlWorker, JS)],
  ]);
  const favicon = /^data:([^;,]+);base64,(.*)$/s.exec(g.favicon);
  if (favicon) assets.set('favicon.ico', asset(Buffer.from(favicon[2]!, 'base64'), favicon[1]!));
  return assets;
}
