/** Where the gateway is: same origin by default; the static server (server.ts) may name another in /config.json. */
export interface ConsoleConfig {
  httpUrl: string;
  wsUrl: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  let gatewayUrl: string | undefined;
  try {
    const res = await fetch('/config.json', { signal: AbortSignal.timeout(5_000) });
    if (res.ok) gatewayUrl = ((await res.json()) as { gatewayUrl?: string }).gatewayUrl;
  } catch {
    /* no config: same origin */
  }
  const http = new URL(gatewayUrl ?? '/graphql', window.location.href);
  const ws = new URL(http);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return { httpUrl: http.toString(), wsUrl: ws.toString() };
}
