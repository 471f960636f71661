#!/usr/bin/env bash
# Makes sure PostgreSQL, NATS (JetStream) and Redis are reachable for this project, idempotently:
#   1. reachable and answering its protocol        -> "using running X at ..."
#   2. else the server binary is installed          -> start it with data under .data/<svc>, wait until ready
#   3. else root + apt-get                          -> apt-get install it (once), then as 2
#   4. else                                         -> print what is missing and how to install it, exit 1
# Then makes sure the project database (COS_PG_ADMIN_URL's database, default `cos`) exists.
# Servers it starts are recorded in .data/<svc>.pid; infra/local/stop-services.sh stops exactly those.
#
# Env: PGHOST/PGPORT (default 127.0.0.1:5432, or taken from COS_PG_ADMIN_URL), COS_PG_ADMIN_URL
# (default postgres://postgres@$PGHOST:$PGPORT/cos), NATS_URL (default nats://127.0.0.1:4222), REDIS_URL (default
# redis://127.0.0.1:6379), COS_DATA_DIR (default <repo>/.data), COS_INFRA_WAIT_SECONDS (default 30),
# PG_MAX_CONNECTIONS for a cluster this script starts (default 200, see infra/README.md "Capacity").
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT_SECONDS="${COS_INFRA_WAIT_SECONDS:-30}"
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-200}"

if [[ -z "${PGHOST:-}" && -z "${PGPORT:-}" && -n "${COS_PG_ADMIN_URL:-}" ]]; then
  read -r PGHOST PGPORT < <(host_port_of "$COS_PG_ADMIN_URL" 5432)
fi
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
ADMIN_URL="${COS_PG_ADMIN_URL:-postgres://postgres@$PGHOST:$PGPORT/cos}"
NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
[[ "$REDIS_URL" == *://* ]] || REDIS_URL="redis://$REDIS_URL"
read -r NATS_HOST NATS_PORT < <(host_port_of "$NATS_URL" 4222)
read -r REDIS_HOST REDIS_PORT < <(host_port_of "$REDIS_URL" 6379)

APT_UPDATED=0
MISSING=()

# Two runs at once (pnpm start in one terminal, a test script in another) must not both initdb or start a server.
# Servers started below get `9>&-` so they do not inherit (and hold) this lock.
mkdir -p "$COS_DATA_DIR"
exec 9>"$COS_DATA_DIR/.ensure-services.lock"
flock -w 120 9 || die "another ensure-services.sh run holds $COS_DATA_DIR/.ensure-services.lock"

is_local_host() {
  case "$1" in 127.*|localhost|::1|0.0.0.0) return 0 ;; *) return 1 ;; esac
}

# apt_install PKG...: installs Debian packages when we are root and apt-get exists; false otherwise.
apt_install() {
  [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1 || return 1
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  # Keep the distribution's own daemons from starting on install: they would take the default ports with the
  # distribution's auth config (Debian's Postgres wants passwords on 127.0.0.1). This script starts its own.
  local guard=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod +x "$guard"
  fi
  log "apt-get install $*"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" || rc=$?
  [[ -n "$guard" ]] && rm -f "$guard"
  return "$rc"
}

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s; false on timeout.
wait_until() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      printf '[infra] ERROR: %s not ready after %ss\n' "$what" "$seconds" >&2
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------------- PostgreSQL
# pg_probe: 0 accepting, 1 starting up / rejecting, 2 no answer, 3 no probe tool.
pg_probe() {
  local isready rc=0
  isready="$(pg_tool pg_isready)" || return 3
  "$isready" -h "$PGHOST" -p "$PGPORT" -t 3 -q || rc=$?
  return "$rc"
}

pg_ready() { pg_probe; }

start_postgres() {
  local bindir dir="$COS_DATA_DIR/postgres" logfile="$COS_DATA_DIR/postgres.log" pid
  bindir="$(pg_bindir)" || return 1
  mkdir -p "$COS_DATA_DIR"
  if [[ "$(id -u)" -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir "$dir" --no-create-home --shell /usr/sbin/nologin postgres
  fi
  if [[ -s "$dir/PG_VERSION" ]]; then
    # An existing cluster must run with its own major version.
    local major; major="$(cat "$dir/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$major/bin/postgres" ]]; then bindir="/usr/lib/postgresql/$major/bin"; fi
    if [[ -s "$dir/postmaster.pid" ]] && pid="$(pid_alive "$dir/postmaster.pid" postgres)"; then
      die "the cluster in $dir already runs (pid $pid, port $(sed -n 4p "$dir/postmaster.pid")), not on $PGPORT; use that port or run infra/local/stop-services.sh"
    fi
  else
    mkdir -p "$dir"
    chmod 700 "$dir"
    [[ "$(id -u)" -eq 0 ]] && chown postgres:postgres "$dir"
    as_pg_user test -w "$dir" ||
      die "the postgres OS user cannot write $dir (is a parent directory private?); set COS_DATA_DIR to a reachable folder"
    log "initdb $dir (trust auth on 127.0.0.1 and local sockets, superuser postgres)"
    as_pg_user "$bindir/initdb" -D "$dir" -U postgres --auth-local=trust --auth-host=trust -E UTF8 --no-locale \
      >"$COS_DATA_DIR/initdb.log" 2>&1 || { cat "$COS_DATA_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  touch "$logfile"
  [[ "$(id -u)" -eq 0 ]] && chown postgres "$logfile"
  # TCP only (no unix socket: its path would depend on this checkout's path length and permissions).
  if ! as_pg_user "$bindir/pg_ctl" -D "$dir" -l "$logfile" -w -t "$WAIT_SECONDS" \
    -o "-c listen_addresses=$PGHOST -p $PGPORT -c unix_socket_directories='' -c max_connections=$PG_MAX_CONNECTIONS" \
    start >/dev/null 9>&-; then
    tail -n 20 "$logfile" >&2 || true
    die "PostgreSQL did not start within ${WAIT_SECONDS}s (log: $logfile)"
  fi
  head -n1 "$dir/postmaster.pid" >"$COS_DATA_DIR/postgres.pid"
  wait_until "$WAIT_SECONDS" "PostgreSQL at $PGHOST:$PGPORT" pg_ready || { tail -n 20 "$logfile" >&2; exit 1; }
  log "started PostgreSQL $(cat "$dir/PG_VERSION") at $PGHOST:$PGPORT (data in $dir, log $logfile)"
}

ensure_postgres() {
  local rc=0
  pg_probe || rc=$?
  case "$rc" in
    0) log "using running PostgreSQL at $PGHOST:$PGPORT"; return 0 ;;
    1) wait_until "$WAIT_SECONDS" "PostgreSQL at $PGHOST:$PGPORT (starting up)" pg_ready || exit 1
       log "using running PostgreSQL at $PGHOST:$PGPORT"; return 0 ;;
    2) if tcp_open "$PGHOST" "$PGPORT"; then
         die "$PGHOST:$PGPORT accepts TCP but does not answer as PostgreSQL; free the port or set PGPORT"
       fi ;;
    3) : ;; # no client tools: install below, then probe again
  esac
  if ! is_local_host "$PGHOST"; then
    MISSING+=("PostgreSQL: $PGHOST:$PGPORT is not reachable and is not a local address; start it there or set PGHOST/PGPORT")
    return 0
  fi
  if ! pg_bindir >/dev/null || ! pg_tool pg_isready >/dev/null || ! pg_tool psql >/dev/null; then
    apt_install postgresql postgresql-client || true
  fi
  if ! pg_bindir >/dev/null || ! pg_tool psql >/dev/null; then
    MISSING+=("PostgreSQL 15+: no server in /usr/lib/postgresql/*/bin (or POSTGRES_BINDIR). Install: \`sudo apt-get install postgresql\` (Debian/Ubuntu), \`brew install postgresql@15\` (macOS), or point PGHOST/PGPORT/COS_PG_ADMIN_URL at a running server")
    return 0
  fi
  # Installing may have started a distribution cluster on this port after all.
  rc=0; pg_probe || rc=$?
  if [[ "$rc" -eq 0 ]]; then log "using running PostgreSQL at $PGHOST:$PGPORT"; return 0; fi
  start_postgres
}

ensure_database() {
  local psql db maint exists
  psql="$(pg_tool psql)" || die "psql not found"
  db="$(db_of "$ADMIN_URL")"
  [[ -n "$db" ]] || { log "COS_PG_ADMIN_URL names no database; nothing to create"; return 0; }
  [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name '$db' in COS_PG_ADMIN_URL must match [A-Za-z_][A-Za-z0-9_]*"
  maint="$(url_with_db "$ADMIN_URL" postgres)"
  exists="$("$psql" "$maint" -XAtq -v ON_ERROR_STOP=1 -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ||
    die "cannot connect as the admin user ($maint); check COS_PG_ADMIN_URL and pg_hba.conf"
  if [[ "$exists" == "1" ]]; then
    log "database \"$db\" exists"
  else
    "$psql" "$maint" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" || die "could not create database \"$db\""
    log "created database \"$db\""
  fi
}

# ---------------------------------------------------------------------------------------------------------- NATS
# nats_info: prints the server's first protocol line (INFO {...}) or nothing.
nats_info() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; IFS= read -r -t 2 line <&3 && printf "%s" "$line"' \
    _ "$NATS_HOST" "$NATS_PORT" 2>/dev/null || true
}
nats_ready() { [[ "$(nats_info)" == INFO* ]]; }

nats_bin() {
  local b
  for b in "$(command -v nats-server 2>/dev/null || true)" /usr/sbin/nats-server /usr/local/bin/nats-server; do
    [[ -n "$b" && -x "$b" ]] && { printf '%s\n' "$b"; return 0; }
  done
  return 1
}

start_nats() {
  local bin dir="$COS_DATA_DIR/nats" logfile="$COS_DATA_DIR/nats.log" pidfile="$COS_DATA_DIR/nats.pid"
  bin="$(nats_bin)"
  mkdir -p "$dir"
  rm -f "$pidfile"
  setsid -f "$bin" -a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$dir" -P "$pidfile" -l "$logfile" \
    </dev/null >/dev/null 2>&1 9>&-
  if ! wait_until "$WAIT_SECONDS" "NATS at $NATS_HOST:$NATS_PORT" nats_ready; then
    tail -n 20 "$logfile" >&2 || true
    exit 1
  fi
  log "started NATS $("$bin" --version 2>/dev/null | sed 's/.*v//') with JetStream at $NATS_HOST:$NATS_PORT (data in $dir, log $logfile)"
}

ensure_nats() {
  local info
  info="$(nats_info)"
  if [[ "$info" == INFO* ]]; then
    [[ "$info" == *'"jetstream":true'* ]] ||
      die "NATS at $NATS_HOST:$NATS_PORT runs without JetStream; restart it with -js (events need JetStream)"
    log "using running NATS (JetStream) at $NATS_HOST:$NATS_PORT"
    return 0
  fi
  if tcp_open "$NATS_HOST" "$NATS_PORT"; then
    die "$NATS_HOST:$NATS_PORT accepts TCP but does not answer as NATS; free the port or set NATS_URL"
  fi
  if ! is_local_host "$NATS_HOST"; then
    MISSING+=("NATS: $NATS_HOST:$NATS_PORT is not reachable and is not a local address; start it there or set NATS_URL")
    return 0
  fi
  nats_bin >/dev/null || apt_install nats-server || true
  if ! nats_bin >/dev/null; then
    MISSING+=("NATS server 2.9+ (with JetStream): no nats-server binary. Install: \`sudo apt-get install nats-server\` (Debian/Ubuntu), \`brew install nats-server\` (macOS), or a release from https://github.com/nats-io/nats-server/releases")
    return 0
  fi
  start_nats
}

# --------------------------------------------------------------------------------------------------------- Redis
redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    timeout 3 redis-cli -u "$REDIS_URL" --no-auth-warning ping 2>/dev/null | tr -d '\r' || true
  else
    # RESP inline command; a password-protected server answers -NOAUTH, which still proves it is Redis.
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; printf "PING\r\n" >&3; IFS= read -r -t 2 l <&3 && printf "%s" "$l"' \
      _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null | tr -d '\r+' || true
  fi
}
redis_ready() { local r; r="$(redis_ping)"; [[ "$r" == PONG* || "$r" == *NOAUTH* ]]; }

redis_bin() {
  local b
  for b in "$(command -v redis-server 2>/dev/null || true)" /usr/bin/redis-server /usr/local/bin/redis-server; do
    [[ -n "$b" && -x "$b" ]] && { printf '%s\n' "$b"; return 0; }
  done
  return 1
}

start_redis() {
  local bin dir="$COS_DATA_DIR/redis" logfile="$COS_DATA_DIR/redis.log" pidfile="$COS_DATA_DIR/redis.pid"
  bin="$(redis_bin)"
  mkdir -p "$dir"
  rm -f "$pidfile"
  # Redis holds only caches and rate-limit counters here: no persistence.
  "$bin" --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no --dir "$dir" --daemonize yes \
    --pidfile "$pidfile" --logfile "$logfile" >/dev/null 9>&-
  if ! wait_until "$WAIT_SECONDS" "Redis at $REDIS_HOST:$REDIS_PORT" redis_ready; then
    tail -n 20 "$logfile" >&2 || true
    exit 1
  fi
  log "started Redis $("$bin" --version | sed -E 's/.*v=([^ ]+).*/\1/') at $REDIS_HOST:$REDIS_PORT (data in $dir, log $logfile)"
}

ensure_redis() {
  if redis_ready; then
    log "using running Redis at $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
    die "$REDIS_HOST:$REDIS_PORT accepts TCP but does not answer PING as Redis; free the port or set REDIS_URL"
  fi
  if ! is_local_host "$REDIS_HOST"; then
    MISSING+=("Redis: $REDIS_HOST:$REDIS_PORT is not reachable and is not a local address; start it there or set REDIS_URL")
    return 0
  fi
  redis_bin >/dev/null || apt_install redis-server || true
  if ! redis_bin >/dev/null; then
    MISSING+=("Redis 6+: no redis-server binary. Install: \`sudo apt-get install redis-server\` (Debian/Ubuntu), \`brew install redis\` (macOS)")
    return 0
  fi
  start_redis
}

# ---------------------------------------------------------------------------------------------------------- main
ensure_postgres
ensure_nats
ensure_redis

if ((${#MISSING[@]} > 0)); then
  if [[ "$APT_UPDATED" -eq 1 ]]; then why='apt-get install did not provide them'
  elif [[ "$(id -u)" -ne 0 ]]; then why='not root, so not installing'
  else why='no apt-get, so not installing'
  fi
  printf '[infra] ERROR: missing backing services (not reachable, not installed; %s):\n' "$why" >&2
  printf '  - %s\n' "${MISSING[@]}" >&2
  exit 1
fi

ensure_database
log "ready: COS_PG_ADMIN_URL=$ADMIN_URL NATS_URL=$NATS_URL REDIS_URL=$REDIS_URL"
