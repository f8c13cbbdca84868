#!/usr/bin/env bash
# A private PostgreSQL server for local development and tests, using Debian's server binaries.
#
# Usage: deploy/local/postgres.sh {start|stop|status|url}
#   start   install (if missing, as root), initdb (once), start, wait until ready, create the
#           database "behalf"; prints the URL as the last stdout line (idempotent)
#   stop    pg_ctl stop -m fast (idempotent)
#   status  exit 0 if running, 3 if not
#   url     print postgresql://postgres@127.0.0.1:PORT/behalf
#
# Env: BEHALF_PG_DIR (data, socket and log folder; default $REPO/.run/postgres),
#      BEHALF_PG_PORT (55432), BEHALF_PG_FAST=1 (fsync off: faster, unsafe on power loss).
#
# As root the server runs as the "postgres" user, which must be able to traverse every parent
# of BEHALF_PG_DIR: parents that it cannot traverse get o+x (search only, no listing), e.g.
# /tmp/pytest-of-root (0700). Prefer a folder under $REPO/.run to avoid that.
# Connections are TCP on 127.0.0.1 with trust auth: for local development only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PG_DIR=${BEHALF_PG_DIR:-$REPO/.run/postgres}
PORT=${BEHALF_PG_PORT:-55432}
FAST=${BEHALF_PG_FAST:-0}
DATA="$PG_DIR/data"
LOG_FILE="$PG_DIR/postgres.log"
DATABASE=behalf
URL="postgresql://postgres@127.0.0.1:$PORT/$DATABASE"
START_TIMEOUT=30

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
    sort -V | tail -n1)
  [[ -n $dir && -x $dir/pg_ctl ]] && echo "$dir"
}

install_postgres() {
  [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries missing and not root; apt-get install postgresql"
  log "installing postgresql with apt-get"
  # policy-rc.d 101 stops the package scripts from starting Debian's own "main" cluster.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || {
    ((created_policy)) && rm -f "$policy"
    die "apt-get install postgresql failed"
  }
  ((created_policy)) && rm -f "$policy"
  # If a cluster got started anyway (e.g. a policy-rc.d already existed and allowed it), stop it.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h | awk '$4 == "online" {print $1, $2}' | while read -r version name; do
      log "stopping Debian's cluster $version/$name (not used)"
      pg_ctlcluster "$version" "$name" stop || true
    done
  fi
}

BIN=$(find_bin || true)

# As root run the server tools as "postgres"; otherwise as ourselves.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

make_traversable() {
  [[ $EUID -eq 0 ]] || return 0
  local dir=$PG_DIR
  while [[ $dir != / ]]; do
    dir=$(dirname "$dir")
    if ! runuser -u postgres -- test -x "$dir"; then
      log "note: chmod o+x $dir so that user postgres can reach $PG_DIR"
      chmod o+x "$dir"
    fi
  done
}

prepare_dir() {
  mkdir -p "$PG_DIR"
  make_traversable
  [[ $EUID -ne 0 ]] || chown postgres:postgres "$PG_DIR"
  chmod 0700 "$PG_DIR"
}

init_cluster() {
  [[ -f $DATA/PG_VERSION ]] && return
  log "initdb in $DATA"
  local sync=()
  [[ $FAST != 1 ]] || sync=(--no-sync)
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    "${sync[@]}" >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  echo "include_if_exists = 'behalf.conf'" >>"$DATA/postgresql.conf"
}

# Rewritten on every start, so port, socket and fast mode follow the environment.
write_config() {
  local socket_dir=$PG_DIR
  # A unix socket path may hold at most 107 bytes; we connect over TCP anyway.
  if ((${#PG_DIR} + 20 > 107)); then
    log "note: $PG_DIR is too long for a unix socket; TCP only"
    socket_dir=
  fi
  {
    echo "# Written by deploy/local/postgres.sh on every start; edits are lost."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PORT"
    echo "unix_socket_directories = '$socket_dir'"
    if [[ $FAST == 1 ]]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee "$DATA/behalf.conf" >/dev/null
}

is_running() { [[ -n $BIN && -d $DATA ]] && as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fail_start() {
  log "error: $1"
  log "--- tail of $LOG_FILE"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
  exit 1
}

ensure_database() {
  local exists
  exists=$("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -XtAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")
  [[ $exists == 1 ]] || "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Xq \
    -c "CREATE DATABASE $DATABASE" >&2
}

cmd_start() {
  [[ -n $BIN ]] || { install_postgres; BIN=$(find_bin) || die "no server binaries after install"; }
  if is_running; then
    log "already running"
  else
    if port_in_use "$PORT"; then die "port $PORT on 127.0.0.1 is already in use"; fi
    prepare_dir
    init_cluster
    write_config
    log "starting PostgreSQL ($BIN) on 127.0.0.1:$PORT (folder $PG_DIR)"
    # pg_ctl -w waits for readiness itself; pg_isready below double-checks over TCP.
    as_owner "$BIN/pg_ctl" start -D "$DATA" -l "$LOG_FILE" -w -t "$START_TIMEOUT" >&2 ||
      fail_start "pg_ctl start failed"
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
      ((SECONDS < deadline)) || fail_start "not accepting connections after ${START_TIMEOUT}s"
      sleep 0.2
    done
  fi
  ensure_database
  echo "$URL"
}

cmd_stop() {
  if is_running; then
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w >&2
  else
    log "not running"
  fi
}

cmd_status() {
  if is_running; then
    echo "running $URL"
  else
    echo "stopped"
    exit 3
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 {start|stop|status|url}" >&2; exit 2 ;;
esac
