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
# SASL mode only (BEHALF_KAFKA_SASL=1), on a running broker:
#   acls PREFIX [GROUP]    grant each service identity what it needs on the topics of PREFIX
#                          (and the dispatcher's consumer groups GROUP.*; default
#                          behalf-dispatcher), including CREATE on PREFIX.* for the registry
#                          and dispatcher unless BEHALF_KAFKA_ACL_CREATE=0 (topics created by
#                          an operator, as in production); `start` does this once for
#                          BEHALF_KAFKA_ACL_PREFIX (default $BEHALF_TOPIC_PREFIX or behalf;
#                          empty: none) and BEHALF_DISPATCHER_GROUP
#   list-acls              print every ACL binding
#   client-env NAME        print the BEHALF_KAFKA_* settings (password included) for user NAME
#   set-password NAME      give user NAME a new random SCRAM password (rotation)
#
# Env: BEHALF_KAFKA_DIR (run folder; default $REPO/.run/kafka, or .run/kafka-sasl in SASL
#      mode), BEHALF_KAFKA_PORT (59092), BEHALF_KAFKA_CONTROLLER_PORT (port+1),
#      BEHALF_KAFKA_JIT (quick: C1 only, the fastest start, the default; full: the JVM's
#      C1 and C2, as a production broker runs, for benchmarks that warm it up first),
#      BEHALF_KAFKA_JAVA_OPTS (extra JVM flags), BEHALF_PYTHON (a python with aiokafka for the
#      readiness probe; default python3), BEHALF_KAFKA_SASL (1: the client listener is
#      SASL_SSL with SCRAM-SHA-512 and the StandardAuthorizer; fixed when storage is formatted).
#
# SASL mode keeps its secrets in $RUN_DIR/sasl (mode 700): a CA and the broker's certificate
# for 127.0.0.1/localhost (ca.pem is what clients trust), one SCRAM password per user (users),
# and admin.properties (a Kafka client config for the super user behalf-admin). Users:
# behalf-admin (super user), behalf-verifier, behalf-registry, behalf-dispatcher. The
# controller listener is SASL_PLAINTEXT/PLAIN on loopback for behalf-admin only.
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

SASL=${BEHALF_KAFKA_SASL:-0}
[[ $SASL == 0 || $SASL == 1 ]] || { echo "kafka.sh: BEHALF_KAFKA_SASL must be 0 or 1" >&2; exit 2; }
if [[ $SASL == 1 ]]; then
  RUN_DIR=${BEHALF_KAFKA_DIR:-$REPO/.run/kafka-sasl}
else
  RUN_DIR=${BEHALF_KAFKA_DIR:-$REPO/.run/kafka}
fi
PORT=${BEHALF_KAFKA_PORT:-59092}
CONTROLLER_PORT=${BEHALF_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
PYTHON=${BEHALF_PYTHON:-python3}
PID_FILE="$RUN_DIR/kafka.pid"
LOG_FILE="$RUN_DIR/server.log"
STDOUT_FILE="$RUN_DIR/stdout.log"
PROPERTIES="$RUN_DIR/server.properties"
START_TIMEOUT=90
STOP_TIMEOUT=30
MODE_FILE="$RUN_DIR/storage-mode"
SASL_DIR="$RUN_DIR/sasl"
USERS_FILE="$SASL_DIR/users"
ADMIN_PROPERTIES="$SASL_DIR/admin.properties"
ADMIN_USER=behalf-admin
SCRAM_USERS=("$ADMIN_USER" behalf-verifier behalf-registry behalf-dispatcher)

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

# 32 letters and digits (about 190 bits), safe inside SCRAM and JAAS syntax.
new_password() {
  local raw
  raw=$(head -c 48 /dev/urandom | base64 -w0 | tr -d '+/=')
  echo "${raw:0:32}"
}

password_of() {
  local name=$1 user pass
  while read -r user pass; do
    [[ $user == "$name" ]] && { echo "$pass"; return; }
  done <"$USERS_FILE"
  die "no SCRAM user $name in $USERS_FILE"
}

# A CA, the broker's certificate (PEM with its key, as Kafka's PEM keystore wants) and a
# password per user, made once; the passwords reach the broker when storage is formatted.
ensure_sasl_material() {
  command -v openssl >/dev/null || apt_install openssl
  (
    umask 077
    mkdir -p "$SASL_DIR"
    cd "$SASL_DIR"
    if [[ ! -f broker.pem ]]; then
      log "generating a CA and a broker certificate in $SASL_DIR"
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -keyout ca.key -out ca.pem -subj "/CN=Behalf local Kafka CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        "extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=CA:FALSE" >broker.ext
      openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile broker.ext -out broker.crt 2>/dev/null
      cat broker.key broker.crt >broker.pem
      rm -f broker.csr broker.ext broker.key broker.crt
      chmod 644 ca.pem
    fi
    if [[ ! -f users ]]; then
      [[ ! -f $RUN_DIR/data/meta.properties ]] ||
        die "$RUN_DIR was formatted without SCRAM users; remove it or use another BEHALF_KAFKA_DIR"
      for user in "${SCRAM_USERS[@]}"; do
        echo "$user $(new_password)"
      done >users
    fi
  )
  chmod 700 "$SASL_DIR"
  local admin_password
  admin_password=$(password_of "$ADMIN_USER")
  (
    umask 077
    cat >"$ADMIN_PROPERTIES" <<EOF
bootstrap.servers=127.0.0.1:$PORT
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$admin_password";
ssl.truststore.type=PEM
ssl.truststore.location=$SASL_DIR/ca.pem
EOF
  )
}

listener_properties() {
  if [[ $SASL == 0 ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  local admin_password
  admin_password=$(password_of "$ADMIN_USER")
  # Clients and the broker itself (transaction markers) use SASL_SSL with SCRAM; the
  # controller listener takes PLAIN from behalf-admin only (SCRAM credentials live in the
  # metadata the controller serves, so they cannot guard it).
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$PORT
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$admin_password";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$admin_password" user_$ADMIN_USER="$admin_password";
ssl.keystore.type=PEM
ssl.keystore.location=$SASL_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SASL_DIR/ca.pem
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$ADMIN_USER
allow.everyone.if.no.acl.found=false
EOF
}

write_properties() {
  mkdir -p "$RUN_DIR/data"
  [[ $SASL == 0 ]] || ensure_sasl_material
  local listeners
  listeners=$(listener_properties)
  # The SASL listener's config holds the admin password.
  (umask 077; cat >"$PROPERTIES") <<EOF
# Written by deploy/local/kafka.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
$listeners
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

# C1 only (TieredStopAtLevel=1) starts the broker ~30% faster on 2 cores, which tests and
# `make run` want. Once warm, C2's code costs half the broker CPU per audit transaction and
# commits it sooner, so the Verify benchmark asks for the full JIT (BEHALF_KAFKA_JIT=full) and
# warms the broker first. Young collections matter everywhere: every audit commit in flight
# waits out each pause, so they set Verify's tail. A 512 MiB young generation collects every
# ~13-18 s under Verify load instead of every second, and the parallel collector keeps each
# pause to 10-29 ms where the serial one took 34-49 ms (docs/benchmarks.md, "Analysis").
# Untouched heap is never resident. BEHALF_KAFKA_JAVA_OPTS (word-split) is appended, so it can
# override these (another collector needs -XX:-UseParallelGC first).
read -r -a extra_java_opts <<<"${BEHALF_KAFKA_JAVA_OPTS:-}"
case ${BEHALF_KAFKA_JIT:-quick} in
  quick) jit_opts=(-XX:TieredStopAtLevel=1) ;;
  full) jit_opts=() ;;
  *) die "BEHALF_KAFKA_JIT must be quick or full, not '${BEHALF_KAFKA_JIT}'" ;;
esac
java_opts=(-Xms768m -Xmx768m -Xmn512m -XX:+UseParallelGC "${jit_opts[@]}"
  "-Dlog4j2.configurationFile=$LOG4J_CONFIG" "-Dkafka.logs.dir=$RUN_DIR" "${extra_java_opts[@]}")

format_storage() {
  local mode=plaintext
  [[ $SASL == 0 ]] || mode=sasl
  if [[ -f $RUN_DIR/data/meta.properties ]]; then
    [[ $(cat "$MODE_FILE" 2>/dev/null || echo plaintext) == "$mode" ]] ||
      die "$RUN_DIR was formatted for another mode than BEHALF_KAFKA_SASL=$SASL; use another BEHALF_KAFKA_DIR"
    return
  fi
  local scram=() user pass
  if [[ $SASL == 1 ]]; then
    while read -r user pass; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pass]")
    done <"$USERS_FILE"
  fi
  # Same form as `StorageTool random-uuid` (URL-safe base64 of 16 random bytes, no padding,
  # never starting with "-") without paying for a JVM start.
  local cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  java "${java_opts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$PROPERTIES" --ignore-formatted "${scram[@]}" >&2 ||
    die "formatting storage failed"
  echo "$mode" >"$MODE_FILE"
}

# A real metadata request through aiokafka when the python has it; the log line otherwise.
# In SASL mode it authenticates as behalf-admin (password from the environment, not argv).
PROBE='
import asyncio, os, sys
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
async def main() -> None:
    security = {}
    if os.environ.get("PROBE_PASSWORD"):
        security = dict(
            security_protocol="SASL_SSL",
            ssl_context=create_ssl_context(cafile=os.environ["PROBE_CA_FILE"]),
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=os.environ["PROBE_USERNAME"],
            sasl_plain_password=os.environ["PROBE_PASSWORD"],
        )
    admin = AIOKafkaAdminClient(
        bootstrap_servers=sys.argv[1], request_timeout_ms=3000, **security
    )
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
    if [[ $SASL == 1 ]]; then
      PROBE_CA_FILE="$SASL_DIR/ca.pem" PROBE_USERNAME=$ADMIN_USER \
        PROBE_PASSWORD=$(password_of "$ADMIN_USER") \
        timeout 10 "$PYTHON" -c "$PROBE" "127.0.0.1:$PORT" >/dev/null 2>&1
    else
      timeout 10 "$PYTHON" -c "$PROBE" "127.0.0.1:$PORT" >/dev/null 2>&1
    fi
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
  local pid=$!
  echo "$pid" >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until is_ready; do
    # Our own child, so no cmdline guard: until setsid and nohup have exec'd java, its
    # cmdline is still this script's, and running_pid would call a starting broker dead.
    kill -0 "$pid" 2>/dev/null || fail_start "broker exited during startup"
    ((SECONDS < deadline)) || fail_start "not ready after ${START_TIMEOUT}s"
    sleep 0.5
  done
  log "ready after $((SECONDS - deadline + START_TIMEOUT))s"
  if [[ $SASL == 1 ]]; then
    local prefix=${BEHALF_KAFKA_ACL_PREFIX-${BEHALF_TOPIC_PREFIX:-behalf}}
    [[ -z $prefix || -f $SASL_DIR/acls-$prefix ]] ||
      cmd_acls "$prefix" "${BEHALF_DISPATCHER_GROUP:-}"
  fi
  echo "127.0.0.1:$PORT"
}

# ---- SASL mode: ACLs, credentials -------------------------------------------------------

require_sasl() {
  [[ $SASL == 1 ]] || die "$1 needs BEHALF_KAFKA_SASL=1"
  [[ -f $USERS_FILE ]] || die "no SASL material in $SASL_DIR; run start first"
}

# The Admin API through deploy/local/kafka/KafkaAdmin.java (Java's source launcher), as
# behalf-admin; stdin passes through.
kafka_admin() {
  java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    "-Dlog4j2.configurationFile=$LOG4J_CONFIG" "-Dkafka.logs.dir=$RUN_DIR/tools" \
    -cp "$LIB_DIR/*" "$HERE/kafka/KafkaAdmin.java" "$1" "$ADMIN_PROPERTIES"
}

# What each service identity may do, for topic prefix $1 and dispatcher group prefix $2
# (docs/operations.md, Kafka section, explains each line). WRITE and READ imply DESCRIBE;
# since Kafka 3.0 WRITE on a topic also allows an idempotent producer's InitProducerId.
service_acls() {
  local p=$1 g=$2
  if [[ ${BEHALF_KAFKA_ACL_CREATE:-1} == 1 ]]; then
    echo "User:behalf-registry TOPIC PREFIXED $p. CREATE"
    echo "User:behalf-dispatcher TOPIC PREFIXED $p. CREATE"
  fi
  cat <<EOF
User:behalf-verifier TOPIC LITERAL $p.decisions WRITE
User:behalf-verifier TRANSACTIONAL_ID PREFIXED behalf-verifier- WRITE
User:behalf-registry TOPIC LITERAL $p.lifecycle WRITE
User:behalf-registry TOPIC LITERAL $p.decisions READ
User:behalf-registry GROUP LITERAL $p.registry-audit READ
User:behalf-dispatcher TOPIC LITERAL $p.decisions READ
User:behalf-dispatcher TOPIC LITERAL $p.lifecycle READ
User:behalf-dispatcher TOPIC PREFIXED $p.webhooks.retry. READ
User:behalf-dispatcher TOPIC PREFIXED $p.webhooks.retry. WRITE
User:behalf-dispatcher TOPIC LITERAL $p.webhooks.dead WRITE
User:behalf-dispatcher GROUP PREFIXED $g. READ
EOF
}

cmd_acls() {
  local prefix=${1:-} group=${2:-}
  [[ -n $prefix ]] || die "usage: kafka.sh acls PREFIX [GROUP]"
  group=${group:-behalf-dispatcher}
  require_sasl acls
  running_pid >/dev/null || die "broker not running"
  service_acls "$prefix" "$group" | kafka_admin acls || die "applying ACLs failed"
  touch "$SASL_DIR/acls-$prefix"
  log "ACLs applied for topic prefix $prefix and dispatcher groups $group.*"
}

cmd_client_env() {
  local name=${1:-}
  [[ -n $name ]] || die "usage: kafka.sh client-env NAME"
  require_sasl client-env
  echo "BEHALF_KAFKA_BOOTSTRAP=127.0.0.1:$PORT"
  echo "BEHALF_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
  echo "BEHALF_KAFKA_CA_FILE=$SASL_DIR/ca.pem"
  echo "BEHALF_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "BEHALF_KAFKA_USERNAME=$name"
  echo "BEHALF_KAFKA_PASSWORD=$(password_of "$name")"
}

# Rotation: the new password is set on the broker first, then recorded; connections already
# authenticated stay up, new ones need the new password.
cmd_set_password() {
  local name=${1:-} password
  [[ -n $name ]] || die "usage: kafka.sh set-password NAME"
  require_sasl set-password
  [[ $name != "$ADMIN_USER" ]] ||
    die "$ADMIN_USER's password is also in server.properties; rotate it by hand (docs/operations.md)"
  password_of "$name" >/dev/null
  running_pid >/dev/null || die "broker not running"
  password=$(new_password)
  echo "$name $password" | kafka_admin scram || die "setting the password failed"
  (
    umask 077
    awk -v n="$name" -v p="$password" '$1 == n { $2 = p } { print }' "$USERS_FILE" \
      >"$USERS_FILE.new"
    mv -f "$USERS_FILE.new" "$USERS_FILE"
  )
  log "new SCRAM-SHA-512 password set for $name"
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
  acls) cmd_acls "${2:-}" "${3:-}" ;;
  list-acls) require_sasl list-acls; kafka_admin list </dev/null ;;
  client-env) cmd_client_env "${2:-}" ;;
  set-password) cmd_set_password "${2:-}" ;;
  *)
    echo "usage: $0 {fetch|start|stop|kill|status|bootstrap|acls|list-acls|client-env|set-password}" >&2
    exit 2
    ;;
esac
