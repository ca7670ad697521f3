#!/usr/bin/env bash
# Smoke test on the Kubernetes test bed (scratch, ahead of the real manifests and the CI tier):
# a JobManager and a TaskManager Deployment from the local image, a bounded SQL job submitted with
# `riffle run -m`, timings printed. Needs `tests/kubernetes/testbed.sh up` first.
#
#   RIFFLE_BIN    the client riffle binary (default: $CARGO_TARGET_DIR/debug/riffle)
#   IMAGE         the image to load and run (default localhost/riffle:dev; build: deploy/image/build.sh)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
TESTBED="$ROOT/tests/kubernetes/testbed.sh"
RIFFLE="${RIFFLE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/riffle}"
IMAGE="${IMAGE:-localhost/riffle:dev}"
REST=127.0.0.1:28081

fail() { echo "[smoke] FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

eval "$("$TESTBED" env)"
"$TESTBED" status >/dev/null || fail "the test bed is not up (tests/kubernetes/testbed.sh up)"
[[ -x "$RIFFLE" ]] || fail "no riffle client at $RIFFLE"

"$TESTBED" load-image "$IMAGE"
kubectl delete -f "$HERE/session.yaml" --ignore-not-found --wait=true >/dev/null

t_apply="$(now)"
kubectl apply -f "$HERE/session.yaml"
deadline=$((SECONDS + 120))
until [[ "$(curl -fs "http://$REST/v1/overview" | jq -r .taskmanagers 2>/dev/null)" == 1 ]]; do
    ((SECONDS < deadline)) || { kubectl get pods -o wide; fail "no TaskManager registered within 120 s"; }
    sleep 0.1
done
t_registered="$(since "$t_apply")"
echo "[smoke] apply -> JobManager REST up, TaskManager registered: ${t_registered} s"
curl -fs "http://$REST/v1/taskmanagers" | jq -c '.taskmanagers[] | {id, slotsNumber, freeSlots}'

job="$("$RIFFLE" run -m "$REST" -d "$HERE/bounded.sql" | awk '/JobID/ { print $NF }')"
[[ ${#job} == 32 ]] || fail "no job id from riffle run -m $REST -d"
state=""
seen_running=""
until [[ "$state" == FINISHED ]]; do
    state="$(curl -fs "http://$REST/v1/jobs/$job" | jq -r .state)"
    if [[ -z "$seen_running" && ( "$state" == RUNNING || "$state" == FINISHED ) ]]; then
        seen_running="$(since "$t_apply")"
        echo "[smoke] apply -> job $job $state: ${seen_running} s"
    fi
    case "$state" in FAILED | CANCELED) fail "job $job ended $state" ;; esac
    ((SECONDS < deadline + 120)) || fail "job $job not FINISHED (state $state)"
    sleep 0.05
done
echo "[smoke] apply -> job FINISHED: $(since "$t_apply") s"

t_run="$(now)"
"$RIFFLE" run -m "$REST" --quiet "$HERE/bounded.sql"
echo "[smoke] riffle run -m $REST bounded.sql (attached) finished in $(since "$t_run") s"
curl -fs "http://$REST/v1/jobs/overview" | jq -c '.jobs[] | {jid, state, duration}'

kubectl get pods -o wide
for pod in $(kubectl get pods -o name); do
    echo "[smoke] $pod: $(kubectl get "$pod" -o jsonpath='{.spec.containers[0].securityContext.readOnlyRootFilesystem}') read-only root, restarts $(kubectl get "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')"
done
for pid in $(pgrep -u 9999 -x riffle || true); do
    echo "[smoke] riffle pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")): RSS $(awk '/VmRSS/ { print $2, $3 }' "/proc/$pid/status")"
done
echo "[smoke] PASS"
