#!/usr/bin/env bash
# The one set-up command for a fresh machine: pnpm (pinned), dependencies, then `pnpm start`
# (backing services, migrations, the five processes, demo data).
set -euo pipefail
cd "$(dirname "$0")/.."
export COREPACK_INTEGRITY_KEYS=0 TURBO_TELEMETRY_DISABLED=1
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  echo "» installing pnpm $want"
  corepack enable 2>/dev/null && corepack prepare "pnpm@$want" --activate || npm install -g "pnpm@$want"
fi
echo "» installing dependencies"
pnpm install --frozen-lockfile
# Chromium (Debian's) for the console's browser tests; the graph and the console run without it.
bash infra/local/ensure-chromium.sh || echo "» chromium not installed: the browser tests (pnpm test) need it"
exec pnpm start
