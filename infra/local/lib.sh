# shellcheck shell=bash
# Shared helpers for infra/local/*.sh (sourced, never executed).

COS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Project-local state: data directories, logs and pid files of the servers ensure-services.sh started.
COS_DATA_DIR="${COS_DATA_DIR:-$COS_ROOT/.data}"

log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# host_port_of URL DEFAULT_PORT -> prints "host port" for URLs like scheme://user:pw@host:port/path or host:port.
host_port_of() {
  local url="$1" default_port="$2" rest hostport host port
  rest="${url#*://}"          # drop scheme
  rest="${rest%%/*}"          # drop path
  rest="${rest%%\?*}"         # drop query
  hostport="${rest##*@}"      # drop credentials
  if [[ "$hostport" == \[*\]* ]]; then  # [ipv6]:port
    host="${hostport%%]*}"; host="${host#[}"
    port="${hostport##*]}"; port="${port#:}"
  elif [[ "$hostport" == *:* ]]; then
    host="${hostport%:*}"; port="${hostport##*:}"
  else
    host="$hostport"; port=""
  fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$default_port}"
}

# tcp_open HOST PORT: true when something accepts TCP connections there (bash /dev/tcp, 2 s bound).
tcp_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# pid_alive PIDFILE EXPECTED_COMM: prints the pid when the file names a live process whose command is EXPECTED_COMM
# (so a recycled pid of an unrelated process is never signalled).
pid_alive() {
  local file="$1" comm="$2" pid actual
  [[ -s "$file" ]] || return 1
  pid="$(head -n1 "$file" | tr -dc '0-9')"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  actual="$(ps -p "$pid" -o comm= 2>/dev/null | tr -d ' ')"
  [[ "$actual" == "$comm"* ]] || return 1
  printf '%s\n' "$pid"
}

# pg_bindir: the newest installed PostgreSQL server bin dir (Debian layout), or POSTGRES_BINDIR if set.
pg_bindir() {
  if [[ -n "${POSTGRES_BINDIR:-}" ]]; then
    [[ -x "$POSTGRES_BINDIR/postgres" ]] && { printf '%s\n' "$POSTGRES_BINDIR"; return 0; }
    return 1
  fi
  local d best=""
  # shellcheck disable=SC2012
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [[ -x "$d/postgres" ]] && best="$d"
  done
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# pg_tool NAME: a PostgreSQL client tool from PATH or the server bin dir.
pg_tool() {
  local bindir p
  p="$(command -v "$1" 2>/dev/null || true)"
  if [[ -n "$p" && -x "$p" ]]; then printf '%s\n' "$p"; return 0; fi
  bindir="$(pg_bindir)" || return 1
  [[ -x "$bindir/$1" ]] || return 1
  printf '%s\n' "$bindir/$1"
}

# as_pg_user CMD...: runs CMD as the `postgres` OS user when we are root (postgres refuses to run as root).
as_pg_user() {
  if [[ "$(id -u)" -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    else su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

# url_with_db URL DBNAME: the same connection URL pointing at another database (query string kept).
url_with_db() {
  local url="$1" db="$2" scheme rest query=""
  scheme="${url%%://*}"
  rest="${url#*://}"
  if [[ "$rest" == *\?* ]]; then query="?${rest#*\?}"; rest="${rest%%\?*}"; fi
  rest="${rest%%/*}"
  printf '%s://%s/%s%s\n' "$scheme" "$rest" "$db" "$query"
}

# db_of URL: the database name in a connection URL (empty when none).
db_of() {
  local rest="${1#*://}"
  rest="${rest%%\?*}"
  [[ "$rest" == */* ]] || { printf '\n'; return 0; }
  printf '%s\n' "${rest#*/}"
}
