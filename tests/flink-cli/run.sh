#!/usr/bin/env bash
# The real `flink` CLI (apache-flink 2.3.0 from PyPI) against a Riffle session
# cluster: `flink list`, `flink list -a`, `flink cancel`, `flink checkpoint`,
# `flink savepoint` and `flink stop` must see and act on the jobs Riffle runs.
# Starts a JobManager and a TaskManager on 127.0.0.1, stops them on exit.
#
#   RIFFLE_BIN   the riffle binary (default: target/debug/riffle, built if missing)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$("$ROOT/tests/differential/setup_flink.sh" | tail -n 1)"
export FLINK_HOME
FLINK_HOME="$("$PY" -c 'import os, pyflink; print(pyflink.__path__[0])')"
FLINK="$FLINK_HOME/bin/flink"
RIFFLE="${RIFFLE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/riffle}"
if [[ ! -x "$RIFFLE" ]]; then
    (cd "$ROOT" && cargo build --bin riffle)
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "flink-cli: FAILED: $*" >&2
    for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REST="$(free_port)"; RPC="$(free_port)"; PROM_JM="$(free_port)"; PROM_TM="$(free_port)"
props() {
    printf 'jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: %s\njobmanager.bind-host: 127.0.0.1\n' "$RPC"
    printf 'rest.address: 127.0.0.1\nrest.bind-address: 127.0.0.1\nrest.port: %s\n' "$REST"
    printf 'taskmanager.host: 127.0.0.1\ntaskmanager.bind-host: 127.0.0.1\ntaskmanager.numberOfTaskSlots: 2\n'
    printf 'metrics.reporter.prom.port: %s\n' "$1"
}
RIFFLE_PROPERTIES="$(props "$PROM_JM")" "$RIFFLE" jobmanager >"$work/jobmanager.log" 2>&1 &
pids+=($!)
RIFFLE_PROPERTIES="$(props "$PROM_TM")" "$RIFFLE" taskmanager >"$work/taskmanager.log" 2>&1 &
pids+=($!)
M="127.0.0.1:$REST"

for _ in $(seq 1 100); do
    if curl -sf "http://$M/overview" | grep -q '"taskmanagers":1'; then break; fi
    sleep 0.1
done
curl -sf "http://$M/overview" | grep -q '"taskmanagers":1' || fail "the cluster did not come up"

cat >"$work/finite.sql" <<'SQL'
CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1000');
CREATE TABLE done_sink (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO done_sink SELECT id FROM src;
SQL
cat >"$work/endless.sql" <<'SQL'
CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');
CREATE TABLE endless_sink (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO endless_sink SELECT id FROM src;
SQL
job_id() { awk '/JobID/ {print $NF}'; }
finished="$("$RIFFLE" run -m "$M" "$work/finite.sql" | job_id)"
running="$("$RIFFLE" run -m "$M" -d "$work/endless.sql" | job_id)"
[[ ${#finished} == 32 && ${#running} == 32 ]] || fail "no job ids ($finished, $running)"
for _ in $(seq 1 100); do
    if curl -sf "http://$M/jobs/$running/status" | grep -q RUNNING; then break; fi
    sleep 0.1
done

echo "== flink list -m $M"
out="$("$FLINK" list -m "$M" 2>&1)" || fail "flink list exited $?: $out"
echo "$out"
grep -q " : $running : insert-into_endless_sink (RUNNING)" <<<"$out" || fail "flink list does not show the running job"
grep -q "$finished" <<<"$out" && fail "flink list shows the finished job"

echo "== flink list -a -m $M"
out="$("$FLINK" list -a -m "$M" 2>&1)" || fail "flink list -a exited $?: $out"
echo "$out"
grep -q " : $running : insert-into_endless_sink (RUNNING)" <<<"$out" || fail "flink list -a lacks the running job"
grep -q " : $finished : insert-into_done_sink (FINISHED)" <<<"$out" || fail "flink list -a lacks the finished job"

echo "== flink cancel -m $M $running"
out="$("$FLINK" cancel -m "$M" "$running" 2>&1)" || fail "flink cancel exited $?: $out"
echo "$out"
grep -q "Cancelled job $running" <<<"$out" || fail "flink cancel did not confirm"
for _ in $(seq 1 100); do
    if curl -sf "http://$M/jobs/$running/status" | grep -q CANCELED; then break; fi
    sleep 0.1
done
out="$("$FLINK" list -a -m "$M" 2>&1)" || fail "flink list -a exited $?: $out"
echo "$out"
grep -q " : $running : insert-into_endless_sink (CANCELED)" <<<"$out" || fail "the cancelled job is not CANCELED"
grep -q "No running jobs" <<<"$out" || fail "a job is still running"

cat >"$work/stateful.sql" <<'SQL'
CREATE TABLE src (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000',
    'fields.k.min' = '1', 'fields.k.max' = '50');
CREATE TABLE counts (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO counts SELECT k, COUNT(*) FROM src GROUP BY k;
SQL
stateful="$("$RIFFLE" run -m "$M" -d -D execution.checkpointing.interval=1h \
    -D "execution.checkpointing.dir=$work/checkpoints" "$work/stateful.sql" | job_id)"
[[ ${#stateful} == 32 ]] || fail "no job id for the stateful job"
for _ in $(seq 1 100); do
    if curl -sf "http://$M/jobs/$stateful" | grep -q '"RUNNING":1,'; then break; fi
    sleep 0.1
done
sleep 1

echo "== flink checkpoint -m $M $stateful"
out="$("$FLINK" checkpoint -m "$M" "$stateful" 2>&1)" || fail "flink checkpoint exited $?: $out"
echo "$out"
grep -Eq "Checkpoint.* for job $stateful completed" <<<"$out" || fail "flink checkpoint did not confirm"
ls "$work/checkpoints/$stateful"/chk-*/_metadata >/dev/null || fail "no checkpoint metadata written"

echo "== flink savepoint -m $M $stateful $work/savepoints"
out="$("$FLINK" savepoint -m "$M" "$stateful" "$work/savepoints" 2>&1)" || fail "flink savepoint exited $?: $out"
echo "$out"
path="$(sed -n 's/^Savepoint completed. Path: //p' <<<"$out" | sed 's#^file:##')"
[[ -f "$path/_metadata" ]] || fail "flink savepoint printed no savepoint path with _metadata ($path)"

echo "== flink stop -m $M -p $work/savepoints $stateful"
out="$("$FLINK" stop -m "$M" -p "$work/savepoints" "$stateful" 2>&1)" || fail "flink stop exited $?: $out"
echo "$out"
stopped="$(sed -n 's/^Savepoint completed. Path: //p' <<<"$out" | sed 's#^file:##')"
[[ -f "$stopped/_metadata" ]] || fail "flink stop printed no savepoint path with _metadata ($stopped)"
for _ in $(seq 1 100); do
    if curl -sf "http://$M/jobs/$stateful/status" | grep -q FINISHED; then break; fi
    sleep 0.1
done
curl -sf "http://$M/jobs/$stateful/status" | grep -q FINISHED || fail "the stopped job did not finish"

echo "flink-cli: 6 commands checked, all passed"
