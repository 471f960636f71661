#!/bin/sh
# Container entry point: runs one process of the graph, chosen by COS_SERVICE, with node as the signal receiver.
# Not `pnpm --filter … start`: pnpm exits on SIGTERM without forwarding it, which orphans the service and skips its
# graceful drain (measured with pnpm 10.34). `node --import tsx` is what the package's start script runs, minus pnpm.
set -eu
case "${COS_SERVICE:-gateway}" in
  gateway) cd /app/gateway ;;
  identity|tasks|customers|agents) cd "/app/services/$COS_SERVICE" ;;
  migrate) cd /app && exec pnpm migrate ;;
  *) echo "COS_SERVICE must be gateway, identity, tasks, customers, agents or migrate (got '$COS_SERVICE')" >&2; exit 64 ;;
esac
exec node --import tsx src/index.ts
