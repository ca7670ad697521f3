#!/usr/bin/env bash
# Records which functions of the `riffle` executable a steady operator runs, for the link-time
# layout of crates/riffle-cli/build.rs (it writes crates/riffle-cli/operator-symbol-order.txt).
#
# A steady operator is the case `tests/kubernetes/run.sh operator-bench` measures: 100 suspended
# FlinkDeployments, each reconciled at the reconcile interval, the Lease renewed, the probes
# asked. The operator runs on the host against the running test bed under callgrind (which
# sees every function executed, where a sampling profiler would miss the rare ones); its
# counters are zeroed once all resources were reconciled after start-up, and the functions of
# the executable that ran in the next two reconcile intervals are the list.
#
# Needs: a running test bed (tests/kubernetes/testbed.sh up), valgrind, jq, and a release
# binary with symbols (the release profile keeps them). After it, relink (cargo build
# --release -p riffle-cli) and measure with `tests/kubernetes/run.sh operator-bench`.
#
#   RIFFLE_BIN=$CARGO_TARGET_DIR/release/riffle bench/operator_symbol_order.sh [OUTPUT-FILE]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${RIFFLE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/riffle}"
OUT="${1:-$ROOT/crates/riffle-cli/operator-symbol-order.txt}"
NS=riffle-op-order
N="${RIFFLE_OPERATOR_BENCH_COUNT:-100}"
PROBE=18085

die() { echo "operator_symbol_order: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
command -v jq >/dev/null || die "jq is not installed (apt-get install jq)"
[[ -x "$BIN" ]] || die "no release binary at $BIN: cargo build --release -p riffle-cli, or set RIFFLE_BIN"
eval "$("$ROOT/tests/kubernetes/testbed.sh" env)"
kubectl get --raw /readyz >/dev/null 2>&1 || die "the test bed is not running: tests/kubernetes/testbed.sh up"

WORK="$(mktemp -d)"
vg=""
cleanup() {
    # The resources' finalizers belong to the operator, which is going away.
    for r in $(kubectl get flinkdeployments.riffle.dev -n "$NS" -o name 2>/dev/null); do
        kubectl patch -n "$NS" "$r" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
    [[ -z "$vg" ]] || { kill "$vg" 2>/dev/null || true; wait "$vg" 2>/dev/null || true; }
    # The Lease is in the client's default namespace, as for any operator run outside a pod.
    kubectl delete lease riffle-op-order --ignore-not-found >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
kubectl create namespace "$NS" >/dev/null

# Uncompressed names: the dump of the steady phase must name functions first seen at start-up.
(cd "$WORK" && exec valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --compress-strings=no --compress-pos=no --callgrind-out-file="$WORK/cg.%p" \
    "$BIN" operator run --install-crds \
    -D "kubernetes.operator.watched.namespaces=$NS" \
    -D "kubernetes.operator.health.probe.port=$PROBE" \
    -D kubernetes.operator.reconcile.parallelism=4 \
    -D kubernetes.operator.leader-election.enabled=true \
    -D kubernetes.operator.leader-election.lease-name=riffle-op-order) >"$WORK/operator.log" 2>&1 &
vg=$!
for ((i = 0; i < 120; i++)); do
    curl -fs "http://127.0.0.1:$PROBE/readyz" >/dev/null 2>&1 && break
    kill -0 "$vg" 2>/dev/null || { tail -n 20 "$WORK/operator.log" >&2; die "the operator exited"; }
    sleep 1
done

sql="CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '100');
CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO o SELECT id FROM s;"
for ((i = 0; i < N; i++)); do
    jq -n --arg name "order-$i" --arg sql "$sql" '{apiVersion: "riffle.dev/v1beta1", kind: "FlinkDeployment",
        metadata: {name: $name},
        spec: {image: "localhost/riffle:dev", serviceAccount: "riffle",
            flinkConfiguration: {"taskmanager.numberOfTaskSlots": "2"},
            job: {sql: $sql, upgradeMode: "last-state", state: "suspended", parallelism: 2}}}'
done | jq -s '{apiVersion: "v1", kind: "List", items: .}' | kubectl apply -n "$NS" -f - >/dev/null
for ((i = 0; i < 300; i++)); do
    n="$(kubectl get flinkdeployments.riffle.dev -n "$NS" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' | grep -c . || true)"
    [[ "$n" == "$N" ]] && break
    sleep 1
done
[[ "$n" == "$N" ]] || die "only $n of $N FlinkDeployments were reconciled in 300 s"
sleep 30
callgrind_control -z "$vg" >/dev/null
echo "operator_symbol_order: profiling two reconcile intervals (130 s)" >&2
for ((i = 0; i < 26; i++)); do
    curl -fs "http://127.0.0.1:$PROBE/readyz" >/dev/null
    curl -fs "http://127.0.0.1:$PROBE/metrics" >/dev/null
    sleep 5
done
callgrind_control -d steady "$vg" >/dev/null
dump="$(ls "$WORK"/cg.*.1 2>/dev/null | head -n 1)"
[[ -s "$dump" ]] || die "callgrind wrote no dump"

# Functions with a cost in the steady phase, of the executable only (`ob=` names the object of
# the `fn=` lines after it), sorted for a stable diff.
exe="$(readlink -f "$BIN")"
awk -v exe="$exe" '/^ob=/ { ob = substr($0, 4) } /^fn=/ && ob == exe { print substr($0, 4) }' "$dump" |
    grep -v -e '^0x' -e '^(below main)' | sort -u >"$WORK/order"
[[ -s "$WORK/order" ]] || die "no function of $exe in the profile"
{
    echo "# Functions a steady operator runs, laid out together (crates/riffle-cli/build.rs)."
    echo "# Recorded by bench/operator_symbol_order.sh; regenerate after large changes."
    cat "$WORK/order"
} >"$OUT"
echo "operator_symbol_order: $(wc -l <"$WORK/order") functions -> $OUT" >&2
