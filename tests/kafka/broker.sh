#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on
# 127.0.0.1 for the test tiers of the Kafka connector.
#
#   broker.sh fetch        resolve the broker's jars (and Flink's SQL Kafka connector jar) from
#                          Maven Central into the cache; idempotent, a no-op when present
#   broker.sh start DIR    format a fresh KRaft storage in DIR, start the broker in the
#                          background, wait until it serves requests; prints the bootstrap
#                          address (also written to DIR/bootstrap; the pid to DIR/broker.pid)
#   broker.sh stop DIR     SIGTERM, then SIGKILL after a timeout; leaves no process behind
#   broker.sh status DIR   exit 0 and print the bootstrap address if DIR's broker runs
#   broker.sh run CLASS [ARGS...]
#                          run a main class from the broker's jars (the kafka-run-class.sh of
#                          the distribution), e.g. org.apache.kafka.tools.TopicCommand
#   broker.sh paths        print KAFKA_VERSION, KAFKA_LIBS and FLINK_KAFKA_CONNECTOR_JAR as
#                          shell assignments (for `eval "$(broker.sh paths)"`)
#
# The versions live in pom.xml beside this script (kafka.version,
# flink.kafka.connector.version); the cache is keyed by them.
#
# Environment:
#   RIFFLE_CACHE                  cache root (default ~/.cache/riffle); jars go to
#                                 $RIFFLE_CACHE/kafka/<version>/libs and
#                                 $RIFFLE_CACHE/kafka/flink-connector/
#   RIFFLE_KAFKA_BOOTSTRAP        use this Kafka instead: `start` starts nothing and prints it,
#                                 `stop` stops nothing
#   RIFFLE_KAFKA_HEAP             heap flags (default "-Xms128m -Xmx512m": the machines have 2 cores
#                                 and the tests are small)
#   RIFFLE_KAFKA_EXTRA_PROPERTIES extra server.properties lines, appended last (so they win),
#                                 e.g. a shorter transaction.abort.timed.out.transaction.cleanup.interval.ms
#   RIFFLE_KAFKA_START_TIMEOUT    seconds to wait for the broker (default 90)
#   RIFFLE_KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (default 30)
#   JAVA_HOME                     the Java to use (default: `java` on PATH); 17 or newer
#
# Messages go to stderr; stdout carries only the results named above, so callers can capture it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly POM="$HERE/pom.xml"
readonly CACHE="${RIFFLE_CACHE:-$HOME/.cache/riffle}"

log() { echo "broker.sh: $*" >&2; }
die() {
    echo "broker.sh: error: $*" >&2
    exit 1
}

# One <name>value</name> property of the pom. A sed, not mvn help:evaluate, because that would
# cost a Maven start (seconds) on every `start`.
pom_property() {
    local value
    value="$(sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p" "$POM" | head -n 1)"
    [[ -n "$value" ]] || die "property <$1> not found in $POM"
    printf '%s\n' "$value"
}

KAFKA_VERSION="$(pom_property kafka.version)"
CONNECTOR_VERSION="$(pom_property flink.kafka.connector.version)"
readonly KAFKA_VERSION CONNECTOR_VERSION
readonly KAFKA_HOME="$CACHE/kafka/$KAFKA_VERSION"
readonly LIBS="$KAFKA_HOME/libs"
# Written last by a successful fetch, holding the pom's hash: a fetch cut short leaves no stamp,
# and an edited pom (a new dependency, another version) makes the next fetch run again.
readonly LIBS_STAMP="$KAFKA_HOME/.fetched"
readonly CONNECTOR_DIR="$CACHE/kafka/flink-connector"
readonly CONNECTOR_JAR="$CONNECTOR_DIR/flink-sql-connector-kafka-$CONNECTOR_VERSION.jar"
readonly TOOLS_LOG4J="$KAFKA_HOME/tools-log4j2.properties"
readonly BROKER_MAIN="kafka.Kafka"
readonly STORAGE_TOOL="kafka.tools.StorageTool"

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

libs_present() {
    [[ -f "$LIBS_STAMP" && "$(cat "$LIBS_STAMP")" == "$(pom_hash)" && -d "$LIBS" ]]
}

# --- Java -------------------------------------------------------------------------------------

JAVA=""
require_java() {
    if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
        JAVA="$JAVA_HOME/bin/java"
    else
        JAVA="$(command -v java || true)"
    fi
    [[ -n "$JAVA" ]] || die "no Java found. Kafka $KAFKA_VERSION needs Java 17 or newer:" \
        "install one (Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME."
    # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_402" for 8).
    local version major
    version="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
    major="${version%%.*}"
    if [[ "$major" == "1" ]]; then
        major="$(cut -d. -f2 <<<"$version")"
    fi
    [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the version of $JAVA (got '$version')"
    if ((major < 17)); then
        die "$JAVA is Java $version; Kafka $KAFKA_VERSION's broker needs Java 17 or newer" \
            "(Debian: apt-get install -y openjdk-17-jre-headless, or set JAVA_HOME)."
    fi
}

require_libs() {
    libs_present || die "the Kafka $KAFKA_VERSION jars are not in $LIBS (or $POM changed since" \
        "they were fetched). Run: $HERE/broker.sh fetch"
}

# --- fetch ------------------------------------------------------------------------------------

cmd_fetch() {
    mkdir -p "$CACHE/kafka"
    # Several test processes may fetch at once; let one do it and the others find it done.
    exec 9>"$CACHE/kafka/.fetch.lock"
    flock 9

    if libs_present && [[ -s "$CONNECTOR_JAR" ]]; then
        log "Kafka $KAFKA_VERSION jars present in $LIBS; connector in $CONNECTOR_JAR"
        exec 9>&-
        return 0
    fi

    command -v mvn >/dev/null 2>&1 ||
        die "Maven (mvn) not found; it resolves the broker from Maven Central." \
            "Install it (Debian: apt-get install -y maven) and run fetch again."
    # -B/-ntp keep the output to a few lines; --quiet would also hide why a resolution failed.
    local mvn=(mvn -B -ntp -f "$POM")

    if ! libs_present; then
        log "fetching Kafka $KAFKA_VERSION (kafka_2.13, kafka-tools and their runtime jars) into $LIBS"
        # Into a scratch directory, then renamed: a cut-short fetch never looks complete, and
        # jars of an earlier pom do not linger beside the new ones.
        local tmp="$KAFKA_HOME/libs.tmp.$$"
        rm -rf "$tmp"
        mkdir -p "$tmp"
        if ! "${mvn[@]}" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$tmp" >"$KAFKA_HOME/fetch.log" 2>&1; then
            rm -rf "$tmp"
            tail -n 40 "$KAFKA_HOME/fetch.log" >&2
            die "Maven could not resolve the Kafka jars (log above, full log: $KAFKA_HOME/fetch.log)"
        fi
        rm -rf "$LIBS"
        mv "$tmp" "$LIBS"
        pom_hash >"$LIBS_STAMP"
    fi

    if [[ ! -s "$CONNECTOR_JAR" ]]; then
        log "fetching flink-sql-connector-kafka $CONNECTOR_VERSION into $CONNECTOR_DIR"
        mkdir -p "$CONNECTOR_DIR"
        # The connector is not a dependency of the pom (copy-dependencies would put it among the
        # broker's jars); it is the artifactItem of the pom's `flink-connector` execution.
        if ! "${mvn[@]}" dependency:copy@flink-connector -Dflink.connector.dir="$CONNECTOR_DIR" \
            >"$CONNECTOR_DIR/fetch.log" 2>&1; then
            tail -n 40 "$CONNECTOR_DIR/fetch.log" >&2
            die "Maven could not resolve flink-sql-connector-kafka $CONNECTOR_VERSION" \
                "(log above, full log: $CONNECTOR_DIR/fetch.log)"
        fi
        [[ -s "$CONNECTOR_JAR" ]] || die "Maven succeeded but $CONNECTOR_JAR is missing"
    fi
    exec 9>&-
    log "done: $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS ($(du -sh "$LIBS" | cut -f1));" \
        "connector $CONNECTOR_JAR ($(du -sh "$CONNECTOR_JAR" | cut -f1))"
}

cmd_paths() {
    printf 'KAFKA_VERSION=%q\n' "$KAFKA_VERSION"
    printf 'KAFKA_LIBS=%q\n' "$LIBS"
    printf 'FLINK_KAFKA_CONNECTOR_JAR=%q\n' "$CONNECTOR_JAR"
}

# --- run a tool -------------------------------------------------------------------------------

# The tools log through log4j 2 too; without a configuration it prints to stdout, where a console
# consumer prints its records. Like the distribution's tools-log4j2.yaml: warnings, to stderr.
write_tools_log4j() {
    local config
    config="$(
        cat <<'EOF'
status = warn
# Not log4j's shutdown hook: it stops logging early and then warns about it on every exit.
shutdownHook = disable
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
EOF
    )"
    if [[ ! -f "$TOOLS_LOG4J" || "$(cat "$TOOLS_LOG4J")" != "$config" ]]; then
        printf '%s\n' "$config" >"$TOOLS_LOG4J.$$"
        mv "$TOOLS_LOG4J.$$" "$TOOLS_LOG4J"
    fi
}

cmd_run() {
    (($# >= 1)) || die "usage: broker.sh run MAIN_CLASS [ARGS...]"
    require_java
    require_libs
    write_tools_log4j
    exec "$JAVA" -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" "$@"
}

# --- start ------------------------------------------------------------------------------------

# Two distinct free TCP ports on 127.0.0.1, chosen by the kernel (bind to port 0). Another process
# can still take one before the broker binds it; start_once reports that and `start` retries.
free_ports() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
    else
        # No python3: random ports, kept if nothing answers on them.
        local ports=() port
        while ((${#ports[@]} < 2)); do
            port=$((20000 + RANDOM % 20000))
            if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [[ "${ports[0]:-}" != "$port" ]]; then
                ports+=("$port")
            fi
        done
        echo "${ports[@]}"
    fi
}

# A random KRaft cluster id: 16 random bytes in URL-safe base64 without padding (what
# `kafka-storage random-uuid` prints), made here to save a JVM start.
random_cluster_id() {
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# Sends FindCoordinator (api key 10, version 2: key, key_type) for a dummy key to the broker over
# bash's /dev/tcp and prints the response's error code (0 = the coordinator is loaded, 15 =
# COORDINATOR_NOT_AVAILABLE, ...), or nothing if the broker did not answer. key_type 1 asks for
# the transaction coordinator, 0 for the group coordinator. The first such request makes the
# broker create __transaction_state (or __consumer_offsets), so this both warms up and checks
# that transactions (or consumer groups) can be used: a JVM tool would cost seconds of start-up.
find_coordinator_error() {
    local port="$1" key_type="$2"
    local client="riffle-broker-sh" key="riffle-readiness-probe"
    # Request: int32 size, then header v1 (int16 api_key, int16 api_version, int32 correlation_id,
    # string client_id) and body v2 (string key, int8 key_type); strings are int16 length + bytes.
    local size=$((2 + 2 + 4 + 2 + ${#client} + 2 + ${#key} + 1))
    local request
    request="$(be32 "$size")$(be16 10)$(be16 2)$(be32 7)$(be16 ${#client})$client$(be16 ${#key})$key$(be8 "$key_type")"
    local fd bytes
    # (A failed exec redirection ends a non-interactive shell: callers run this in $(...).)
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 0
    { printf '%b' "$request" >&"$fd"; } 2>/dev/null || {
        exec {fd}>&-
        return 0
    }
    # Response: int32 size, int32 correlation_id, int32 throttle_time_ms, int16 error_code, ...
    bytes="$(timeout 5 head -c 14 <&"$fd" | od -An -tu1 -v | tr -s ' \n' ' ' || true)"
    exec {fd}>&-
    local b
    read -r -a b <<<"$bytes"
    if ((${#b[@]} == 14)) && ((b[7] == 7)); then
        echo $((b[12] * 256 + b[13]))
    fi
}
be8() { printf '\\x%02x' $(($1 & 255)); }
be16() { printf '\\x%02x\\x%02x' $((($1 >> 8) & 255)) $(($1 & 255)); }
be32() {
    be16 $((($1 >> 16) & 65535))
    be16 $(($1 & 65535))
}

# The process with this pid is a broker started by this script for DIR (and not, say, a process
# that got the same pid after the broker died) and is not a zombie.
is_our_broker() {
    local pid="$1" dir="$2"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # A zombie (exited, not yet reaped by a subreaper) still answers kill -0 but is gone.
    local state
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
    [[ "$state" != "Z" && -n "$state" ]] || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "-Driffle.kafka.dir=$dir"
}

stop_pid() {
    local pid="$1" dir="$2" timeout="${RIFFLE_KAFKA_STOP_TIMEOUT:-30}"
    is_our_broker "$pid" "$dir" || return 0
    # SIGTERM runs the broker's shutdown hook: a controlled shutdown that closes the logs cleanly.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while is_our_broker "$pid" "$dir" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if is_our_broker "$pid" "$dir"; then
        log "broker (pid $pid) still running ${timeout}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while is_our_broker "$pid" "$dir" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        ! is_our_broker "$pid" "$dir" || die "broker (pid $pid) survived SIGKILL"
    fi
}

write_configs() {
    local dir="$1" port="$2" controller_port="$3"
    cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/broker.sh: a single-node KRaft test broker. Regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data

# One broker: every replication factor and min ISR is 1.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The internal topics default to 50 partitions each; one is plenty here and is created faster.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1

# Tests create their topics explicitly (with the partition counts they need); a typo in a topic
# name must fail rather than create a one-partition topic.
auto.create.topics.enable=false
# Consumer groups start at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0
# Flink's Kafka sink sets transaction.timeout.ms to 1 hour by default, which a broker refuses
# above transaction.max.timeout.ms (15 minutes by default): allow it, as Flink's docs advise.
transaction.max.timeout.ms=3600000
# Records keep their timestamps, and tests use fixed ones in the past (deterministic windows):
# time-based retention (7 days) would delete them while a test reads them. Keep everything.
log.retention.ms=-1

# A small machine (2 cores): fewer threads than the defaults (3 network, 8 I/O).
num.network.threads=2
num.io.threads=4
background.threads=4
EOF
    if [[ -n "${RIFFLE_KAFKA_EXTRA_PROPERTIES:-}" ]]; then
        printf '\n# RIFFLE_KAFKA_EXTRA_PROPERTIES\n%s\n' "$RIFFLE_KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
    fi

    # The broker logs to DIR/logs/server.log (log4j 2; Kafka 4 no longer reads log4j 1 files).
    # shutdownHook = disable: log4j's own shutdown hook would otherwise stop logging before
    # Kafka's has shut the broker down, and the end of a shutdown (often what a failing test
    # needs) would be lost; the file appender flushes every line, so nothing is buffered.
    cat >"$dir/log4j2.properties" <<EOF
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-request logging and the state-change chatter are noise in test logs.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
}

print_log_tail() {
    local dir="$1" f
    for f in "$dir/logs/stdout.log" "$dir/logs/server.log"; do
        [[ -s "$f" ]] || continue
        # A failing broker logs its error first and then shuts down for a hundred lines: show the
        # first errors (with a few lines of stack trace) before the tail.
        if grep -qE '\] (ERROR|FATAL) ' "$f"; then
            echo "----- first errors in $f -----" >&2
            grep -E -A 4 '\] (ERROR|FATAL) ' "$f" | head -n 30 >&2
        fi
        echo "----- last lines of $f (without its config dump) -----" >&2
        # The broker logs its whole configuration ("<TAB>name = value" lines) at start-up;
        # those would fill the tail and hide the error. Stack traces ("<TAB>at ...") stay.
        grep -Ev $'^\t[a-z0-9._-]+ = ' "$f" | tail -n 20 >&2
    done
}

# One attempt: returns 0 when the broker is up, 2 when a port was taken meanwhile (retry with
# others), dies otherwise.
start_once() {
    local dir="$1" port="$2" controller_port="$3"
    # A fresh storage each time: tests must not see the topics, offsets or transactions of an
    # earlier run in the same DIR.
    rm -rf "$dir/data" "$dir/logs" "$dir/bootstrap" "$dir/broker.pid"
    mkdir -p "$dir/data" "$dir/logs"
    write_configs "$dir" "$port" "$controller_port"

    local cluster_id
    cluster_id="$(random_cluster_id)"
    # The storage tool logs like the other tools (warnings, to stderr, here format.log): with the
    # broker's configuration its config dump would open server.log and confuse a reader.
    write_tools_log4j
    if ! "$JAVA" -Xmx256m -XX:+UseSerialGC -Dlog4j2.configurationFile="$TOOLS_LOG4J" \
        -cp "$LIBS/*" "$STORAGE_TOOL" format --cluster-id "$cluster_id" \
        --config "$dir/server.properties" >"$dir/logs/format.log" 2>&1; then
        cat "$dir/logs/format.log" >&2
        die "formatting the KRaft storage (log.dirs, $dir/data unless overridden) failed (output above)"
    fi

    local heap
    read -r -a heap <<<"${RIFFLE_KAFKA_HEAP:--Xms128m -Xmx512m}"
    # The JVM flags of the distribution's kafka-server-start.sh, with a small heap. Every output
    # goes to files, so a caller that reads this script's stdout to the end (a test harness
    # capturing it) is not kept waiting by the broker holding the pipe open.
    # -Driffle.kafka.dir marks the process as this DIR's broker for stop/status.
    "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir/logs" \
        "-Driffle.kafka.dir=$dir" -cp "$LIBS/*" "$BROKER_MAIN" "$dir/server.properties" \
        </dev/null >"$dir/logs/stdout.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/broker.pid"

    local timeout="${RIFFLE_KAFKA_START_TIMEOUT:-90}"
    local deadline=$((SECONDS + timeout)) phase="listening" err
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            rm -f "$dir/broker.pid"
            if grep -qs "Address already in use" "$dir/logs/server.log" "$dir/logs/stdout.log"; then
                return 2
            fi
            print_log_tail "$dir"
            die "the Kafka broker exited during start-up (log tail above; logs in $dir/logs)"
        fi
        case "$phase" in
        listening)
            # The broker accepts connections only once its start-up is done (KRaft metadata
            # loaded, request handling enabled); "Kafka Server started" is logged just then.
            if grep -qs "Kafka Server started" "$dir/logs/server.log" &&
                (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                phase="groups"
                continue
            fi
            ;;
        groups)
            err="$(find_coordinator_error "$port" 0)" || err=""
            if [[ "$err" == "0" ]]; then
                phase="transactions"
                continue
            fi
            ;;
        transactions)
            err="$(find_coordinator_error "$port" 1)" || err=""
            if [[ "$err" == "0" ]]; then
                return 0
            fi
            ;;
        esac
        sleep 0.2
    done
    stop_pid "$pid" "$dir"
    rm -f "$dir/broker.pid"
    print_log_tail "$dir"
    die "the Kafka broker did not become ready within ${timeout}s (stuck at: $phase;" \
        "last coordinator error: ${err:-none}); log tail above, logs in $dir/logs." \
        "A slow machine may need RIFFLE_KAFKA_START_TIMEOUT=180."
}

cmd_start() {
    (($# == 1)) || die "usage: broker.sh start DIR"
    local dir="$1"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"

    if [[ -n "${RIFFLE_KAFKA_BOOTSTRAP:-}" ]]; then
        log "RIFFLE_KAFKA_BOOTSTRAP is set: using the Kafka at $RIFFLE_KAFKA_BOOTSTRAP, starting none"
        echo "$RIFFLE_KAFKA_BOOTSTRAP" >"$dir/bootstrap"
        echo "$RIFFLE_KAFKA_BOOTSTRAP"
        return 0
    fi

    require_java
    require_libs
    if [[ -f "$dir/broker.pid" ]] && is_our_broker "$(cat "$dir/broker.pid")" "$dir"; then
        die "a broker started in $dir still runs (pid $(cat "$dir/broker.pid"));" \
            "stop it first: $HERE/broker.sh stop $dir"
    fi

    local attempt ports rc
    for attempt in 1 2 3; do
        read -r -a ports <<<"$(free_ports)"
        rc=0
        start_once "$dir" "${ports[0]}" "${ports[1]}" || rc=$?
        if ((rc == 0)); then
            echo "127.0.0.1:${ports[0]}" >"$dir/bootstrap"
            log "Kafka $KAFKA_VERSION up at 127.0.0.1:${ports[0]} (pid $(cat "$dir/broker.pid"), logs in $dir/logs)"
            echo "127.0.0.1:${ports[0]}"
            return 0
        fi
        log "attempt $attempt: a port was taken before the broker bound it; trying other ports"
    done
    print_log_tail "$dir"
    die "could not start the broker: ports kept being taken (log tail above)"
}

# --- stop / status ----------------------------------------------------------------------------

cmd_stop() {
    (($# == 1)) || die "usage: broker.sh stop DIR"
    local dir="$1"
    [[ -d "$dir" ]] || {
        log "no directory $dir: nothing to stop"
        return 0
    }
    dir="$(cd "$dir" && pwd)"
    if [[ ! -f "$dir/broker.pid" ]]; then
        log "no broker.pid in $dir: nothing to stop"
        return 0
    fi
    local pid
    pid="$(cat "$dir/broker.pid")"
    stop_pid "$pid" "$dir"
    rm -f "$dir/broker.pid" "$dir/bootstrap"
    log "broker of $dir stopped"
}

cmd_status() {
    (($# == 1)) || die "usage: broker.sh status DIR"
    local dir="$1"
    [[ -d "$dir" ]] || return 1
    dir="$(cd "$dir" && pwd)"
    if [[ -n "${RIFFLE_KAFKA_BOOTSTRAP:-}" ]]; then
        echo "$RIFFLE_KAFKA_BOOTSTRAP"
        return 0
    fi
    if [[ -f "$dir/broker.pid" && -f "$dir/bootstrap" ]] && is_our_broker "$(cat "$dir/broker.pid")" "$dir"; then
        cat "$dir/bootstrap"
        return 0
    fi
    return 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    local cmd="$1"
    shift
    case "$cmd" in
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    run) cmd_run "$@" ;;
    paths) cmd_paths "$@" ;;
    -h | --help | help) usage ;;
    *)
        log "unknown command '$cmd'"
        usage
        ;;
    esac
}

main "$@"
