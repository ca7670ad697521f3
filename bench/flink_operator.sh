#!/usr/bin/env bash
# The Apache Flink Kubernetes Operator measured the way `tests/kubernetes/run.sh operator-bench`
# measures Riffle's operator, on the same Kubernetes test bed (tests/kubernetes/testbed.sh, which
# must be up; this script never starts or stops it):
#   - resident memory (VmRSS, VmHWM from /proc/<pid>/status) idle, 10 s after it is healthy;
#   - the same 10 s after N suspended FlinkDeployments (default 100) were all reconciled, so
#     the operator holds them in its caches and reconciles them without deploying clusters;
#   - the reconcile latency from a spec change (`spec.restartNonce`) to the operator's first
#     action, by bench/operator_latency.py (3 changes per resource), and the memory after it;
#   - the time to delete the N resources through the operator's finalizer.
#
# The operator (default 1.7.0, the newest release on Maven Central) runs as a plain `java`
# process on this host against the test bed's apiserver, from the released jars: Maven resolves
# org.apache.flink:flink-kubernetes-operator with its runtime dependencies (Flink 1.17.1) into
# ${RIFFLE_CACHE:-~/.cache/riffle}/flink-operator/<version>/lib, once. Its CRDs come from the
# operator's API jar of the same version. Configuration: the chart's built-in flink-conf.yaml and
# its default overrides (slf4j metrics reporter every 5 min, reconcile interval 15 s, progress
# check 5 s), plus the namespace to watch, a free health-probe port and a label selector (below);
# no webhook (a separate process in the chart). JVM options: the chart's default `jvmArgs.operator`
# is empty, so none but -Djava.io.tmpdir (the operator writes an empty jar there; kept in the
# work directory so that nothing is left behind); FLINK_OPERATOR_JVM_ARGS adds more.
#
# Two differences from Riffle's scenario, both forced by how the Flink operator 1.7 behaves:
#   - It ignores a FlinkDeployment created suspended: before a first deployment it writes no
#     status and reacts to no change. So each resource is created, then given the status the
#     operator itself leaves after suspending a deployed job in last-state mode (lastReconciledSpec
#     = the spec with state suspended, reconciliation DEPLOYED, JobManager MISSING, job FINISHED,
#     lifecycle SUSPENDED) through the status subresource, and only then labelled for the operator's
#     label selector: the operator caches a resource's status when it first sees it, so it must
#     not see the resource before its status is written.
#   - Its status has no observedGeneration, and a spec change of a suspended job gets no status
#     write: its first action is a `SpecChanged` Event about the resource (whose message names the
#     new nonce). bench/operator_latency.py --action event waits for that Event.
#
#   bench/flink_operator.sh        env: FLINK_OPERATOR_BENCH_COUNT (100), FLINK_OPERATOR_VERSION
#                                  (1.7.0), FLINK_OPERATOR_JVM_ARGS, FLINK_OPERATOR_ROUNDS (3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VERSION="${FLINK_OPERATOR_VERSION:-1.7.0}"
FLINK_VERSION=1.17.1 # the Flink release that operator version is built against (its pom)
N="${FLINK_OPERATOR_BENCH_COUNT:-100}"
ROUNDS="${FLINK_OPERATOR_ROUNDS:-3}"
JVM_ARGS="${FLINK_OPERATOR_JVM_ARGS:-}"
NS=flink-op-bench
LABEL=riffle-bench/flink-operator
CACHE="${RIFFLE_CACHE:-$HOME/.cache/riffle}/flink-operator/$VERSION"
GROUP=flink.apache.org/v1beta1
CRDS=(flinkdeployments.flink.apache.org flinksessionjobs.flink.apache.org)

T0="$(date +%s.%N)"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[flink-op %6ss] %s\n' "$(since "$T0")" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; } # PID FIELD -> kB
rss_line() { echo "VmRSS $(rss "$1" VmRSS) kB (peak $(rss "$1" VmHWM) kB)"; }
wait_until() { # WHAT TIMEOUT CMD...
    local what="$1" deadline=$((SECONDS + $2))
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out waiting for: $what"
        sleep 0.2
    done
}

for tool in java mvn python3 jq curl unzip; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
eval "$("$ROOT/tests/kubernetes/testbed.sh" env)"
kubectl get --raw /readyz >/dev/null 2>&1 ||
    fail "the test bed is not up (tests/kubernetes/testbed.sh up; see tests/kubernetes/README.md)"

# --- the operator's jars and CRDs, resolved once ---------------------------------------------
resolve() {
    [[ -f "$CACHE/resolved" ]] && return
    say "resolving flink-kubernetes-operator $VERSION and its runtime dependencies with Maven"
    rm -rf "${CACHE:?}/lib" "${CACHE:?}/crds"
    mkdir -p "$CACHE/crds"
    # The image's classpath also has the standalone-mode jar and the chart's default metrics
    # reporter (slf4j); both are resolved too.
    cat >"$CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.bench</groupId>
  <artifactId>flink-operator-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-kubernetes-operator</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-kubernetes-standalone</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-metrics-slf4j</artifactId><version>$FLINK_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    (cd "$CACHE" && mvn -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib) \
        >"$CACHE/mvn.log" 2>&1 || fail "Maven could not resolve flink-kubernetes-operator $VERSION (see $CACHE/mvn.log)"
    unzip -q -o -j "$CACHE/lib/flink-kubernetes-operator-api-$VERSION.jar" \
        'META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml' \
        'META-INF/fabric8/flinksessionjobs.flink.apache.org-v1.yml' -d "$CACHE/crds"
    touch "$CACHE/resolved"
}
resolve
say "flink-kubernetes-operator $VERSION: $(find "$CACHE/lib" -name '*.jar' | wc -l) jars, $(du -sh "$CACHE/lib" | cut -f1)"

# --- clean-up: everything this script creates -------------------------------------------------
WORK="$(mktemp -d)"
OP_PID="" PROXY_PID="" CRDS_OURS=0
strip_finalizers() {
    kubectl get flinkdeployments.flink.apache.org -n "$NS" -o name 2>/dev/null |
        xargs -r -n 20 kubectl patch -n "$NS" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
}
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$OP_PID" ]] && kill -0 "$OP_PID" 2>/dev/null; then
        kill "$OP_PID"
        wait "$OP_PID" 2>/dev/null
    fi
    [[ -n "$PROXY_PID" ]] && { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; }
    if kubectl get namespace "$NS" >/dev/null 2>&1; then
        strip_finalizers
        kubectl delete namespace "$NS" --timeout=120s >/dev/null 2>&1 || say "namespace $NS not deleted"
    fi
    if ((CRDS_OURS)); then
        kubectl delete crd "${CRDS[@]}" --timeout=120s >/dev/null 2>&1 || say "CRDs not deleted"
    fi
    ((rc == 0)) || { say "operator log (last lines):"; tail -n 30 "$WORK/operator.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >&2; }
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# CRDs: installed (and labelled) unless already there; deleted at the end only if installed here
# (or left, labelled, by an earlier run of this script).
if kubectl get crd "${CRDS[0]}" >/dev/null 2>&1; then
    if [[ "$(kubectl get crd "${CRDS[0]}" -o json | jq -r --arg l "$LABEL" '.metadata.labels[$l] // ""')" == installed ]]; then
        CRDS_OURS=1
    fi
    say "the flink.apache.org CRDs exist already (installed by this script: $CRDS_OURS); using them"
else
    # `create`, not `apply`: the FlinkDeployment CRD (490 kB) is over the size limit of the
    # last-applied annotation. The 1.20 apiserver accepts it unchanged.
    CRDS_OURS=1
    kubectl create -f "$CACHE/crds/flinkdeployments.flink.apache.org-v1.yml" \
        -f "$CACHE/crds/flinksessionjobs.flink.apache.org-v1.yml" >/dev/null
    kubectl label crd "${CRDS[@]}" "$LABEL=installed" >/dev/null
    kubectl wait --for condition=established --timeout=60s crd "${CRDS[@]}" >/dev/null
    say "CRDs $VERSION installed: ${CRDS[*]}"
fi
if kubectl get namespace "$NS" >/dev/null 2>&1; then
    say "deleting the namespace $NS left by an earlier run"
    strip_finalizers
    kubectl delete namespace "$NS" --timeout=120s >/dev/null
fi
kubectl create namespace "$NS" >/dev/null

# --- the operator -------------------------------------------------------------------------------
PROBE="$(free_port)"
mkdir -p "$WORK/conf" "$WORK/tmp"
cat >"$WORK/conf/flink-conf.yaml" <<EOF
# The chart's built-in conf/flink-conf.yaml
taskmanager.numberOfTaskSlots: 2
parallelism.default: 2
# The chart's default overrides (values.yaml defaultConfiguration.flink-conf.yaml)
kubernetes.operator.metrics.reporter.slf4j.factory.class: org.apache.flink.metrics.slf4j.Slf4jReporterFactory
kubernetes.operator.metrics.reporter.slf4j.interval: 5 MINUTE
kubernetes.operator.reconcile.interval: 15 s
kubernetes.operator.observer.progress-check.interval: 5 s
# This benchmark
kubernetes.operator.watched.namespaces: $NS
kubernetes.operator.label.selector: $LABEL=ready
kubernetes.operator.health.probe.port: $PROBE
EOF
JVM=(-Djava.io.tmpdir="$WORK/tmp")
# shellcheck disable=SC2206 # word splitting of the user's JVM options is intended
[[ -n "$JVM_ARGS" ]] && JVM+=($JVM_ARGS)
say "java: $(java -version 2>&1 | head -1); options: ${JVM[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "JVM defaults on this host: $(java "${JVM[@]}" -XX:+PrintFlagsFinal -version 2>/dev/null |
    awk '$2 == "MaxHeapSize" { printf "max heap %d MB, ", $4 / 1048576 } $2 ~ /^Use(G1|Serial|Parallel|Z)GC$/ && $4 == "true" { printf "%s", $2 }')"
(cd "$WORK" && FLINK_CONF_DIR="$WORK/conf" exec java "${JVM[@]}" -cp "$CACHE/lib/*" \
    org.apache.flink.kubernetes.operator.FlinkOperator >"$WORK/operator.log" 2>&1) &
OP_PID=$!
operator_healthy() {
    kill -0 "$OP_PID" 2>/dev/null || fail "the operator exited"
    curl -fs --max-time 2 "http://127.0.0.1:$PROBE/" -o /dev/null
}
t="$(now)"
wait_until "the operator's health probe" 180 operator_healthy
# The subshell exec'd java: $OP_PID is the JVM.
[[ "$(cat "/proc/$OP_PID/comm")" == java ]] || fail "pid $OP_PID is not the JVM"
say "operator pid $OP_PID healthy after $(since "$t") s"
sleep 10
say "idle: $(rss_line "$OP_PID")"

# --- N suspended FlinkDeployments ---------------------------------------------------------------
PROXY_PORT="$(free_port)"
kubectl proxy --port "$PROXY_PORT" >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
wait_until "kubectl proxy" 10 curl -fs "http://127.0.0.1:$PROXY_PORT/version" -o /dev/null

# The fields of Riffle's scenario (run.sh op_flinkdeployment) in the Flink operator's CRD: the
# same configuration (Flink 1.17 names for the checkpoint and savepoint directories), pod
# templates and job settings; a jar instead of SQL; resources in the spec (its validator wants
# them); ports per resource as there.
flinkdeployments() {
    local i apiserver
    apiserver="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"
    for ((i = 0; i < N; i++)); do
        jq -n --arg name "bench-$i" --argjson rest $((30000 + 2 * i)) --argjson rpc $((30001 + 2 * i)) \
            --arg apiport "${apiserver##*:}" '{
            apiVersion: "flink.apache.org/v1beta1", kind: "FlinkDeployment",
            metadata: {name: $name},
            spec: {
                image: "flink:1.17", imagePullPolicy: "Never", flinkVersion: "v1_17", serviceAccount: "flink",
                flinkConfiguration: {
                    "kubernetes.hostnetwork.enabled": "true",
                    "kubernetes.jobmanager.cpu.amount": "0.05", "kubernetes.jobmanager.cpu.limit-factor": "40",
                    "kubernetes.taskmanager.cpu.amount": "0.05", "kubernetes.taskmanager.cpu.limit-factor": "40",
                    "containerized.master.env.KUBERNETES_SERVICE_HOST": "127.0.0.1",
                    "containerized.master.env.KUBERNETES_SERVICE_PORT": $apiport,
                    "taskmanager.numberOfTaskSlots": "2", "resourcemanager.taskmanager-timeout": "5 s",
                    "jobmanager.rpc.address": "127.0.0.1", "jobmanager.rpc.port": ($rpc | tostring),
                    "jobmanager.bind-host": "127.0.0.1",
                    "rest.address": "127.0.0.1", "rest.port": ($rest | tostring), "rest.bind-address": "127.0.0.1",
                    "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1", "taskmanager.data.port": "0",
                    "metrics.reporter.prom.port": "29420-29439",
                    "state.checkpoints.dir": "file:///opt/flink/state/checkpoints",
                    "state.savepoints.dir": "file:///opt/flink/state/savepoints",
                    "high-availability.type": "kubernetes", "high-availability.storageDir": "file:///opt/flink/state/ha",
                    "high-availability.kubernetes.leader-election.lease-duration": "4 s",
                    "high-availability.kubernetes.leader-election.renew-deadline": "3 s",
                    "high-availability.kubernetes.leader-election.retry-period": "1 s",
                    "kubernetes.operator.observer.progress-check.interval": "2 s"
                },
                jobManager: {resource: {memory: "1024m", cpu: 0.05}, podTemplate: {spec: {
                    containers: [{name: "flink-main-container",
                        volumeMounts: [{name: "flink-state", mountPath: "/opt/flink/state"}],
                        readinessProbe: {httpGet: {host: "127.0.0.1", port: $rest, path: "/config"}, periodSeconds: 1}}],
                    volumes: [{name: "flink-state", persistentVolumeClaim: {claimName: "flink-state"}}]}}},
                taskManager: {resource: {memory: "1024m", cpu: 0.05}, podTemplate: {spec: {
                    containers: [{name: "flink-main-container",
                        volumeMounts: [{name: "flink-state", mountPath: "/opt/flink/state"}]}],
                    volumes: [{name: "flink-state", persistentVolumeClaim: {claimName: "flink-state"}}]}}},
                job: {jarURI: "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                      parallelism: 2, upgradeMode: "last-state", state: "suspended"}
            }}'
    done | jq -s '{apiVersion: "v1", kind: "List", items: .}'
}

# The status the operator writes when it suspends a deployed job in last-state mode
# (ReconciliationUtils.updateStatusForDeployedSpec after cancelJob), for each resource.
seed_statuses() {
    python3 - "127.0.0.1:$PROXY_PORT" "$NS" <<'EOF'
import json, sys, time, urllib.request
proxy, ns = sys.argv[1:3]
base = f"http://{proxy}/apis/flink.apache.org/v1beta1/namespaces/{ns}/flinkdeployments"
for obj in json.loads(urllib.request.urlopen(base).read())["items"]:
    meta = {"apiVersion": obj["apiVersion"],
            "metadata": {"generation": obj["metadata"]["generation"]}, "firstDeployment": False}
    spec = json.dumps({"spec": obj["spec"], "resource_metadata": meta}, separators=(",", ":"))
    status = {"jobStatus": {"state": "FINISHED", "savepointInfo": {}},
              "jobManagerDeploymentStatus": "MISSING", "clusterInfo": {},
              "lifecycleState": "SUSPENDED",
              "reconciliationStatus": {"state": "DEPLOYED",
                                       "reconciliationTimestamp": int(time.time() * 1000),
                                       "lastReconciledSpec": spec, "lastStableSpec": spec}}
    req = urllib.request.Request(f"{base}/{obj['metadata']['name']}/status", method="PATCH",
                                 data=json.dumps({"status": status}).encode())
    req.add_header("Content-Type", "application/merge-patch+json")
    urllib.request.urlopen(req).read()
EOF
}

# Each reconciliation of a suspended resource with nothing to do logs this line with the
# resource's namespace and name.
reconciled_count() {
    sed 's/\x1b\[[0-9;]*m//g' "$WORK/operator.log" |
        grep -F 'Resource fully reconciled, nothing to do' | grep -o "\[$NS\.bench-[0-9]*\]" | sort -u | wc -l
}
all_reconciled() { operator_healthy && [[ "$(reconciled_count)" == "$N" ]]; }

t="$(now)"
flinkdeployments | kubectl apply -n "$NS" -f - >/dev/null || fail "kubectl apply of $N FlinkDeployments failed"
seed_statuses || fail "writing the suspended statuses failed"
kubectl label flinkdeployments.flink.apache.org --all -n "$NS" "$LABEL=ready" >/dev/null
say "$N FlinkDeployments applied, given a suspended status and labelled in $(since "$t") s"
wait_until "$N FlinkDeployments reconciled" 300 all_reconciled
say "TIMING $N FlinkDeployments applied -> all reconciled: $(since "$t") s"
sleep 10
say "with $N FlinkDeployments: $(rss_line "$OP_PID")"

# --- latency ------------------------------------------------------------------------------------
out="$(python3 "$HERE/operator_latency.py" --proxy "127.0.0.1:$PROXY_PORT" --namespace "$NS" \
    --group "$GROUP" --action event --rounds "$ROUNDS" 2>&1)" || fail "operator_latency.py failed: $out"
say "spec change -> first action (SpecChanged Event): $(tr '\n' ' ' <<<"$out")"
say "after the changes: $(rss_line "$OP_PID")"

t="$(now)"
kubectl delete flinkdeployments.flink.apache.org --all -n "$NS" --timeout=300s >/dev/null ||
    fail "deleting the FlinkDeployments failed"
say "TIMING $N FlinkDeployments deleted (finalizers): $(since "$t") s"
say "at the end: $(rss_line "$OP_PID"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
