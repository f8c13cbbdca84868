#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) for local development and tests, run from Maven Central jars.
#
# Usage: deploy/local/kafka.sh {fetch|start|stop|kill|status|bootstrap}
#   fetch      download the broker jars into $REPO/.cache/kafka/<version>/lib (once)
#   start      fetch, format storage (once), start the broker, wait until it answers;
#              prints the bootstrap address as the last stdout line (idempotent)
#   stop       SIGTERM and wait; SIGKILL after 30 s (idempotent)
#   kill       SIGKILL at once, for fault tests (a later start recovers the same data)
#   status     exit 0 if running, 3 if not
#   bootstrap  print 127.0.0.1:PORT
#
# Env: BEHALF_KAFKA_DIR (run folder; default $REPO/.run/kafka), BEHALF_KAFKA_PORT (59092),
#      BEHALF_KAFKA_CONTROLLER_PORT (port+1), BEHALF_KAFKA_JAVA_OPTS (extra JVM flags),
#      BEHALF_PYTHON (a python with aiokafka for the readiness probe; default python3).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
POM="$HERE/kafka/pom.xml"
LOG4J_CONFIG="$HERE/kafka/log4j2.xml"
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
CACHE_DIR="$REPO/.cache/kafka/$KAFKA_VERSION"
LIB_DIR="$CACHE_DIR/lib"
MARKER="$CACHE_DIR/complete"

RUN_DIR=${BEHALF_KAFKA_DIR:-$REPO/.run/kafka}
PORT=${BEHALF_KAFKA_PORT:-59092}
CONTROLLER_PORT=${BEHALF_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
PYTHON=${BEHALF_PYTHON:-python3}
PID_FILE="$RUN_DIR/kafka.pid"
LOG_FILE="$RUN_DIR/server.log"
STDOUT_FILE="$RUN_DIR/stdout.log"
PROPERTIES="$RUN_DIR/server.properties"
START_TIMEOUT=90
STOP_TIMEOUT=30

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

apt_install() {
  [[ $EUID -eq 0 ]] || die "$* missing and not root; install: $*"
  log "installing $* with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

ensure_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  local major
  major=$(java_major)
  [[ ${KAFKA_VERSION%%.*} -lt 4 || ${major:-0} -ge 17 ]] ||
    die "Kafka $KAFKA_VERSION needs Java 17+, found '${major:-unknown}'"
}

ensure_maven() {
  command -v mvn >/dev/null || apt_install maven
}

# The marker holds a hash of the pom, so editing the pom triggers a new fetch.
pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

cmd_fetch() {
  if [[ -f $MARKER && $(cat "$MARKER") == "$(pom_hash)" ]]; then
    log "jars for Kafka $KAFKA_VERSION already in $LIB_DIR"
    return
  fi
  ensure_java
  ensure_maven
  log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR"
  local tmp="$CACHE_DIR/lib.partial"
  rm -rf "$tmp" "$LIB_DIR" "$MARKER"
  mkdir -p "$CACHE_DIR"
  # Debian's Maven prints stray colour codes even in batch mode; strip them.
  mvn -B -q -f "$POM" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2 ||
    die "mvn dependency:copy-dependencies failed"
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13 jar missing after fetch"
  mv "$tmp" "$LIB_DIR"
  pom_hash >"$MARKER"
}

running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  # Guard against a reused pid belonging to something else.
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_properties() {
  mkdir -p "$RUN_DIR/data"
  cat >"$PROPERTIES" <<EOF
# Written by deploy/local/kafka.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN_DIR/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted broker cannot register until its old session expires (9 s default).
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
# The default 128 MiB dedupe buffer is allocated on the heap.
log.cleaner.dedupe.buffer.size=2097152
EOF
}

# C1 only (TieredStopAtLevel=1) starts the broker ~30% faster on 2 cores; throughput does not
# matter here. BEHALF_KAFKA_JAVA_OPTS (word-split) is appended, so it can override these.
read -r -a extra_java_opts <<<"${BEHALF_KAFKA_JAVA_OPTS:-}"
java_opts=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
  "-Dlog4j2.configurationFile=$LOG4J_CONFIG" "-Dkafka.logs.dir=$RUN_DIR" "${extra_java_opts[@]}")

format_storage() {
  [[ -f $RUN_DIR/data/meta.properties ]] && return
  # Same form as `StorageTool random-uuid` (URL-safe base64 of 16 random bytes, no padding,
  # never starting with "-") without paying for a JVM start.
  local cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  java "${java_opts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$PROPERTIES" --ignore-formatted >&2 || die "formatting storage failed"
}

# A real metadata request through aiokafka when the python has it; the log line otherwise.
PROBE='
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient
async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        sys.exit(0 if cluster["brokers"] else 1)
    finally:
        await admin.close()
asyncio.run(main())
'

is_ready() {
  grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null || return 1
  if "$PYTHON" -c 'import aiokafka' 2>/dev/null; then
    timeout 10 "$PYTHON" -c "$PROBE" "127.0.0.1:$PORT" >/dev/null 2>&1
  fi
}

fail_start() {
  log "error: $1"
  log "--- tail of $LOG_FILE"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
  log "--- tail of $STDOUT_FILE"
  tail -n 20 "$STDOUT_FILE" >&2 2>/dev/null || true
  exit 1
}

cmd_start() {
  if running_pid >/dev/null; then
    log "already running (pid $(cat "$PID_FILE"))"
    echo "127.0.0.1:$PORT"
    return
  fi
  cmd_fetch
  ensure_java
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_in_use "$p"; then die "port $p on 127.0.0.1 is already in use"; fi
  done
  write_properties
  format_storage
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (run folder $RUN_DIR)"
  # Keep the previous run's log; readiness looks for a line in this run's log only.
  [[ ! -f $LOG_FILE ]] || mv -f "$LOG_FILE" "$LOG_FILE.previous"
  # setsid: not killed by a Ctrl-C aimed at the caller; all fds redirected so callers that
  # capture our output do not wait on the broker.
  setsid nohup java "${java_opts[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$PROPERTIES" \
    >"$STDOUT_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until is_ready; do
    running_pid >/dev/null || fail_start "broker exited during startup"
    ((SECONDS < deadline)) || fail_start "not ready after ${START_TIMEOUT}s"
    sleep 0.5
  done
  log "ready after $((SECONDS - deadline + START_TIMEOUT))s"
  echo "127.0.0.1:$PORT"
}

wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return
  fi
  log "stopping pid $pid"
  kill -TERM "$pid"
  if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
    log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  rm -f "$PID_FILE"
}

cmd_kill() {
  local pid
  if pid=$(running_pid); then
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  rm -f "$PID_FILE"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "running pid $pid bootstrap 127.0.0.1:$PORT"
  else
    echo "stopped"
    exit 3
  fi
}

case ${1:-} in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  kill) cmd_kill ;;
  status) cmd_status ;;
  bootstrap) echo "127.0.0.1:$PORT" ;;
  *) echo "usage: $0 {fetch|start|stop|kill|status|bootstrap}" >&2; exit 2 ;;
esac
