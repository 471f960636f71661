#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser tests (e2e/console.browser.e2e.ts drives it with
# playwright-core). Playwright's own browser download cannot work here: only Debian's packages and the npm registry
# are reachable. Idempotent: does nothing when /usr/bin/chromium already runs.
#   bash infra/local/ensure-chromium.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CHROMIUM_BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [[ -x "$CHROMIUM_BIN" ]] && "$CHROMIUM_BIN" --version >/dev/null 2>&1; then
  log "chromium present: $("$CHROMIUM_BIN" --version 2>/dev/null)"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available: install Chromium and set CHROMIUM_PATH"
SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "installing chromium needs root (or sudo)"
  SUDO="sudo"
fi
log "installing chromium from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# apt's own timeouts bound each download; the update runs once per install.
$SUDO apt-get -o Acquire::http::Timeout=30 update -qq
$SUDO apt-get -o Acquire::http::Timeout=30 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$CHROMIUM_BIN" --version >/dev/null 2>&1 || die "chromium installed but $CHROMIUM_BIN does not run"
log "chromium installed: $("$CHROMIUM_BIN" --version 2>/dev/null)"
