/** A minimal GraphQL-over-HTTP client for scripts and end-to-end tests (the real thing clients send). */
export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, any> }>;
  headers: Headers;
}

export interface GqlOptions {
  token?: string;
  apiKey?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  opts: GqlOptions = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    ...opts.headers,
  };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.apiKey) headers.authorization = `ApiKey ${opts.apiKey}`;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let body: { data?: T; errors?: GraphQLResponse<T>['errors'] };
  try {
    body = JSON.parse(text);
  } catch {
    body = { errors: [{ message: `non-JSON response (${res.status}): ${text.slice(0, 200)}` }] };
  }
  return { status: res.status, data: body.data, errors: body.errors, headers: res.headers };
}

/** Like gql but throws on any GraphQL error: for steps that must succeed. */
export async function gqlOk<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  opts: GqlOptions = {},
): Promise<T> {
  const r = await gql<T>(url, query, variables, opts);
  if (r.errors?.length || !r.data) {
    throw new Error(`GraphQL failed (${r.status}): ${JSON.stringify(r.errors)}`);
  }
  return r.data;
}

/** Retries `fn` until it returns a truthy value (for eventually consistent reactions), bounded. */
export async function eventually<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, stepMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
