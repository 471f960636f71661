#!/usr/bin/env bash
# Stops only the servers infra/local/ensure-services.sh started (pid files .data/{postgres,nats,redis}.pid).
# Servers that were already running (system services, CI containers) have no pid file and are left alone.
# Data stays in .data/<svc>; the next ensure-services.sh run starts the same cluster again.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WAIT_SECONDS="${COS_INFRA_WAIT_SECONDS:-30}"

# stop_one NAME COMM SIGNAL: SIGNAL is the server's clean fast shutdown (Postgres: SIGINT = "fast" mode, rolls back
# open transactions and checkpoints; NATS and Redis: SIGTERM). SIGKILL only after WAIT_SECONDS.
stop_one() {
  local name="$1" comm="$2" sig="$3" pidfile="$COS_DATA_DIR/$1.pid" pid deadline
  if [[ ! -e "$pidfile" ]]; then
    log "$name: not started by ensure-services (no $pidfile), leaving it alone"
    return 0
  fi
  if ! pid="$(pid_alive "$pidfile" "$comm")"; then
    log "$name: pid file $pidfile is stale (process gone), removing it"
    rm -f "$pidfile"
    return 0
  fi
  kill "-$sig" "$pid"
  deadline=$((SECONDS + WAIT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "$name (pid $pid) still running after ${WAIT_SECONDS}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped $name (pid $pid)"
}

stop_one redis redis-server TERM
stop_one nats nats-server TERM
stop_one postgres postgres INT
