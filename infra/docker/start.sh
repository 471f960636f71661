#!/bin/sh
# Container entry point: runs one process of the graph, chosen by COS_SERVICE, with node as the signal receiver.
# Not `pnpm --filter … start`: pnpm exits on SIGTERM without forwarding it, which orphans the service and skips its
# graceful drain (measured with pnpm 10.34). Each process runs from its bundle, built into /app/.build by the image
# (`pnpm build:processes`, scripts/lib/bundle.ts): plain node, no TypeScript loader at start-up, as the stack launcher
# runs it. Source maps on, so stack traces name the .ts lines.
set -eu
APP="$(cd "$(dirname "$0")/../.." && pwd)"
SERVICE="${COS_SERVICE:-gateway}"
# V8 young generation (MiB): fewer scavenges while parsing/merging subgraph answers (measured in bench/README.md;
# same values as scripts/lib/paths.ts SEMI_SPACE_MB). COS_SEMI_SPACE_MB overrides.
# CPUs this container may use: the affinity mask (nproc) capped by a cgroup v2 quota (cpu.max "<quota> <period>"),
# in thousandths; COS_CPU_BUDGET (CPUs, e.g. 1.5) overrides. The rule of scripts/lib/paths.ts cpuBudget.
cpu_budget_milli() {
  if [ -n "${COS_CPU_BUDGET:-}" ]; then awk -v b="$COS_CPU_BUDGET" 'BEGIN { printf "%d", b * 1000 }'; return; fi
  n=$(( $(nproc 2>/dev/null || echo 1) * 1000 ))
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max || true
    if [ "${quota:-max}" != max ] && [ "${period:-0}" -gt 0 ]; then
      q=$(( quota * 1000 / period ))
      if [ "$q" -lt "$n" ]; then n=$q; fi
    fi
  fi
  echo "$n"
}
# The gateway under two CPUs: V8 marks without helper threads, which on one core only take it from the event loop
# (scripts/lib/paths.ts gatewayV8Flags; bench/README.md). Node refuses the flag in NODE_OPTIONS, hence here.
V8_FLAGS=""
case "$SERVICE" in
  gateway) cd "$APP/gateway"; SEMI="${COS_SEMI_SPACE_MB:-64}"; BUNDLE=gateway
    if [ "$(cpu_budget_milli)" -lt 2000 ]; then V8_FLAGS="--no-concurrent-marking"; fi ;;
  identity|tasks|customers|agents) cd "$APP/services/$SERVICE"; SEMI="${COS_SEMI_SPACE_MB:-32}"; BUNDLE="services/$SERVICE" ;;
  agent-worker) cd "$APP/agent-worker"; SEMI="${COS_SEMI_SPACE_MB:-16}"; BUNDLE=agent-worker ;;
  # The mailer (README "Email"): consumers + SMTP sender, no subgraph.
  mailer) cd "$APP/mailer"; SEMI="${COS_SEMI_SPACE_MB:-16}"; BUNDLE=mailer ;;
  # The MCP server (Streamable HTTP): a thin gateway client, V8's default young generation.
  mcp) cd "$APP/mcp"; exec node --enable-source-maps "$APP/.build/mcp/src/index.mjs" --http ;;
  migrate) cd "$APP" && exec pnpm migrate ;;
  *) echo "COS_SERVICE must be gateway, identity, tasks, customers, agents, agent-worker, mailer, mcp or migrate (got '$SERVICE')" >&2; exit 64 ;;
esac
# shellcheck disable=SC2086 # V8_FLAGS is empty or one flag
exec node $V8_FLAGS --max-semi-space-size="$SEMI" --enable-source-maps "$APP/.build/$BUNDLE/src/index.mjs"
