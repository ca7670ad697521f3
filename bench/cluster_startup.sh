#!/usr/bin/env bash
# Start-up time and idle memory of the cluster processes. For each of N rounds:
# starts a JobManager and a TaskManager together on free 127.0.0.1 ports and measures
#   - ms from starting the JobManager until its REST API answers,
#   - ms from starting both until the TaskManager is registered: from then on
#     a submitted job is deployed at once (the cluster accepts jobs),
#   - idle RSS of each process 1 s after that, before any job (from /proc),
#   - ms from submitting a small job (POST /v1/sql/jobs) until it is RUNNING.
# Prints one Markdown row per round and the medians.
#
#   bench/cluster_startup.sh [-n ROUNDS]      RIFFLE_BIN defaults to a release build
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ROUNDS=5
[[ "${1:-}" == "-n" ]] && ROUNDS="$2"
if [[ -z "${RIFFLE_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p riffle-cli --quiet)
    RIFFLE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/riffle"
fi
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cat >"$work/job.sql" <<'SQL'
CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '1');
CREATE TABLE k (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO k SELECT id FROM src;
SQL
python3 -c 'import json,sys; print(json.dumps({"script": open(sys.argv[1]).read()}))' \
    "$work/job.sql" >"$work/body.json"

echo "| round | JM REST up ms | start to accepting jobs ms | JM idle RSS MiB | TM idle RSS MiB | submit to RUNNING ms |"
echo "| --- | --- | --- | --- | --- | --- |"
declare -a A B C D E
for r in $(seq 1 "$ROUNDS"); do
    REST="$(free_port)"; RPC="$(free_port)"
    props="jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $RPC
jobmanager.bind-host: 127.0.0.1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $REST
taskmanager.host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
metrics.reporter.prom.port: 0"
    t0="$(now_ms)"
    RIFFLE_PROPERTIES="$props" "$RIFFLE_BIN" jobmanager >"$work/jm.log" 2>&1 &
    jm=$!; pids+=("$jm")
    RIFFLE_PROPERTIES="$props" "$RIFFLE_BIN" taskmanager >"$work/tm.log" 2>&1 &
    tm=$!; pids+=("$tm")
    until curl -sf "http://127.0.0.1:$REST/overview" >/dev/null; do sleep 0.002; done
    t_rest="$(now_ms)"
    until curl -sf "http://127.0.0.1:$REST/overview" | grep -q '"taskmanagers":1'; do sleep 0.002; done
    t_reg="$(now_ms)"
    sleep 1
    D[$r]="$(rss_mib "$jm")"; E[$r]="$(rss_mib "$tm")"
    t_sub="$(now_ms)"
    id="$(curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/body.json" \
        "http://127.0.0.1:$REST/v1/sql/jobs" | sed -E 's/.*"jobid":"([0-9a-f]{32})".*/\1/')"
    until curl -sf "http://127.0.0.1:$REST/jobs/$id/status" | grep -q RUNNING; do sleep 0.002; done
    t_run="$(now_ms)"
    curl -sf -X PATCH "http://127.0.0.1:$REST/jobs/$id?mode=cancel" >/dev/null
    until curl -sf "http://127.0.0.1:$REST/jobs/$id/status" | grep -q CANCELED; do sleep 0.01; done
    A[$r]=$((t_rest - t0)); B[$r]=$((t_reg - t0)); C[$r]=$((t_run - t_sub))
    echo "| $r | ${A[$r]} | ${B[$r]} | ${D[$r]} | ${E[$r]} | ${C[$r]} |"
    kill "$jm" "$tm"; wait "$jm" "$tm" 2>/dev/null || true
    pids=()
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "| median | $(median "${A[@]}") | $(median "${B[@]}") | $(median "${D[@]}") | $(median "${E[@]}") | $(median "${C[@]}") |"
