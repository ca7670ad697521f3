#!/usr/bin/env bash
# The Kubernetes tier: Riffle's deployment files on a real single-node Kubernetes 1.20.
#
#   tests/kubernetes/run.sh [SCENARIO...]      default: static session application job-cluster ha native
#                                              native-application operator helm
#
# Brings the test bed up (tests/kubernetes/testbed.sh; a test bed that cannot start is a failure,
# never a skip), builds the image from the riffle binary and loads it, runs the scenarios, and
# always stops the test bed again (trap). Each scenario prints its timings.
#
#   static        kubernetes-validate (Kubernetes 1.33, --strict) of every manifest and rendered
#                 template; the storage variants' config.yaml equals the base one plus its block
#   session       deploy/kubernetes session cluster + the PVC storage variant: a bounded job with
#                 `riffle run -m`, listed by `riffle list -a` and the real `flink list -a`; then a
#                 checkpointed job with the exactly-once filesystem sink, `kubectl delete pod` of a
#                 TaskManager mid-run, and its committed output compared row by row with an
#                 undisturbed embedded run's
#   application   deploy/kubernetes application cluster + the S3 storage variant (s3s-fs, credentials
#                 from a Secret by reference): the JobManager pod is deleted mid-run, the Job's new
#                 pod resumes from the latest checkpoint, the Kubernetes Job completes, output equal
#   job-cluster   deploy/kubernetes/job-cluster templates rendered with envsubst: stop with a
#                 savepoint, re-render with SAVEPOINT_PATH, the job restores it and finishes; the
#                 output of both runs equals an undisturbed run's
#   ha            deploy/kubernetes/high-availability on the session cluster + PVC variant: two
#                 JobManagers under a Lease; the leader's pod deleted (Lease released) and then the
#                 new leader SIGKILLed (Lease expires): each time the other takes over and the job
#                 resumes from its latest checkpoint; output equal; RBAC allows only what HA needs
#   native        native session: `riffle kubernetes-session` (with Kubernetes HA) creates the
#                 Deployment, ConfigMap and Services owned by it; the JobManager runs as the shipped
#                 native Role; a 4-slot job with 2 slots per TaskManager makes exactly 2 TaskManager
#                 pods; one deleted -> a replacement pod, the job recovers with exact output; idle
#                 pods released after the timeout; `kubectl delete deployment` removes everything
#   native-application  `riffle run-application --target kubernetes-application`: the job runs
#                 on a TaskManager pod the JobManager makes, output equal, the cluster deletes itself
#   operator      charts/riffle-operator installed; a FlinkDeployment applied, then upgraded with a
#                 savepoint, its JobManager pod deleted, upgraded in last-state mode while the
#                 operator pod is killed, suspended and resumed, given a broken spec that is rolled
#                 back: output equal to one run of the versions in sequence; a stateless upgrade
#                 starts empty; deletion removes the cluster and its HA data
#   operator-bench  (not run by default) the operator's resident memory idle and with 100
#                 suspended FlinkDeployments, and its latency from a spec change to its first action
#   helm          charts/riffle: lint --strict, template validated by the 1.20 apiserver
#                 (--dry-run=server) and kubernetes-validate 1.33; install in session mode with the
#                 chart's PVC: a job listed by `flink list -a`, a TaskManager pod deleted under the
#                 exactly-once sink; with high availability on, upgrade with a changed
#                 riffleConfiguration rolls every pod and the job running across it resumes on the
#                 new JobManager with exact output;
#                 uninstall leaves nothing; install in application mode on S3 (Secret by reference):
#                 the JobManager pod deleted mid-run, the job resumes, the Job completes, output equal
#
# The test bed runs pods with host networking; the differences from a real cluster are values
# applied by the overlay functions below (tb_* and the Helm values file testbed-values.yaml) and
# are listed in tests/kubernetes/README.md.
#
# Environment:
#   RIFFLE_BIN            the riffle binary packaged into the image and used as client
#                         (default: $CARGO_TARGET_DIR/debug/riffle; this script never builds it)
#   IMAGE                 image tag to build and load (default localhost/riffle:dev)
#   RIFFLE_K8S_REUSE      1: use an already running test bed and leave it running (development)
#   RIFFLE_K8S_KEEP_WORK  1: keep the work directory (outputs, pod logs copies) after the run
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTBED="$HERE/testbed.sh"
DEPLOY="$ROOT/deploy/kubernetes"
CHART="$ROOT/charts/riffle"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/riffle-target}"
RIFFLE="${RIFFLE_BIN:-$CARGO_TARGET_DIR/debug/riffle}"
IMAGE="${IMAGE:-localhost/riffle:dev}"
CACHE="${RIFFLE_CACHE:-$HOME/.cache/riffle}"
VALIDATE_VENV="$CACHE/kubernetes/kubernetes-validate-venv"
REUSE="${RIFFLE_K8S_REUSE:-0}"

T0="$(date +%s.%N)"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[k8s %6ss] %s\n' "$(since "$T0")" "$*" >&2; }
timing() { printf '[k8s %6ss] TIMING %-58s %6s s\n' "$(since "$T0")" "$1" "$2" >&2; }

WORK=""
S3_PID=""
current_ns=""

fail() {
    printf '[k8s] FAIL: %s\n' "$*" >&2
    diagnostics >&2 || true
    exit 1
}

# Pods, events, FlinkDeployments and the tail of each container log of the current scenario's
# namespaces.
diagnostics() {
    local n f
    for n in $current_ns; do
        echo "---- kubectl get all -n $n"
        kubectl get all,pvc,pdb -n "$n" -o wide 2>&1 || true
        echo "---- events in $n"
        kubectl get events -n "$n" --sort-by=.lastTimestamp 2>&1 | tail -n 20 || true
        if kubectl get flinkdeployments.riffle.dev -n "$n" -o name 2>/dev/null | grep -q .; then
            echo "---- FlinkDeployment status in $n"
            kubectl get flinkdeployments.riffle.dev -n "$n" -o jsonpath='{range .items[*]}{.metadata.name}{": "}{.status}{"\n"}{end}' 2>&1 || true
        fi
        for f in /var/log/pods/"${n}"_*/*/*.log; do
            [[ -f "$f" ]] || continue
            echo "---- $f"
            tail -n 25 "$f"
        done
    done
}

cleanup() {
    local rc=$?
    set +e
    [[ -n "$S3_PID" ]] && kill "$S3_PID" 2>/dev/null && wait "$S3_PID" 2>/dev/null
    if [[ "$REUSE" != 1 ]]; then
        say "stopping the test bed"
        "$TESTBED" down || rc=1
    fi
    if [[ -n "$WORK" && "${RIFFLE_K8S_KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    elif [[ -n "$WORK" ]]; then
        say "work directory kept: $WORK"
    fi
    if ((rc == 0)); then
        say "PASS ($(since "$T0") s in all)"
    else
        say "FAILED (exit $rc)"
    fi
    exit "$rc"
}

# Polls `cmd...` every 0.2 s until it succeeds; fails the run after `timeout` seconds.
wait_until() {
    local what="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for: $what"
        sleep 0.2
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rest_q() { curl -fs --max-time 5 "http://$1$2" 2>/dev/null; }

taskmanagers_registered() { [[ "$(rest_q "$1" /v1/overview | jq -r .taskmanagers 2>/dev/null)" == "$2" ]]; }
job_state() { rest_q "$1" "/v1/jobs/$2" | jq -r '.state // empty' 2>/dev/null || true; }
job_in_state() { [[ "$(job_state "$1" "$2")" == "$3" ]]; }
completed_checkpoints() { rest_q "$1" "/v1/jobs/$2/checkpoints" | jq -r '.counts.completed // 0' 2>/dev/null || echo 0; }
checkpoints_at_least() { (($(completed_checkpoints "$1" "$2") >= $3)); }
has_checkpoint() { checkpoints_at_least "$1" "$2" 1; }
first_job_running() { [[ "$(rest_q "$1" /v1/jobs/overview | jq -r '.jobs[0].state // empty' 2>/dev/null)" == RUNNING ]]; }
only_job() { rest_q "$1" /v1/jobs/overview | jq -r '.jobs[0].jid // empty' 2>/dev/null; }

# Waits for `job` to be FINISHED; any other end state fails the run.
wait_finished() {
    local m="$1" job="$2" timeout="$3" deadline=$((SECONDS + $3)) state
    while :; do
        state="$(job_state "$m" "$job")"
        case "$state" in
            FINISHED) return 0 ;;
            FAILED | CANCELED | SUSPENDED) fail "job $job ended $state: $(rest_q "$m" "/v1/jobs/$job/exceptions" | head -c 2000)" ;;
        esac
        ((SECONDS < deadline)) || fail "job $job not FINISHED within ${timeout}s (state '$state')"
        sleep 0.2
    done
}

# The committed (visible) lines of a filesystem sink's output directory, sorted.
committed_lines() {
    find "$1" -type f ! -name '.*' ! -name '_*' -print0 | xargs -0 -r cat | LC_ALL=C sort
}

# `riffle run` of windowed_count.sql on the embedded mini-cluster, undisturbed: the reference.
embedded_reference() {
    local out="$WORK/embedded-out"
    if [[ ! -f "$WORK/embedded.lines" ]]; then
        render_job windowed_count.sql "$WORK/embedded.sql" "$out" 100000000
        "$RIFFLE" run --quiet -p 2 -D "execution.checkpointing.dir=$WORK/embedded-checkpoints" \
            "$WORK/embedded.sql" >"$WORK/embedded.log" 2>&1 || fail "embedded run failed: $(tail -n 5 "$WORK/embedded.log")"
        committed_lines "$out" >"$WORK/embedded.lines"
        [[ "$(wc -l <"$WORK/embedded.lines")" == 4201 ]] || fail "embedded run wrote $(wc -l <"$WORK/embedded.lines") lines, not 4201"
    fi
    echo "$WORK/embedded.lines"
}

# Compares a cluster run's committed output with the embedded reference, row by row.
same_output() {
    local what="$1" dir="$2" reference
    reference="$(embedded_reference)"
    committed_lines "$dir" >"$WORK/$what.lines"
    if ! cmp -s "$reference" "$WORK/$what.lines"; then
        diff "$reference" "$WORK/$what.lines" | head -n 20 >&2
        fail "$what: committed output differs from the undisturbed embedded run ($(wc -l <"$WORK/$what.lines") lines vs $(wc -l <"$reference"))"
    fi
    say "$what: committed output equals the undisturbed embedded run's ($(wc -l <"$reference") rows, compared sorted)"
}

render_job() { # SQL OUT-FILE OUTPUT_PATH ROWS_PER_SECOND
    # shellcheck disable=SC2016 # the variables envsubst replaces, by name
    OUTPUT_PATH="$3" ROWS_PER_SECOND="$4" envsubst '$OUTPUT_PATH $ROWS_PER_SECOND' <"$HERE/jobs/$1" >"$2"
}

# ---------------------------------------------------------------------------------------------
# Test-bed overlay: the only differences between what a user applies and what runs here. Each
# function prints a strategic-merge patch; `patched FILE PATCH...` applies patches to a one-object
# manifest with `kubectl patch --local` (no cluster involved) and prints the result.

# A JobManager pod (Deployment or Job): host network, the local image, its own ports on 127.0.0.1
# and no container ports (with host networking they are host ports, and the scheduler keeps a
# replacement pod Pending until the old pod object is gone), probes against 127.0.0.1:<rest.port>,
# a small CPU request. Extra `key: value` lines go into RIFFLE_PROPERTIES.
tb_jobmanager() { # REST RPC METRICS [PROPERTY...]
    local rest="$1" rpc="$2" metrics="$3" line
    shift 3
    cat <<EOF
spec:
  template:
    spec:
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      containers:
      - name: jobmanager
        image: $IMAGE
        imagePullPolicy: Never
        resources:
          requests:
            cpu: 50m
        ports:
        - \$patch: replace
        readinessProbe:
          httpGet: {host: 127.0.0.1, port: $rest}
          periodSeconds: 1
        livenessProbe:
          httpGet: {host: 127.0.0.1, port: $rest}
        env:
        - name: RIFFLE_PROPERTIES
          value: |
            jobmanager.rpc.address: 127.0.0.1
            jobmanager.rpc.port: $rpc
            jobmanager.bind-host: 127.0.0.1
            rest.address: 127.0.0.1
            rest.port: $rest
            rest.bind-address: 127.0.0.1
            metrics.reporter.prom.port: $metrics
EOF
    for line in "$@"; do printf '            %s\n' "$line"; done
}

# A TaskManager pod: host network, the local image, port 0 for data and a metrics port range
# (replicas share the host's ports), no container ports and so no probes (their ports are not
# known in advance), 127.0.0.1 as its address.
tb_taskmanager() { # RPC METRICS-RANGE [PROPERTY...]
    local rpc="$1" metrics="$2" line
    shift 2
    cat <<EOF
spec:
  template:
    spec:
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      containers:
      - name: taskmanager
        image: $IMAGE
        imagePullPolicy: Never
        resources:
          requests:
            cpu: 50m
        ports:
        - \$patch: replace
        readinessProbe: null
        livenessProbe: null
        env:
        - name: RIFFLE_PROPERTIES
          value: |
            jobmanager.rpc.address: 127.0.0.1
            jobmanager.rpc.port: $rpc
            taskmanager.host: 127.0.0.1
            taskmanager.bind-host: 127.0.0.1
            taskmanager.data.port: 0
            metrics.reporter.prom.port: $metrics
EOF
    for line in "$@"; do printf '            %s\n' "$line"; done
}

# A hostPath PersistentVolume bound to the claim NAMESPACE/CLAIM (the test bed has no storage
# provisioner; on a real cluster an RWX storage class provides the volume).
tb_state_volume() { # NAME NAMESPACE CLAIM HOST-DIR
    install -d -o 9999 -g 9999 -m 0750 "$4"
    cat <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $1
  labels: {riffle-test-namespace: $2}
spec:
  capacity: {storage: 10Gi}
  accessModes: ["ReadWriteMany"]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: $2, name: $3}
  hostPath: {path: $4, type: Directory}
EOF
}

# policy/v1 PodDisruptionBudget -> policy/v1beta1 (Kubernetes 1.20 has only the beta; same fields).
tb_pdb_v1beta1() { kubectl patch --local -o yaml --type merge -p '{"apiVersion":"policy/v1beta1"}' -f "$1"; }

patched() { # FILE PATCH-FILE...
    local file="$1" out patch
    shift
    out="$(cat "$file")"
    for patch in "$@"; do
        out="$(kubectl patch --local -o yaml --type strategic --patch-file "$patch" -f - <<<"$out")" ||
            fail "kubectl patch --local of $file with $patch failed"
    done
    printf '%s\n' "$out"
}

# A fresh namespace for a scenario (a leftover of an earlier run with RIFFLE_K8S_REUSE=1 is
# deleted first, with the PersistentVolumes made for it).
new_namespace() {
    current_ns="$current_ns $1"
    if kubectl get namespace "$1" >/dev/null 2>&1; then
        say "deleting the namespace $1 left by an earlier run"
        kubectl delete namespace "$1" --timeout=120s >/dev/null || fail "could not delete the old namespace $1"
    fi
    kubectl delete pv -l "riffle-test-namespace=$1" --timeout=60s >/dev/null 2>&1 || true
    kubectl create namespace "$1" >/dev/null
}

# Deletes a scenario's namespace in the background (the test bed's `down` removes what is left).
drop_namespace() {
    kubectl delete namespace "$1" --wait=false >/dev/null 2>&1 || true
    kubectl delete pv -l "riffle-test-namespace=$1" --wait=false >/dev/null 2>&1 || true
    current_ns="$(printf '%s\n' $current_ns | grep -vx "$1" | tr '\n' ' ' || true)"
}

pods_of() { kubectl get pods -n "$1" -l "$2" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
pod_uids() { kubectl get pods -n "$1" -l "$2" -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{end}'; }

# ---------------------------------------------------------------------------------------------
# Scenarios

# The config.yaml of a ConfigMap file without its checkpoint-storage block (which ends it).
config_yaml() {
    awk '/^  config.yaml: [|]/ { f = 1; next } f && /^  [^ ]/ { f = 0 } f && /^    # --- checkpoint storage/ { f = 0 } f' "$1"
}

# Riffle itself reads the config.yaml of a one-ConfigMap manifest: no error, no unused key.
riffle_reads_config() { # NAME FILE
    local dir="$WORK/config-check/$1" out
    mkdir -p "$dir"
    kubectl create --dry-run=client -o jsonpath='{.data.config\.yaml}' -f "$2" >"$dir/config.yaml" ||
        fail "no config.yaml in $2"
    out="$(RIFFLE_CONF_DIR="$dir" "$RIFFLE" config 2>&1 >/dev/null)" || fail "riffle rejects the config.yaml of $1: $out"
    [[ -z "$out" ]] || fail "riffle warns about the config.yaml of $1: $out"
}

scenario_static() {
    local t
    t="$(now)"
    if [[ ! -x "$VALIDATE_VENV/bin/kubernetes-validate" ]]; then
        say "installing kubernetes-validate (PyPI) into $VALIDATE_VENV"
        rm -rf "$VALIDATE_VENV"
        python3 -m venv "$VALIDATE_VENV"
        "$VALIDATE_VENV/bin/pip" install -q --no-input kubernetes-validate >&2 || fail "pip install kubernetes-validate failed"
    fi
    local dir="$WORK/static" f v
    mkdir -p "$dir"
    # Manifests as shipped, the storage variants applied to each pod spec, the rendered templates.
    cp "$DEPLOY"/*.yaml "$DEPLOY"/checkpoint-storage/*/*-pvc.yaml "$DEPLOY"/checkpoint-storage/*/*-secret.yaml \
        "$dir/"
    for v in pvc s3; do
        cp "$DEPLOY/checkpoint-storage/$v/flink-configuration-configmap.yaml" "$dir/$v-configmap.yaml"
        for f in jobmanager-session-deployment jobmanager-application; do
            patched "$DEPLOY/$f.yaml" "$DEPLOY/checkpoint-storage/$v/jobmanager-patch.yaml" >"$dir/$v-$f.yaml"
        done
        for f in taskmanager-session-deployment taskmanager-job-deployment; do
            patched "$DEPLOY/$f.yaml" "$DEPLOY/checkpoint-storage/$v/taskmanager-patch.yaml" >"$dir/$v-$f.yaml"
        done
    done
    # High availability: its RBAC, and the session JobManager with the PVC variant and HA.
    cp "$DEPLOY/high-availability/ha-rbac.yaml" "$dir/"
    cp "$DEPLOY/native/rbac.yaml" "$dir/native-rbac.yaml"
    for f in "$ROOT"/deploy/operator/crds/*.yaml; do cp "$f" "$dir/crd-${f##*/}"; done
    patched "$DEPLOY/jobmanager-session-deployment.yaml" "$DEPLOY/checkpoint-storage/pvc/jobmanager-patch.yaml" \
        "$DEPLOY/high-availability/jobmanager-patch.yaml" >"$dir/ha-jobmanager-session-deployment.yaml"
    for f in "$DEPLOY"/job-cluster/*.yaml.template; do
        v="job-cluster-${f##*/}"
        JOB_NAME=wordcount JOB_ID_SEED=wordcount PARALLELISM=2 SAVEPOINT_PATH=file:///opt/riffle/state/sp \
            ALLOW_NON_RESTORED_STATE=true IMAGE=riffle:latest STATE_CLAIM=riffle-state \
            envsubst "$JOB_CLUSTER_VARS" <"$f" >"$dir/${v%.template}"
    done
    local report
    report="$("$VALIDATE_VENV/bin/kubernetes-validate" -k 1.33.0 --strict --quiet "$dir"/*.yaml 2>&1)" ||
        fail "kubernetes-validate -k 1.33.0 --strict rejects a manifest: $report"
    [[ -z "$report" ]] || fail "kubernetes-validate -k 1.33.0 warns (a kind or version without a schema?): $report"
    say "static: $(find "$dir" -name '*.yaml' | wc -l) manifests, storage variants and rendered templates valid for Kubernetes 1.33 (--strict)"

    # The variants' config.yaml = the base one + their storage block (nothing else drifts).
    for v in pvc s3; do
        diff <(config_yaml "$DEPLOY/flink-configuration-configmap.yaml") \
            <(config_yaml "$DEPLOY/checkpoint-storage/$v/flink-configuration-configmap.yaml") >&2 ||
            fail "checkpoint-storage/$v/flink-configuration-configmap.yaml drifted from flink-configuration-configmap.yaml (beyond its storage block)"
    done
    say "static: the storage variants' config.yaml equals the base one plus the storage block"

    # The operator's CRDs on the 1.20 apiserver: installed, every example accepted, a bad value refused.
    kubectl apply -f "$ROOT/deploy/operator/crds/" >/dev/null || fail "the 1.20 apiserver refuses deploy/operator/crds"
    kubectl wait --for=condition=Established crd -l '!no-such-label' --timeout=60s >/dev/null ||
        fail "the operator's CRDs did not become Established"
    kubectl apply --dry-run=server -f "$ROOT/deploy/operator/examples/" >"$WORK/operator-examples.log" 2>&1 ||
        { cat "$WORK/operator-examples.log" >&2; fail "the apiserver refuses an example in deploy/operator/examples"; }
    local refused
    refused="$(sed 's/upgradeMode: savepoint/upgradeMode: sometimes/' "$ROOT/deploy/operator/examples/application-sql.yaml" |
        kubectl apply --dry-run=server -f - 2>&1)" && fail "the FlinkDeployment CRD accepts upgradeMode: sometimes"
    grep -q 'supported values: "savepoint", "last-state", "stateless"' <<<"$refused" || fail "unclear refusal of a bad upgradeMode: $refused"
    kubectl delete -f "$ROOT/deploy/operator/crds/" >/dev/null
    say "static: the operator's CRDs install on Kubernetes 1.20, accept $(grep -c '^kind:' "$ROOT"/deploy/operator/examples/*.yaml | awk -F: '{ n += $2 } END { print n }') example resources and refuse a bad upgradeMode"
    riffle_reads_config base "$DEPLOY/flink-configuration-configmap.yaml"
    for v in pvc s3; do riffle_reads_config "$v" "$DEPLOY/checkpoint-storage/$v/flink-configuration-configmap.yaml"; done
    riffle_reads_config job-cluster "$dir/job-cluster-configmap.yaml"
    say "static: riffle config reads every shipped config.yaml without an error or an unused key"
    timing "static checks" "$(since "$t")"
}

# The session cluster's objects with the PVC storage variant, but for its Deployments.
session_pvc_objects() {
    cat "$DEPLOY/serviceaccount.yaml"
    echo ---
    cat "$DEPLOY/checkpoint-storage/pvc/riffle-state-pvc.yaml"
    echo ---
    cat "$DEPLOY/checkpoint-storage/pvc/flink-configuration-configmap.yaml"
    echo ---
    cat "$DEPLOY/jobmanager-service.yaml"
}

scenario_session() {
    local ns=riffle-session t t_apply
    local rest rpc metrics tm_metrics m
    rest="$(free_port)" rpc="$(free_port)" metrics="$(free_port)"
    tm_metrics=29300-29319
    m="127.0.0.1:$rest"
    local state="$WORK/session-state" p="$WORK/session-patches"
    mkdir -p "$p"
    new_namespace "$ns"
    tb_jobmanager "$rest" "$rpc" "$metrics" >"$p/jobmanager.yaml"
    tb_taskmanager "$rpc" "$tm_metrics" >"$p/taskmanager.yaml"
    tb_state_volume riffle-session-state "$ns" riffle-state "$state" | kubectl apply -f - >/dev/null

    t_apply="$(now)"
    {
        session_pvc_objects
        echo ---
        cat "$DEPLOY/jobmanager-rest-service.yaml"
        echo ---
        cat "$DEPLOY/networkpolicy.yaml"
        echo ---
        tb_pdb_v1beta1 "$DEPLOY/taskmanager-poddisruptionbudget.yaml"
        echo ---
        patched "$DEPLOY/jobmanager-session-deployment.yaml" "$DEPLOY/checkpoint-storage/pvc/jobmanager-patch.yaml" "$p/jobmanager.yaml"
        echo ---
        patched "$DEPLOY/taskmanager-session-deployment.yaml" "$DEPLOY/checkpoint-storage/pvc/taskmanager-patch.yaml" "$p/taskmanager.yaml"
    } >"$WORK/session.yaml"
    kubectl apply -n "$ns" -f "$WORK/session.yaml" >/dev/null || fail "kubectl apply of the session cluster failed"
    wait_until "the session JobManager with 2 TaskManagers" 120 taskmanagers_registered "$m" 2
    timing "session: apply -> JobManager REST up, 2 TaskManagers registered" "$(since "$t_apply")"
    kubectl wait -n "$ns" --for=condition=Ready pod -l component=jobmanager --timeout=60s >/dev/null ||
        fail "the JobManager pod did not become Ready"
    timing "session: apply -> JobManager pod Ready (readiness probe)" "$(since "$t_apply")"

    # A bounded job with `riffle run -m` (attached: returns when the job has finished).
    t="$(now)"
    local out job
    out="$("$RIFFLE" run -m "$m" --quiet "$HERE/jobs/bounded.sql" 2>&1)" || fail "riffle run -m $m failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    [[ ${#job} == 32 ]] || fail "no job id in the output of riffle run -m: $out"
    job_in_state "$m" "$job" FINISHED || fail "job $job is $(job_state "$m" "$job"), not FINISHED"
    timing "session: riffle run -m (bounded job) submit -> FINISHED" "$(since "$t")"
    out="$("$RIFFLE" list -a -m "$m" 2>&1)" || fail "riffle list -a -m failed: $out"
    grep -q "$job.*FINISHED" <<<"$out" || fail "riffle list -a does not list job $job as FINISHED: $out"
    say "session: riffle list -a -m $m lists $job FINISHED"
    say "session: the containers' riffle processes (uid, role, RSS):"
    container_processes_ok
    t="$(now)"
    flink_list_all session "$m" "$job"
    timing "session: flink list -a (the real flink CLI)" "$(since "$t")"

    tm_pod_deleted_mid_job session "$ns" "$m" riffle-taskmanager component=taskmanager out-session "$state"
    drop_namespace "$ns"
}

# A checkpointed job with the exactly-once filesystem sink (submitted with `riffle run -m -d`)
# through `kubectl delete pod` of a TaskManager: the job restarts, the Deployment replaces the
# pod, and the committed output equals an undisturbed embedded run's.
tm_pod_deleted_mid_job() { # LABEL NAMESPACE M TM-DEPLOYMENT TM-SELECTOR OUT-DIR STATE-DIR (the volume at /opt/riffle/state)
    local what="$1" ns="$2" m="$3" deployment="$4" selector="$5" out_dir="$6" state="$7"
    local out job t t_kill victim restarts
    render_job windowed_count.sql "$WORK/$what-job.sql" "/opt/riffle/state/$out_dir" 8000
    out="$("$RIFFLE" run -m "$m" -d "$WORK/$what-job.sql" 2>&1)" || fail "riffle run -m -d failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    [[ ${#job} == 32 ]] || fail "no job id in the output of riffle run -m -d: $out"
    t="$(now)"
    wait_until "job $job RUNNING" 60 job_in_state "$m" "$job" RUNNING
    wait_until "a completed checkpoint of job $job" 60 has_checkpoint "$m" "$job"
    victim="$(pods_of "$ns" "$selector" | sed -n 1p)"
    [[ -n "$victim" ]] || fail "no TaskManager pod matches $selector"
    t_kill="$(now)"
    delete_taskmanager_pod "$ns" "$victim"
    say "$what: deleted TaskManager pod $victim $(since "$t") s after the job started, after $(completed_checkpoints "$m" "$job") checkpoint(s)"
    wait_until "job $job to restart" 60 job_restarted "$m" "$job"
    wait_until "job $job RUNNING again" 120 job_in_state "$m" "$job" RUNNING
    timing "$what: TaskManager pod deleted -> job RUNNING again" "$(since "$t_kill")"
    wait_finished "$m" "$job" 180
    timing "$what: checkpointed job start -> FINISHED (with the pod deletion)" "$(since "$t")"
    restarts="$(num_restarts "$m" "$job")"
    ((restarts >= 1)) || fail "job $job finished without a restart (numRestarts $restarts): the pod deletion did not hit it"
    wait_until "the TaskManager Deployment back to 2 ready replicas" 60 \
        sh -c "[ \"\$(kubectl get deployment -n $ns $deployment -o jsonpath='{.status.readyReplicas}')\" = 2 ]"
    say "$what: job $job restarted $restarts time(s), the Deployment replaced the pod"
    same_output "$what" "$state/$out_dir"
}

# An S3 server (s3s-fs, SigV4-checking) on 127.0.0.1 for the S3 storage variant; the bucket
# riffle-state is a directory of ROOT.
start_s3() { # ROOT PORT ACCESS-KEY SECRET-KEY
    local bin="${RIFFLE_S3S_FS:-$CACHE/s3s/bin/s3s-fs}"
    if [[ ! -x "$bin" ]]; then
        "$ROOT/.ci/install-s3s.sh" >&2 || fail ".ci/install-s3s.sh failed"
        bin="$CACHE/s3s/bin/s3s-fs"
    fi
    mkdir -p "$1/riffle-state"
    "$bin" --host 127.0.0.1 --port "$2" --access-key "$3" --secret-key "$4" "$1" >"$WORK/s3s-fs.log" 2>&1 &
    S3_PID=$!
    wait_until "s3s-fs on 127.0.0.1:$2" 30 sh -c "curl -s -o /dev/null http://127.0.0.1:$2/"
}

stop_s3() {
    [[ -n "$S3_PID" ]] || return 0
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}

job_restored() { # M JOB: the job's checkpoint statistics name the snapshot it was restored from
    rest_q "$1" "/v1/jobs/$2/checkpoints" | jq -e '.latest.restored.external_path // empty' >/dev/null 2>&1
}

k8s_job_succeeded() { [[ "$(kubectl get job -n "$1" "$2" -o jsonpath='{.status.succeeded}' 2>/dev/null)" == 1 ]]; }

# Deletes the JobManager pod of an application cluster mid-run: the Kubernetes Job makes a new
# pod, which resumes the same job id from its latest checkpoint; then the Job completes.
jm_pod_deleted_mid_job() { # LABEL NAMESPACE M JOB-ID K8S-JOB JM-SELECTOR
    local what="$1" ns="$2" m="$3" job="$4" k8s_job="$5" selector="$6"
    local victim checkpoints t_kill restored
    wait_until "2 completed checkpoints of job $job" 60 checkpoints_at_least "$m" "$job" 2
    victim="$(pods_of "$ns" "$selector")"
    [[ -n "$victim" && "$victim" != *$'\n'* ]] || fail "not one JobManager pod matches $selector: '$victim'"
    checkpoints="$(completed_checkpoints "$m" "$job")"
    t_kill="$(now)"
    kubectl delete pod -n "$ns" "$victim" --wait=false >/dev/null
    say "$what: deleted JobManager pod $victim after $checkpoints checkpoint(s)"
    wait_until "a new JobManager pod" 60 sh -c "[ -n \"\$(kubectl get pods -n $ns -l $selector -o name | grep -v $victim)\" ]"
    wait_until "job $job resumed from its checkpoint by the new JobManager" 120 job_restored "$m" "$job"
    timing "$what: JobManager pod deleted -> job restored and running" "$(since "$t_kill")"
    restored="$(rest_q "$m" "/v1/jobs/$job/checkpoints" | jq -c '.latest.restored | {id, is_savepoint, external_path}')"
    say "$what: the new JobManager restored job $job from $restored"
    [[ "$(jq -r .is_savepoint <<<"$restored")" == false ]] || fail "job $job was restored from a savepoint, not its own checkpoint: $restored"
    wait_until "the Kubernetes Job $k8s_job to complete" 180 k8s_job_succeeded "$ns" "$k8s_job"
}

scenario_application() {
    local ns=riffle-app t_apply
    local rest rpc metrics s3port m ak sk
    rest="$(free_port)" rpc="$(free_port)" metrics="$(free_port)" s3port="$(free_port)"
    m="127.0.0.1:$rest"
    ak="riffle-$RANDOM$RANDOM" sk="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    local p="$WORK/app-patches" s3root="$WORK/s3"
    mkdir -p "$p"
    start_s3 "$s3root" "$s3port" "$ak" "$sk"
    new_namespace "$ns"
    local s3props=("s3.endpoint: http://127.0.0.1:$s3port" "s3.path.style.access: true")
    tb_jobmanager "$rest" "$rpc" "$metrics" "${s3props[@]}" >"$p/jobmanager.yaml"
    tb_taskmanager "$rpc" 29320-29339 "${s3props[@]}" >"$p/taskmanager.yaml"
    render_job windowed_count.sql "$WORK/app-job.sql" s3://riffle-state/out-app 8000

    t_apply="$(now)"
    kubectl create secret generic riffle-s3-credentials -n "$ns" \
        --from-literal=access-key="$ak" --from-literal=secret-key="$sk" >/dev/null
    kubectl create configmap riffle-job-sql -n "$ns" --from-file=job.sql="$WORK/app-job.sql" >/dev/null
    {
        cat "$DEPLOY/serviceaccount.yaml"
        echo ---
        cat "$DEPLOY/checkpoint-storage/s3/flink-configuration-configmap.yaml"
        echo ---
        cat "$DEPLOY/jobmanager-service.yaml"
        echo ---
        cat "$DEPLOY/networkpolicy.yaml"
        echo ---
        tb_pdb_v1beta1 "$DEPLOY/taskmanager-poddisruptionbudget.yaml"
        echo ---
        patched "$DEPLOY/jobmanager-application.yaml" "$DEPLOY/checkpoint-storage/s3/jobmanager-patch.yaml" "$p/jobmanager.yaml"
        echo ---
        patched "$DEPLOY/taskmanager-job-deployment.yaml" "$DEPLOY/checkpoint-storage/s3/taskmanager-patch.yaml" "$p/taskmanager.yaml"
    } >"$WORK/application.yaml"
    kubectl apply -n "$ns" -f "$WORK/application.yaml" >/dev/null || fail "kubectl apply of the application cluster failed"
    local job
    wait_until "the application's job RUNNING" 120 first_job_running "$m"
    job="$(only_job "$m")"
    timing "application: apply -> job RUNNING" "$(since "$t_apply")"
    local listed
    listed="$("$RIFFLE" list -r -m "$m" 2>&1)" || fail "riffle list -r -m $m failed: $listed"
    grep -q " : $job : .*(RUNNING)" <<<"$listed" || fail "riffle list -r does not show job $job RUNNING: $listed"

    jm_pod_deleted_mid_job application "$ns" "$m" "$job" riffle-jobmanager component=jobmanager
    timing "application: apply -> Kubernetes Job complete (with the pod deletion)" "$(since "$t_apply")"
    [[ -f "$s3root/riffle-state/checkpoints/job-result-store/$job.json" ]] ||
        fail "the job result store in S3 has no entry for job $job (s3://riffle-state/checkpoints/job-result-store/)"
    same_output application "$s3root/riffle-state/out-app"
    drop_namespace "$ns"
    stop_s3
}

k8s_job_gone() { ! kubectl get job -n "$1" "$2" >/dev/null 2>&1; }

# Renders the job-cluster templates with envsubst (only the templates' variables) and applies
# them with the test-bed overlay.
apply_job_cluster() { # NAMESPACE PATCH-DIR OUT-FILE
    local ns="$1" p="$2" f
    for f in configmap jobmanager-service jobmanager-job taskmanager-deployment; do
        envsubst "$JOB_CLUSTER_VARS" <"$DEPLOY/job-cluster/$f.yaml.template" >"$p/$f.yaml"
    done
    {
        cat "$p/configmap.yaml"
        echo ---
        cat "$p/jobmanager-service.yaml"
        echo ---
        patched "$p/jobmanager-job.yaml" "$p/tb-jobmanager.yaml"
        echo ---
        patched "$p/taskmanager-deployment.yaml" "$p/tb-taskmanager.yaml"
    } >"$3"
    kubectl apply -n "$ns" -f "$3" >/dev/null || fail "kubectl apply of the rendered job-cluster templates failed"
}

scenario_job_cluster() {
    local ns=riffle-jobcluster t t_apply
    local rest rpc metrics m
    rest="$(free_port)" rpc="$(free_port)" metrics="$(free_port)"
    m="127.0.0.1:$rest"
    local state="$WORK/jobcluster-state" p="$WORK/jobcluster"
    mkdir -p "$p"
    new_namespace "$ns"
    tb_jobmanager "$rest" "$rpc" "$metrics" >"$p/tb-jobmanager.yaml"
    tb_taskmanager "$rpc" 29340-29359 >"$p/tb-taskmanager.yaml"
    tb_state_volume riffle-jobcluster-state "$ns" riffle-state "$state" | kubectl apply -f - >/dev/null
    kubectl apply -n "$ns" -f "$DEPLOY/checkpoint-storage/pvc/riffle-state-pvc.yaml" >/dev/null
    render_job windowed_count.sql "$p/job.sql" /opt/riffle/state/out-jobcluster 8000

    export JOB_NAME=windowed-count JOB_ID_SEED=windowed-count PARALLELISM=2 SAVEPOINT_PATH="" \
        ALLOW_NON_RESTORED_STATE=false IMAGE STATE_CLAIM=riffle-state
    kubectl create configmap "$JOB_NAME-sql" -n "$ns" --from-file=job.sql="$p/job.sql" >/dev/null
    t_apply="$(now)"
    apply_job_cluster "$ns" "$p" "$p/first.yaml"
    wait_until "the job cluster's job RUNNING" 120 first_job_running "$m"
    local job
    job="$(only_job "$m")"
    timing "job-cluster: envsubst + apply -> job RUNNING" "$(since "$t_apply")"
    wait_until "2 completed checkpoints of job $job" 60 checkpoints_at_least "$m" "$job" 2

    # Stop with a savepoint (riffle stop = flink stop: POST /jobs/:id/stop).
    t="$(now)"
    local out savepoint
    out="$("$RIFFLE" stop -m "$m" "$job" 2>&1)" || fail "riffle stop -m $m $job failed: $out"
    savepoint="$(sed -n 's/^Savepoint completed. Path: //p' <<<"$out")"
    [[ -n "$savepoint" ]] || fail "riffle stop printed no savepoint path: $out"
    timing "job-cluster: riffle stop (stop with savepoint)" "$(since "$t")"
    say "job-cluster: job $job stopped with savepoint $savepoint"
    wait_until "the first JobManager Job to complete" 60 k8s_job_succeeded "$ns" "$JOB_NAME-jobmanager"
    local first_lines
    first_lines="$(committed_lines "$state/out-jobcluster" | wc -l)"
    ((first_lines < 4201)) || fail "the first run wrote all $first_lines rows before the stop: nothing left to continue"

    # Restart from the savepoint: one variable changes. A Job's pod template is immutable, so the
    # completed Job goes first; the TaskManagers stay.
    t="$(now)"
    kubectl delete job -n "$ns" "$JOB_NAME-jobmanager" --wait=true >/dev/null
    SAVEPOINT_PATH="$savepoint"
    apply_job_cluster "$ns" "$p" "$p/second.yaml"
    wait_until "the restarted job RUNNING" 120 first_job_running "$m"
    local job2 restored
    job2="$(only_job "$m")"
    [[ "$job2" != "$job" ]] || fail "the restarted job kept the id $job"
    wait_until "job $job2 to report what it restored" 30 job_restored "$m" "$job2"
    restored="$(rest_q "$m" "/v1/jobs/$job2/checkpoints" | jq -c '.latest.restored | {id, is_savepoint, external_path}')"
    [[ "$(jq -r .is_savepoint <<<"$restored")" == true && "$(jq -r .external_path <<<"$restored")" == "$savepoint" ]] ||
        fail "job $job2 did not restore the savepoint $savepoint: $restored"
    timing "job-cluster: re-render with SAVEPOINT_PATH + apply -> job RUNNING from it" "$(since "$t")"
    say "job-cluster: job $job2 continues from $restored"
    wait_until "the second JobManager Job to complete" 120 k8s_job_succeeded "$ns" "$JOB_NAME-jobmanager"
    timing "job-cluster: first apply -> second Kubernetes Job complete" "$(since "$t_apply")"
    say "job-cluster: the first run committed $first_lines rows before its savepoint, the second the rest"
    same_output job-cluster "$state/out-jobcluster"
    unset JOB_NAME JOB_ID_SEED PARALLELISM SAVEPOINT_PATH ALLOW_NON_RESTORED_STATE STATE_CLAIM
    drop_namespace "$ns"
}

# The apiserver as a pod on the host network reaches it: 127.0.0.1:<port> (there is no kube-proxy
# to route the kubernetes Service's address).
tb_ha_jobmanager() {
    local server port
    server="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"
    port="${server##*:}"
    cat <<EOF
spec:
  template:
    spec:
      containers:
      - name: jobmanager
        env:
        - name: KUBERNETES_SERVICE_HOST
          value: "127.0.0.1"
        - name: KUBERNETES_SERVICE_PORT
          value: "$port"
EOF
}

pod_process() { # POD: the pid of the riffle process that pod runs (its POD_NAME variable)
    local pid
    for pid in $(pgrep -x riffle); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "POD_NAME=$1" && { echo "$pid"; return 0; }
    done
    return 1
}

# `kubectl delete pod` of a TaskManager as the failure to recover from: its process must go. On
# this test bed the kubelet was once seen not to act on such a deletion for over a minute (no
# Killing event, the container still running, the job finished without a failure). If the pod's
# process still runs 10 s after the deletion it gets SIGKILL, as the kubelet would give it after
# the grace period, so the scenario tests Riffle's recovery and not the kubelet's latency.
delete_taskmanager_pod() { # NAMESPACE POD
    kubectl delete pod -n "$1" "$2" --wait=false >/dev/null
    local deadline=$((SECONDS + 10)) pid
    while ((SECONDS < deadline)); do
        pod_process "$2" >/dev/null || return 0
        sleep 0.2
    done
    pid="$(pod_process "$2")" || return 0
    say "the kubelet has not stopped pod $2 10 s after its deletion: SIGKILL to its riffle process $pid"
    kill -KILL "$pid" 2>/dev/null || true
}

ha_leader() { # NAMESPACE: the Lease's holder
    kubectl get lease -n "$1" riffle-cluster-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}
ha_leader_is_not() { local h; h="$(ha_leader "$1")"; [[ -n "$h" && "$h" != "$2" ]]; }
job_restored_from_at_least() { # M JOB CHECKPOINT-ID
    local id
    id="$(rest_q "$1" "/v1/jobs/$2/checkpoints" | jq -r '.latest.restored.id // 0' 2>/dev/null)"
    ((${id:-0} >= $3))
}

scenario_ha() {
    local ns=riffle-ha t_apply
    local rest rpc m
    rest="$(free_port)" rpc="$(free_port)"
    m="127.0.0.1:$rest"
    local state="$WORK/ha-state" p="$WORK/ha-patches"
    mkdir -p "$p"
    new_namespace "$ns"
    # Leader-election timings short enough for a test (Flink's defaults: 15 s, 15 s, 5 s).
    tb_jobmanager "$rest" "$rpc" 29380-29389 \
        "high-availability.kubernetes.leader-election.lease-duration: 4 s" \
        "high-availability.kubernetes.leader-election.renew-deadline: 3 s" \
        "high-availability.kubernetes.leader-election.retry-period: 1 s" >"$p/jobmanager.yaml"
    tb_ha_jobmanager >"$p/jobmanager-ha.yaml"
    tb_taskmanager "$rpc" 29390-29399 >"$p/taskmanager.yaml"
    tb_state_volume riffle-ha-state "$ns" riffle-state "$state" | kubectl apply -f - >/dev/null

    t_apply="$(now)"
    {
        session_pvc_objects
        echo ---
        cat "$DEPLOY/high-availability/ha-rbac.yaml"
        echo ---
        patched "$DEPLOY/jobmanager-session-deployment.yaml" "$DEPLOY/checkpoint-storage/pvc/jobmanager-patch.yaml" \
            "$p/jobmanager.yaml" "$DEPLOY/high-availability/jobmanager-patch.yaml" "$p/jobmanager-ha.yaml"
        echo ---
        patched "$DEPLOY/taskmanager-session-deployment.yaml" "$DEPLOY/checkpoint-storage/pvc/taskmanager-patch.yaml" "$p/taskmanager.yaml"
    } >"$WORK/ha.yaml"
    kubectl apply -n "$ns" -f "$WORK/ha.yaml" >/dev/null || fail "kubectl apply of the HA session cluster failed"
    wait_until "a leader with 2 TaskManagers" 120 taskmanagers_registered "$m" 2
    timing "ha: apply -> a JobManager leads, 2 TaskManagers registered" "$(since "$t_apply")"
    local leader first_leader
    leader="$(ha_leader "$ns")"
    [[ -n "$leader" ]] || fail "no Lease holder"
    first_leader="$leader"
    wait_until "2 JobManager pods running" 60 sh -c "[ \"\$(kubectl get pods -n $ns -l component=jobmanager --field-selector=status.phase=Running -o name | wc -l)\" = 2 ]"
    say "ha: JobManager $leader leads; the other pod stands by"

    # RBAC: the JobManagers' account may do what HA needs and nothing else.
    local sa="system:serviceaccount:$ns:riffle-jobmanager" verb
    for verb in "update leases.coordination.k8s.io" "create configmaps" "update configmaps"; do
        # shellcheck disable=SC2086 # verb and resource as two words
        [[ "$(kubectl auth can-i -n "$ns" --as="$sa" $verb)" == yes ]] || fail "the HA Role does not allow: $verb"
    done
    for verb in "delete configmaps" "list pods" "create pods" "get secrets"; do
        # shellcheck disable=SC2086
        [[ "$(kubectl auth can-i -n "$ns" --as="$sa" $verb 2>/dev/null || true)" == no ]] || fail "the HA Role allows more than it needs: $verb"
    done
    [[ "$(kubectl auth can-i -n default --as="$sa" update leases.coordination.k8s.io 2>/dev/null || true)" == no ]] ||
        fail "the HA Role reaches beyond its namespace"
    say "ha: the riffle-jobmanager account may update Leases and ConfigMaps here, and may not delete ConfigMaps, touch pods or secrets, or act in another namespace"

    render_job windowed_count.sql "$WORK/ha-job.sql" /opt/riffle/state/out-ha 2500
    local out job
    out="$("$RIFFLE" run -m "$m" -d "$WORK/ha-job.sql" 2>&1)" || fail "riffle run -m -d failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    [[ ${#job} == 32 ]] || fail "no job id in the output of riffle run -m -d: $out"
    wait_until "job $job RUNNING" 60 job_in_state "$m" "$job" RUNNING
    wait_until "2 completed checkpoints of job $job" 60 checkpoints_at_least "$m" "$job" 2
    [[ -n "$(kubectl get cm -n "$ns" riffle-cluster-config-map -o jsonpath="{.data.jobGraph-$job}")" ]] ||
        fail "the HA ConfigMap does not point at job $job"
    local pointer
    pointer="$(kubectl get cm -n "$ns" riffle-cluster-config-map -o jsonpath="{.data.checkpoint-$job}")"
    [[ "$pointer" == *" file:///opt/riffle/state/checkpoints/$job/chk-"* ]] ||
        fail "the HA ConfigMap does not record job $job's latest checkpoint: '$pointer'"
    kubectl get cm -n "$ns" -l configmap-type=high-availability,app=riffle -o name | grep -q riffle-cluster-config-map ||
        fail "the HA ConfigMap lacks Flink's labels"

    # 1. The leader's pod is deleted (SIGTERM: it releases the Lease).
    local pod="${leader%-*}" t_kill
    t_kill="$(now)"
    kubectl delete pod -n "$ns" "$pod" --wait=false >/dev/null
    say "ha: deleted the leader's pod $pod after $(completed_checkpoints "$m" "$job") checkpoint(s)"
    wait_until "another JobManager to hold the Lease" 60 ha_leader_is_not "$ns" "$leader"
    timing "ha: leader pod deleted -> Lease taken over" "$(since "$t_kill")"
    leader="$(ha_leader "$ns")"
    wait_until "job $job recovered by the new leader" 60 job_restored_from_at_least "$m" "$job" 1
    wait_until "job $job RUNNING again" 60 job_in_state "$m" "$job" RUNNING
    timing "ha: leader pod deleted -> job RUNNING on the new leader" "$(since "$t_kill")"
    say "ha: $leader leads now and runs job $job from $(rest_q "$m" "/v1/jobs/$job/checkpoints" | jq -c '.latest.restored | {id, external_path}')"

    # 2. The new leader's process is killed (SIGKILL, as a crash or the OOM killer): it releases
    # nothing, so the standby waits for the Lease to expire.
    wait_until "a checkpoint of job $job under the new leader" 60 checkpoints_at_least "$m" "$job" 1
    local last_checkpoint victim_pid
    last_checkpoint="$(rest_q "$m" "/v1/jobs/$job/checkpoints" | jq -r '.latest.completed.id // 0')"
    pod="${leader%-*}"
    victim_pid="$(pod_process "$pod")"
    [[ -n "$victim_pid" ]] || fail "found no riffle process of pod $pod"
    t_kill="$(now)"
    kill -KILL "$victim_pid"
    say "ha: SIGKILL to the new leader (pod $pod, pid $victim_pid) after checkpoint $last_checkpoint"
    wait_until "another JobManager to hold the Lease" 60 ha_leader_is_not "$ns" "$leader"
    timing "ha: leader SIGKILLed -> Lease taken over (lease 4 s)" "$(since "$t_kill")"
    wait_until "job $job restored from checkpoint $last_checkpoint or later" 60 job_restored_from_at_least "$m" "$job" "$last_checkpoint"
    wait_until "job $job RUNNING on the next leader" 60 job_in_state "$m" "$job" RUNNING
    timing "ha: leader SIGKILLed -> job RUNNING on the next leader" "$(since "$t_kill")"
    [[ "$(ha_leader "$ns")" != "$first_leader" ]] || fail "the Lease went back to the first, deleted, leader"

    wait_finished "$m" "$job" 180
    same_output ha "$state/out-ha"
    wait_until "job $job's pointers removed from the HA ConfigMap" 30 \
        sh -c "[ -z \"\$(kubectl get cm -n $ns riffle-cluster-config-map -o jsonpath='{.data.jobGraph-$job}{.data.checkpoint-$job}')\" ]"
    [[ ! -e "$state/ha/riffle/job-graphs/$job.json" ]] || fail "job $job's HA file is left after the job ended"
    say "ha: job $job ended; its HA data is gone"
    drop_namespace "$ns"
}

# ---------------------------------------------------------------------------------------------
# Native mode: `riffle kubernetes-session` / `run-application` create the cluster through the
# API, the JobManager creates its TaskManager pods. The test-bed differences are -D values and
# pod templates, as a user would give them.

# The apiserver's port, for KUBERNETES_SERVICE_PORT of JobManager pods (nothing routes the
# `kubernetes` Service here).
apiserver_port() { local server; server="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"; echo "${server##*:}"; }

# Pod templates: the riffle-state volume for both; for the JobManager a readiness probe on
# 127.0.0.1 (pods have no IP here).
native_templates() { # DIR REST-PORT
    cat >"$1/jobmanager-template.yaml" <<EOF
apiVersion: v1
kind: Pod
spec:
  containers:
  - name: flink-main-container
    readinessProbe:
      httpGet: {host: 127.0.0.1, port: $2, path: /config}
      periodSeconds: 1
    volumeMounts:
    - {name: riffle-state, mountPath: /opt/riffle/state}
  volumes:
  - name: riffle-state
    persistentVolumeClaim: {claimName: riffle-state}
EOF
    cat >"$1/taskmanager-template.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  labels: {from-template: "yes"}
spec:
  containers:
  - name: flink-main-container
    volumeMounts:
    - {name: riffle-state, mountPath: /opt/riffle/state}
  volumes:
  - name: riffle-state
    persistentVolumeClaim: {claimName: riffle-state}
EOF
}

# The -D options of a native cluster on the test bed, one per line.
native_options() { # ID NAMESPACE REST RPC TEMPLATE-DIR
    local id="$1" ns="$2" rest="$3" rpc="$4" dir="$5"
    printf -- '-D%s\n' \
        "kubernetes.cluster-id=$id" \
        "kubernetes.namespace=$ns" \
        "kubernetes.container.image.ref=$IMAGE" \
        "kubernetes.container.image.pull-policy=Never" \
        "kubernetes.service-account=riffle-native" \
        "kubernetes.hostnetwork.enabled=true" \
        "kubernetes.jobmanager.cpu.amount=0.05" \
        "kubernetes.jobmanager.cpu.limit-factor=40" \
        "kubernetes.taskmanager.cpu.amount=0.05" \
        "kubernetes.taskmanager.cpu.limit-factor=40" \
        "kubernetes.pod-template-file.jobmanager=$dir/jobmanager-template.yaml" \
        "kubernetes.pod-template-file.taskmanager=$dir/taskmanager-template.yaml" \
        "containerized.master.env.KUBERNETES_SERVICE_HOST=127.0.0.1" \
        "containerized.master.env.KUBERNETES_SERVICE_PORT=$(apiserver_port)" \
        "taskmanager.numberOfTaskSlots=2" \
        "resourcemanager.taskmanager-timeout=5 s" \
        "jobmanager.rpc.address=127.0.0.1" "jobmanager.rpc.port=$rpc" "jobmanager.bind-host=127.0.0.1" \
        "rest.address=127.0.0.1" "rest.port=$rest" "rest.bind-address=127.0.0.1" \
        "taskmanager.host=127.0.0.1" "taskmanager.bind-host=127.0.0.1" "taskmanager.data.port=0" \
        "metrics.reporter.prom.port=29400-29419" \
        "execution.checkpointing.dir=file:///opt/riffle/state/checkpoints" \
        "execution.checkpointing.savepoint-dir=file:///opt/riffle/state/savepoints"
}

native_prepare() { # NAMESPACE STATE-DIR PV-NAME RBAC (manifest: deploy/kubernetes/native/rbac.yaml, chart: the chart's nativeRbac)
    new_namespace "$1"
    case "$4" in
        manifest) kubectl apply -n "$1" -f "$DEPLOY/native/rbac.yaml" >/dev/null || fail "kubectl apply of native/rbac.yaml failed" ;;
        chart) helm template riffle "$CHART" -n "$1" --show-only templates/native-rbac.yaml --set nativeRbac.create=true |
            kubectl apply -n "$1" -f - >/dev/null || fail "kubectl apply of the chart's native RBAC failed" ;;
    esac
    tb_state_volume "$3" "$1" riffle-state "$2" | kubectl apply -f - >/dev/null
    kubectl apply -n "$1" -f "$DEPLOY/checkpoint-storage/pvc/riffle-state-pvc.yaml" >/dev/null
}

# The cluster's TaskManager pods that are not being deleted, one name per line.
tm_pod_names() { # NAMESPACE ID
    kubectl get pods -n "$1" -l "app=$2,component=taskmanager" \
        -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}' 2>/dev/null
}
job_checkpointed_since_restore() { # M JOB: a checkpoint completed after the latest restore
    local c
    c="$(rest_q "$1" "/v1/jobs/$2/checkpoints")" || return 1
    (($(jq -r '.latest.completed.id // 0' <<<"$c") > $(jq -r '.latest.restored.id // 0' <<<"$c")))
}
tm_pods_are() { [[ "$(tm_pod_names "$1" "$2" | sort | tr '\n' ' ')" == "$3" ]]; }
nothing_of_cluster_left() { # NAMESPACE ID: no Deployment, pod, Service or ConfigMap but the HA one
    local out
    out="$(kubectl get deployments,pods,services,configmaps -n "$1" -l "app=$2" -o name 2>/dev/null)" || return 1
    ! grep -v -- '-cluster-config-map$' <<<"$out" | grep -q .
}

scenario_native() {
    local ns=riffle-native id=native rest rpc m state="$WORK/native-state" dir="$WORK/native"
    rest="$(free_port)" rpc="$(free_port)"
    m="127.0.0.1:$rest"
    mkdir -p "$dir"
    native_prepare "$ns" "$state" riffle-native-state manifest
    native_templates "$dir" "$rest"
    local sa="system:serviceaccount:$ns:riffle-native" verb
    for verb in "create pods" "delete pods" "list pods" "get deployments.apps" "delete deployments.apps" "update configmaps" "update leases.coordination.k8s.io"; do
        # shellcheck disable=SC2086 # verb and resource as two words
        [[ "$(kubectl auth can-i -n "$ns" --as="$sa" $verb)" == yes ]] || fail "the native Role does not allow: $verb"
    done
    for verb in "create deployments.apps" "create services" "delete configmaps" "get secrets" "update pods"; do
        # shellcheck disable=SC2086
        [[ "$(kubectl auth can-i -n "$ns" --as="$sa" $verb 2>/dev/null || true)" == no ]] || fail "the native Role allows more than it needs: $verb"
    done
    [[ "$(kubectl auth can-i -n default --as="$sa" create pods 2>/dev/null || true)" == no ]] || fail "the native Role reaches beyond its namespace"
    say "native: the riffle-native account may manage pods and read/delete its Deployment here, and may not create Deployments or Services, delete ConfigMaps, read Secrets or act in another namespace"

    local -a opts
    mapfile -t opts < <(native_options "$id" "$ns" "$rest" "$rpc" "$dir")
    opts+=("-Dkubernetes.jobmanager.replicas=2"
        "-Dhigh-availability.type=kubernetes" "-Dhigh-availability.storageDir=file:///opt/riffle/state/ha"
        "-Dhigh-availability.kubernetes.leader-election.lease-duration=4 s"
        "-Dhigh-availability.kubernetes.leader-election.renew-deadline=3 s"
        "-Dhigh-availability.kubernetes.leader-election.retry-period=1 s")
    local out t t_create
    t_create="$(now)"
    out="$("$RIFFLE" kubernetes-session "${opts[@]}" 2>&1)" || fail "riffle kubernetes-session failed: $out"
    say "native: $(grep -m 1 Created <<<"$out")"
    out="$("$RIFFLE" kubernetes-session "${opts[@]}" 2>&1)" && fail "a second kubernetes-session with the same id succeeded: $out"
    grep -q "already exists" <<<"$out" || fail "a second kubernetes-session with the same id: unclear error: $out"
    local uid owner obj
    uid="$(kubectl get deployment -n "$ns" "$id" -o jsonpath='{.metadata.uid}')"
    for obj in "configmap/flink-config-$id" "service/$id" "service/$id-rest"; do
        owner="$(kubectl get -n "$ns" "$obj" -o jsonpath='{.metadata.ownerReferences[0].uid}' 2>/dev/null)" || fail "kubernetes-session did not create $obj"
        [[ "$owner" == "$uid" ]] || fail "$obj is not owned by Deployment $id"
    done
    local -a target=(--target kubernetes-session "-Dkubernetes.cluster-id=$id" "-Dkubernetes.namespace=$ns")
    wait_until "the native JobManager's REST API, found by cluster id" 120 "$RIFFLE" list "${target[@]}"
    timing "native: kubernetes-session -> REST reachable by cluster id" "$(since "$t_create")"
    [[ -z "$(tm_pod_names "$ns" "$id")" ]] || fail "TaskManager pods exist before any job: $(tm_pod_names "$ns" "$id")"

    # A job needing 4 slots, 2 slots per TaskManager: exactly 2 TaskManager pods.
    render_job windowed_count.sql "$WORK/native-job.sql" /opt/riffle/state/out-native 2500
    local job
    t="$(now)"
    out="$("$RIFFLE" run "${target[@]}" -p 4 -d "$WORK/native-job.sql" 2>&1)" || fail "riffle run --target kubernetes-session failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    [[ ${#job} == 32 ]] || fail "no job id in the output of riffle run --target: $out"
    wait_until "job $job RUNNING" 120 job_in_state "$m" "$job" RUNNING
    timing "native: submit (4 slots) -> 2 TaskManager pods started, job RUNNING" "$(since "$t")"
    tm_pods_are "$ns" "$id" "$id-taskmanager-1-1 $id-taskmanager-1-2 " || fail "expected exactly 2 TaskManager pods, found: $(tm_pod_names "$ns" "$id" | tr '\n' ' ')"
    [[ "$(kubectl get pod -n "$ns" "$id-taskmanager-1-1" -o jsonpath='{.metadata.ownerReferences[0].uid} {.metadata.labels.from-template}')" == "$uid yes" ]] ||
        fail "TaskManager pod not owned by the Deployment or not from the template"
    say "native: job $job (parallelism 4) runs on exactly 2 TaskManager pods: $(tm_pod_names "$ns" "$id" | tr '\n' ' ')"

    # The other client commands find the cluster by its id too: a savepoint of the running job.
    out="$("$RIFFLE" savepoint "${target[@]}" "$job" file:///opt/riffle/state/savepoints 2>&1)" ||
        fail "riffle savepoint --target kubernetes-session failed: $out"
    grep -q "Savepoint completed. Path: file:///opt/riffle/state/savepoints/" <<<"$out" || fail "no savepoint path in: $out"
    say "native: riffle savepoint --target kubernetes-session: $(grep -o 'Path: .*' <<<"$out")"

    # A TaskManager pod deleted: a replacement under a new name, the job recovers, exact output.
    wait_until "a completed checkpoint of job $job" 60 has_checkpoint "$m" "$job"
    local t_kill
    t_kill="$(now)"
    delete_taskmanager_pod "$ns" "$id-taskmanager-1-1"
    say "native: deleted TaskManager pod $id-taskmanager-1-1 after $(completed_checkpoints "$m" "$job") checkpoint(s)"
    wait_until "job $job to restart" 60 job_restarted "$m" "$job"
    wait_until "a replacement TaskManager pod" 60 tm_pods_are "$ns" "$id" "$id-taskmanager-1-2 $id-taskmanager-1-3 "
    wait_until "job $job RUNNING again" 120 job_in_state "$m" "$job" RUNNING
    timing "native: TaskManager pod deleted -> replacement pod, job RUNNING again" "$(since "$t_kill")"

    # The leading JobManager's pod deleted: the standby leads, the TaskManagers follow it, the new
    # resource manager keeps them (no new pods), the job resumes from its latest checkpoint.
    local leader
    leader="$(kubectl get lease -n "$ns" "$id-cluster-leader" -o jsonpath='{.spec.holderIdentity}')"
    [[ -n "$leader" ]] || fail "no JobManager holds the Lease"
    wait_until "a checkpoint of job $job after the TaskManager failover" 60 job_checkpointed_since_restore "$m" "$job"
    local last
    last="$(rest_q "$m" "/v1/jobs/$job/checkpoints" | jq -r '.latest.completed.id')"
    t_kill="$(now)"
    kubectl delete pod -n "$ns" "${leader%-*}" --wait=false >/dev/null
    say "native: deleted the leading JobManager pod ${leader%-*} after checkpoint $last"
    wait_until "the standby JobManager to hold the Lease" 60 \
        sh -c "h=\$(kubectl get lease -n $ns $id-cluster-leader -o jsonpath='{.spec.holderIdentity}'); [ -n \"\$h\" ] && [ \"\$h\" != $leader ]"
    wait_until "job $job resumed by the new leader from checkpoint $last or later" 60 job_restored_from_at_least "$m" "$job" "$last"
    wait_until "job $job RUNNING on the new leader" 60 job_in_state "$m" "$job" RUNNING
    timing "native: leading JobManager pod deleted -> job RUNNING on the standby" "$(since "$t_kill")"
    tm_pods_are "$ns" "$id" "$id-taskmanager-1-2 $id-taskmanager-1-3 " || fail "the new leader changed the TaskManager pods: $(tm_pod_names "$ns" "$id" | tr '\n' ' ')"
    wait_finished "$m" "$job" 240
    same_output native "$state/out-native"
    t="$(now)"
    wait_until "the idle TaskManager pods released (resourcemanager.taskmanager-timeout 5 s)" 60 tm_pods_are "$ns" "$id" ""
    timing "native: job FINISHED -> idle TaskManager pods deleted (timeout 5 s)" "$(since "$t")"
    out="$("$RIFFLE" list -a "${target[@]}" 2>&1)" || fail "riffle list -a --target kubernetes-session failed: $out"
    grep -q "$job.*FINISHED" <<<"$out" || fail "riffle list -a --target kubernetes-session does not show $job FINISHED: $out"

    # Deleting the Deployment deletes the cluster; its HA ConfigMap and Lease stay by design.
    t="$(now)"
    kubectl delete deployment -n "$ns" "$id" --wait=false >/dev/null
    wait_until "every object of cluster $id removed by the garbage collector" 90 nothing_of_cluster_left "$ns" "$id"
    timing "native: kubectl delete deployment -> every object of the cluster gone" "$(since "$t")"
    kubectl get cm -n "$ns" "$id-cluster-config-map" >/dev/null 2>&1 || fail "the HA ConfigMap should outlive the cluster"
    kubectl delete cm -n "$ns" -l "app=$id,configmap-type=high-availability" >/dev/null 2>&1 || true
    kubectl delete lease -n "$ns" "$id-cluster-leader" >/dev/null 2>&1 || true
    say "native: kubectl delete deployment/$id removed the pods, Services and ConfigMap of the cluster"
    drop_namespace "$ns"
}

scenario_native_application() {
    local ns=riffle-native-app id=native-app rest rpc state="$WORK/native-app-state" dir="$WORK/native-app"
    rest="$(free_port)" rpc="$(free_port)"
    mkdir -p "$dir"
    # The chart's native RBAC (nativeRbac.create) this time: the same rules as the manifest.
    native_prepare "$ns" "$state" riffle-native-app-state chart
    native_templates "$dir" "$rest"
    local -a opts
    mapfile -t opts < <(native_options "$id" "$ns" "$rest" "$rpc" "$dir")
    render_job windowed_count.sql "$WORK/native-app-job.sql" /opt/riffle/state/out-native-app 20000
    local out t
    t="$(now)"
    out="$("$RIFFLE" run-application --target kubernetes-application -p 2 "${opts[@]}" "$WORK/native-app-job.sql" 2>&1)" ||
        fail "riffle run-application failed: $out"
    say "native-application: $(grep -m 1 Created <<<"$out")"
    wait_until "a TaskManager pod of the application" 120 tm_pods_are "$ns" "$id" "$id-taskmanager-1-1 "
    timing "native-application: run-application -> its TaskManager pod" "$(since "$t")"
    wait_until "the application cluster to delete itself after its job" 300 nothing_of_cluster_left "$ns" "$id"
    timing "native-application: run-application -> job done, cluster deleted itself" "$(since "$t")"
    same_output native-application "$state/out-native-app"
    drop_namespace "$ns"
}

# ---------------------------------------------------------------------------------------------
# The operator: charts/riffle-operator installed, FlinkDeployments applied with kubectl. The
# test-bed differences are chart values (host network, the apiserver address, the local image)
# and the FlinkDeployment's flinkConfiguration and pod templates, as a user would give them.

OPERATOR_CHART="$ROOT/charts/riffle-operator"

# A FlinkDeployment as JSON: NAME SQL-FILE UPGRADE-MODE STATE REST RPC [KEY=VALUE...] (extra
# flinkConfiguration entries); the job's parallelism is OP_PARALLELISM (default 2).
op_flinkdeployment() {
    local name="$1" sql="$2" mode="$3" state="$4" rest="$5" rpc="$6"
    shift 6
    local conf
    conf="$(printf '%s\n' \
        "kubernetes.hostnetwork.enabled=true" \
        "kubernetes.jobmanager.cpu.amount=0.05" "kubernetes.jobmanager.cpu.limit-factor=40" \
        "kubernetes.taskmanager.cpu.amount=0.05" "kubernetes.taskmanager.cpu.limit-factor=40" \
        "containerized.master.env.KUBERNETES_SERVICE_HOST=127.0.0.1" \
        "containerized.master.env.KUBERNETES_SERVICE_PORT=$(apiserver_port)" \
        "taskmanager.numberOfTaskSlots=2" "resourcemanager.taskmanager-timeout=5 s" \
        "jobmanager.rpc.address=127.0.0.1" "jobmanager.rpc.port=$rpc" "jobmanager.bind-host=127.0.0.1" \
        "rest.address=127.0.0.1" "rest.port=$rest" "rest.bind-address=127.0.0.1" \
        "taskmanager.host=127.0.0.1" "taskmanager.bind-host=127.0.0.1" "taskmanager.data.port=0" \
        "metrics.reporter.prom.port=29420-29439" \
        "execution.checkpointing.dir=file:///opt/riffle/state/checkpoints" \
        "execution.checkpointing.savepoint-dir=file:///opt/riffle/state/savepoints" \
        "high-availability.type=kubernetes" "high-availability.storageDir=file:///opt/riffle/state/ha" \
        "high-availability.kubernetes.leader-election.lease-duration=4 s" \
        "high-availability.kubernetes.leader-election.renew-deadline=3 s" \
        "high-availability.kubernetes.leader-election.retry-period=1 s" \
        "kubernetes.operator.observer.progress-check.interval=2 s" \
        "$@" | jq -R 'capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}' | jq -s add)"
    local volume='{"name": "riffle-state", "persistentVolumeClaim": {"claimName": "riffle-state"}}'
    local mount='{"name": "riffle-state", "mountPath": "/opt/riffle/state"}'
    local sql_json=null
    [[ "$sql" == - ]] || sql_json="$(jq -Rs . <"$sql")"
    jq -n --arg name "$name" --arg image "$IMAGE" --argjson sql "$sql_json" --arg mode "$mode" \
        --arg state "$state" --argjson conf "$conf" --argjson rest "$rest" --arg p "${OP_PARALLELISM:-2}" \
        --argjson volume "$volume" --argjson mount "$mount" '{
        apiVersion: "riffle.dev/v1beta1", kind: "FlinkDeployment",
        metadata: {name: $name},
        spec: {
            image: $image, imagePullPolicy: "Never", serviceAccount: "riffle",
            flinkConfiguration: $conf,
            jobManager: {podTemplate: {spec: {
                containers: [{name: "flink-main-container", volumeMounts: [$mount],
                    readinessProbe: {httpGet: {host: "127.0.0.1", port: $rest, path: "/config"}, periodSeconds: 1}}],
                volumes: [$volume]}}},
            taskManager: {podTemplate: {spec: {
                containers: [{name: "flink-main-container", volumeMounts: [$mount]}],
                volumes: [$volume]}}},
            job: (if $sql == null then null else {sql: $sql, upgradeMode: $mode, state: $state, parallelism: ($p | tonumber)} end)
        } | with_entries(select(.value != null))}'
}

# A FlinkSessionJob as JSON: NAME SESSION SQL-FILE UPGRADE-MODE.
op_sessionjob() {
    jq -n --arg name "$1" --arg session "$2" --rawfile sql "$3" --arg mode "$4" '{
        apiVersion: "riffle.dev/v1beta1", kind: "FlinkSessionJob", metadata: {name: $name},
        spec: {deploymentName: $session, job: {sql: $sql, upgradeMode: $mode, parallelism: 2}}}'
}
sj_get() { kubectl get flinksessionjobs.riffle.dev -n "$1" "$2" -o jsonpath="$3" 2>/dev/null; }
sj_running() { [[ "$(sj_get "$1" "$2" '{.status.lifecycleState} {.status.jobStatus.state}')" == "STABLE RUNNING" ]]; }
sj_new_job_running() { # NAMESPACE NAME OLD-JOB
    local id
    id="$(sj_get "$1" "$2" '{.status.jobStatus.jobId}')"
    [[ -n "$id" && "$id" != "$3" ]] && sj_running "$1" "$2"
}

op_get() { kubectl get flinkdeployments.riffle.dev -n "$1" "$2" -o jsonpath="$3" 2>/dev/null; }
op_lifecycle_is() { [[ "$(op_get "$1" "$2" '{.status.lifecycleState}')" == "$3" ]]; }
op_running() { # NAMESPACE NAME LIFECYCLE: in that lifecycle state with its job RUNNING
    [[ "$(op_get "$1" "$2" '{.status.lifecycleState} {.status.jobStatus.state}')" == "$3 RUNNING" ]]
}
op_job() { op_get "$1" "$2" '{.status.jobStatus.jobId}'; }
op_new_job_running() { # NAMESPACE NAME OLD-JOB LIFECYCLE
    local id
    id="$(op_job "$1" "$2")"
    [[ -n "$id" && "$id" != "$3" ]] && op_running "$1" "$2" "$4"
}
op_event() { # NAMESPACE NAME REASON: the operator recorded an Event with this reason
    kubectl get events -n "$1" --field-selector "involvedObject.name=$2" -o jsonpath='{range .items[*]}{.reason}{"\n"}{end}' 2>/dev/null | grep -qx "$3"
}
jm_pods_of() { kubectl get pods -n "$1" -l "app=$2,component=jobmanager" -o name 2>/dev/null; }
no_jm_pods() { [[ -z "$(jm_pods_of "$1" "$2")" ]]; }
operator_pod() { kubectl get pods -n "$1" -l app.kubernetes.io/name=riffle-operator -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}' 2>/dev/null | sed -n 1p; }

# The committed output of a job upgraded across versions that add 100 per version to the key:
# with the version taken off, it must equal the undisturbed run, and each version's windows
# must come after the previous version's.
versions_in_sequence() { # WHAT DIR VERSIONS
    local what="$1" dir="$2" versions="$3" reference
    reference="$(embedded_reference)"
    committed_lines "$2" | awk -F, -v OFS=, '{ $1 = $1 % 100; print }' | LC_ALL=C sort >"$WORK/$what.lines"
    if ! cmp -s "$reference" "$WORK/$what.lines"; then
        diff "$reference" "$WORK/$what.lines" | head -n 20 >&2
        fail "$what: committed output differs from one undisturbed run ($(wc -l <"$WORK/$what.lines") lines vs $(wc -l <"$reference"))"
    fi
    committed_lines "$2" | awk -F, '{ v = int($1 / 100); if (!(v in lo) || $4 < lo[v]) lo[v] = $4; if ($4 > hi[v]) hi[v] = $4 }
        END { for (v in lo) print v, lo[v], hi[v] }' | sort -n >"$WORK/$what.versions"
    [[ "$(awk '{ print $1 }' "$WORK/$what.versions" | tr '\n' ' ')" == "$versions" ]] ||
        fail "$what: expected rows of versions $versions, found: $(tr '\n' ';' <"$WORK/$what.versions")"
    awk 'NR > 1 && $2 " " $3 < prev { bad = 1 } { prev = $4 " " $5 } END { exit bad }' "$WORK/$what.versions" ||
        fail "$what: a version wrote windows before the previous version's last: $(tr '\n' ';' <"$WORK/$what.versions")"
    say "$what: committed output equals one undisturbed run of versions $versions in sequence ($(wc -l <"$reference") rows)"
}

# Installs charts/riffle-operator in ONS watching NS, with the test-bed values (host network,
# the apiserver's address, the local image, a 4 s Lease).
op_install() { # ONS NS PROBE-PORT
    local ons="$1" ns="$2" probe="$3"
    local values=(--set "image.repository=${IMAGE%:*},image.tag=${IMAGE##*:},image.pullPolicy=Never"
        --set "watchNamespaces={$ns},probePort=$probe,probeHost=127.0.0.1"
        --set "podTemplate.hostNetwork=true,podTemplate.dnsPolicy=ClusterFirstWithHostNet"
        --set-string "env[0].name=KUBERNETES_SERVICE_HOST,env[0].value=127.0.0.1"
        --set-string "env[1].name=KUBERNETES_SERVICE_PORT,env[1].value=$(apiserver_port)"
        --set-string "operatorConfiguration.kubernetes\.operator\.leader-election\.enabled=true"
        --set-string "operatorConfiguration.kubernetes\.operator\.leader-election\.lease-name=riffle-operator"
        --set-string "operatorConfiguration.kubernetes\.operator\.leader-election\.lease-duration=4 s"
        --set-string "operatorConfiguration.kubernetes\.operator\.leader-election\.renew-deadline=3 s"
        --set-string "operatorConfiguration.kubernetes\.operator\.leader-election\.retry-period=1 s")
    helm install op "$OPERATOR_CHART" -n "$ons" "${values[@]}" --wait --timeout 120s >"$WORK/op-install.log" 2>&1 ||
        { cat "$WORK/op-install.log" >&2; fail "helm install of the operator chart failed"; }
}

# FlinkDeployments left in a namespace by an earlier run: deleted while their operator may still
# run, else their finalizers dropped (deleting the namespace would delete the operator's Role
# there first and wait for the finalizer forever).
op_release_namespace() { # NAMESPACE
    kubectl get namespace "$1" >/dev/null 2>&1 || return 0
    kubectl delete flinkstatesnapshots.riffle.dev,flinksessionjobs.riffle.dev,flinkdeployments.riffle.dev --all -n "$1" --timeout=30s >/dev/null 2>&1 && return 0
    local r
    for r in $(kubectl get flinkstatesnapshots.riffle.dev,flinksessionjobs.riffle.dev,flinkdeployments.riffle.dev -n "$1" -o name 2>/dev/null); do
        kubectl patch -n "$1" "$r" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
}

# A session FlinkDeployment with two FlinkSessionJobs, each upgraded with a savepoint; each
# committed output equals one run of its two versions in sequence.
op_session_jobs() { # NAMESPACE STATE-DIR
    local ns="$1" state="$2" sid=session srest srpc sm j t out
    srest="$(free_port)" srpc="$(free_port)"
    sm="127.0.0.1:$srest"
    t="$(now)"
    op_flinkdeployment "$sid" - savepoint running "$srest" "$srpc" | kubectl apply -n "$ns" -f - >/dev/null ||
        fail "kubectl apply of the session FlinkDeployment failed"
    wait_until "the session FlinkDeployment STABLE" 180 op_lifecycle_is "$ns" "$sid" STABLE
    timing "operator: session FlinkDeployment -> STABLE" "$(since "$t")"
    for j in sj-a sj-b; do
        render_job windowed_count.sql "$WORK/op-$j-v1.sql" "/opt/riffle/state/out-$j" 400
        sed 's/^SELECT k, COUNT/SELECT k + 100, COUNT/' "$WORK/op-$j-v1.sql" >"$WORK/op-$j-v2.sql"
        op_sessionjob "$j" "$sid" "$WORK/op-$j-v1.sql" savepoint | kubectl apply -n "$ns" -f - >/dev/null ||
            fail "kubectl apply of FlinkSessionJob $j failed"
    done
    t="$(now)"
    for j in sj-a sj-b; do
        wait_until "FlinkSessionJob $j STABLE with its job RUNNING" 180 sj_running "$ns" "$j"
    done
    timing "operator: two FlinkSessionJobs -> both jobs RUNNING" "$(since "$t")"
    local -A first
    for j in sj-a sj-b; do
        first[$j]="$(sj_get "$ns" "$j" '{.status.jobStatus.jobId}')"
        wait_until "a completed checkpoint of $j's job" 60 has_checkpoint "$sm" "${first[$j]}"
        t="$(now)"
        op_sessionjob "$j" "$sid" "$WORK/op-$j-v2.sql" savepoint | kubectl apply -n "$ns" -f - >/dev/null
        wait_until "$j upgraded with a savepoint: a new job RUNNING" 180 sj_new_job_running "$ns" "$j" "${first[$j]}"
        timing "operator: session job savepoint upgrade -> new job RUNNING" "$(since "$t")"
        out="$(sj_get "$ns" "$j" '{.status.jobStatus.upgradeSavepointPath}')"
        [[ "$out" == file:///opt/riffle/state/savepoints/savepoint-* ]] || fail "$j's upgrade did not start from a savepoint: '$out'"
        say "operator: session job $j upgraded from $out"
    done
    for j in sj-a sj-b; do
        wait_finished "$sm" "$(sj_get "$ns" "$j" '{.status.jobStatus.jobId}')" 300
        versions_in_sequence "operator-$j" "$state/out-$j" "0 1 "
    done
    kubectl delete flinksessionjobs.riffle.dev -n "$ns" sj-a sj-b --timeout=60s >/dev/null || fail "the FlinkSessionJobs were not deleted"
    kubectl delete flinkdeployments.riffle.dev -n "$ns" "$sid" --timeout=120s >/dev/null || fail "the session FlinkDeployment was not deleted"

}

# Snapshots of the running job of FlinkDeployment NAME: a FlinkStateSnapshot resource completes
# with its path, a savepointTriggerNonce asks for one, periodic savepoints are taken and the
# history limit deletes the old ones with their files, and deleting a snapshot resource disposes
# of its savepoint.
snap_get() { kubectl get flinkstatesnapshots.riffle.dev -n "$1" "$2" -o jsonpath="$3" 2>/dev/null; }
snap_completed() { [[ "$(snap_get "$1" "$2" '{.status.state}')" == COMPLETED ]]; }
on_host() { # STATE-DIR file:///opt/riffle/state/...: the path on this machine
    local p="${2#file://}"
    printf '%s%s\n' "$1" "${p#/opt/riffle/state}"
}
periodic_listed() { # NAMESPACE: NAME STATE PATH of each periodic snapshot resource
    kubectl get flinkstatesnapshots.riffle.dev -n "$1" -l riffle.dev/snapshot-trigger-type=PERIODIC \
        -o jsonpath='{range .items[*]}{.metadata.name} {.status.state} {.status.path}{"\n"}{end}' 2>/dev/null
}
periodic_snapshots() { # NAMESPACE LOG: appends what is listed now; true once 4 were seen
    periodic_listed "$1" >>"$2"
    [[ "$(awk '{ print $1 }' "$2" | sort -u | wc -l)" -ge 4 ]]
}
periodic_within_limit() { # NAMESPACE LIMIT
    [[ "$(periodic_listed "$1" | awk '$2 == "COMPLETED"' | wc -l)" -le "$2" ]]
}
dirs_gone() { local d; for d in "$@"; do [[ ! -e "$d" ]] || return 1; done; }
op_snapshots() { # NAMESPACE NAME STATE-DIR
    local ns="$1" id="$2" state="$3" t path dir
    t="$(now)"
    printf '%s\n' "apiVersion: riffle.dev/v1beta1" "kind: FlinkStateSnapshot" "metadata: {name: $id-manual}" \
        "spec: {jobReference: {kind: FlinkDeployment, name: $id}, savepoint: {}}" |
        kubectl apply -n "$ns" -f - >/dev/null || fail "kubectl apply of a FlinkStateSnapshot failed"
    wait_until "FlinkStateSnapshot $id-manual COMPLETED" 60 snap_completed "$ns" "$id-manual"
    timing "operator: FlinkStateSnapshot applied -> COMPLETED" "$(since "$t")"
    path="$(snap_get "$ns" "$id-manual" '{.status.path}')"
    dir="$(on_host "$state" "$path")"
    [[ -f "$dir/_metadata" ]] || fail "the savepoint of $id-manual is not at $path ($dir)"
    say "operator: FlinkStateSnapshot $id-manual completed at $path"

    kubectl patch flinkdeployments.riffle.dev -n "$ns" "$id" --type merge -p '{"spec":{"job":{"savepointTriggerNonce":7}}}' >/dev/null
    wait_until "the nonce's savepoint COMPLETED" 60 snap_completed "$ns" "$id-savepoint-manual-nonce-7"
    say "operator: savepointTriggerNonce 7 -> $(snap_get "$ns" "$id-savepoint-manual-nonce-7" '{.status.path}')"

    t="$(now)"
    kubectl patch flinkdeployments.riffle.dev -n "$ns" "$id" --type merge -p '{"spec":{"flinkConfiguration":{
        "kubernetes.operator.periodic.savepoint.interval":"3 s", "kubernetes.operator.reconcile.interval":"1 s",
        "kubernetes.operator.savepoint.history.max.count":"2", "kubernetes.operator.savepoint.dispose-on-delete":"true"}}}' >/dev/null
    : >"$WORK/periodic.log"
    wait_until "four periodic savepoints" 90 periodic_snapshots "$ns" "$WORK/periodic.log"
    timing "operator: four periodic savepoints (3 s interval)" "$(since "$t")"
    kubectl patch flinkdeployments.riffle.dev -n "$ns" "$id" --type merge -p '{"spec":{"flinkConfiguration":{
        "kubernetes.operator.periodic.savepoint.interval":null}}}' >/dev/null
    wait_until "the history limit applied (at most 2 completed periodic savepoints)" 30 periodic_within_limit "$ns" 2
    local listed completed gone=() name
    listed="$(periodic_listed "$ns" | awk '{ print $1 }')"
    completed="$(awk '$2 == "COMPLETED" && $3 != "" { print $1, $3 }' "$WORK/periodic.log" | sort -u)"
    while read -r name path; do
        [[ -n "$name" ]] || continue
        grep -qx "$name" <<<"$listed" || gone+=("$(on_host "$state" "$path")")
    done <<<"$completed"
    [[ "${#gone[@]}" -ge 1 ]] || fail "no periodic savepoint was cleaned up: $(tr '\n' ' ' <<<"$completed")"
    wait_until "the files of the ${#gone[@]} cleaned-up periodic savepoint(s) deleted" 30 dirs_gone "${gone[@]}"
    say "operator: $(awk '{ print $1 }' "$WORK/periodic.log" | sort -u | wc -l) periodic savepoints; ${#gone[@]} deleted with their files by the history limit of 2"

    kubectl delete flinkstatesnapshots.riffle.dev -n "$ns" "$id-manual" --timeout=60s >/dev/null || fail "FlinkStateSnapshot $id-manual was not deleted"
    [[ ! -e "$dir" ]] || fail "deleting $id-manual left its savepoint $dir (disposeOnDelete defaults to true)"
    say "operator: deleting FlinkStateSnapshot $id-manual disposed of its savepoint"
}

# The autoscaler on a job whose load follows a square wave (jobs/autoscaled.sql): through the
# first low phase it evaluates the job and leaves it alone; when the rate rises it scales the busy
# vertex (the aggregate with the heavy expression, vertex 1) up to its bound of 2 and leaves the
# light source alone; at 2 during the high phase it changes nothing; when the rate falls it scales
# back down. The numbers, measured on the test bed with a debug build: a bid costs the busy vertex
# about 0.3 ms, so the low rate keeps it about 25% busy at 1 subtask (about 12% at 2, below the
# 25% minimum); the high rate (10 times the low) saturates 1 subtask, and at 2, the vertex's
# bound, there is nothing left to scale up to.
scaled_overrides() { # NAMESPACE NAME: the per-vertex overrides of the spec last deployed
    op_get "$1" "$2" '{.status.reconciliationStatus.lastReconciledSpec}' |
        jq -r '.spec.flinkConfiguration["pipeline.jobvertex-parallelism-overrides"] // ""' 2>/dev/null
}
autoscaler_data() { kubectl get configmap -n "$1" "autoscaler-$2" -o jsonpath="{.data.$3}" 2>/dev/null; }
evaluated_at_least() { (($(autoscaler_data "$1" "$2" evaluations || echo 0) >= $3)); }
vertex_parallelisms() { rest_q "$1" "/v1/jobs/$2" | jq -r '[.vertices[].parallelism | tostring] | join(" ")' 2>/dev/null; }
scaled_to() { # NAMESPACE NAME M PARALLELISMS: STABLE with its job RUNNING at these vertex parallelisms
    op_running "$1" "$2" STABLE || return 1
    [[ "$(vertex_parallelisms "$3" "$(op_job "$1" "$2")")" == "$4" ]]
}
op_autoscaler() { # NAMESPACE
    local ns="$1" id=scaled rest rpc m t evals job
    rest="$(free_port)" rpc="$(free_port)"
    m="127.0.0.1:$rest"
    # shellcheck disable=SC2016 # the variables envsubst replaces, by name
    LOW_RATE=400 HIGH_RATE=4000 PERIOD="120 s" envsubst '$LOW_RATE $HIGH_RATE $PERIOD' <"$HERE/jobs/autoscaled.sql" >"$WORK/autoscaled.sql"
    t="$(now)"
    OP_PARALLELISM=1 op_flinkdeployment "$id" "$WORK/autoscaled.sql" stateless running "$rest" "$rpc" \
        "job.autoscaler.enabled=true" "job.autoscaler.metrics.window=10 s" "job.autoscaler.stabilization.interval=5 s" \
        "job.autoscaler.utilization.target=0.45" "job.autoscaler.utilization.min=0.25" "job.autoscaler.utilization.max=0.8" \
        "job.autoscaler.vertex.max-parallelism=2" "job.autoscaler.scale-down.interval=5 s" \
        "job.autoscaler.restart.time=5 s" "job.autoscaler.catch-up.duration=60 s" \
        "kubernetes.operator.reconcile.interval=2 s" | kubectl apply -n "$ns" -f - >/dev/null ||
        fail "kubectl apply of the autoscaled FlinkDeployment failed"
    wait_until "$id STABLE with its job RUNNING, vertices at 1 1" 180 scaled_to "$ns" "$id" "$m" "1 1"
    wait_until "three evaluations in the low phase" 60 evaluated_at_least "$ns" "$id" 3
    [[ -z "$(scaled_overrides "$ns" "$id")" ]] || fail "the autoscaler changed the job in the steady low phase: $(scaled_overrides "$ns" "$id")"
    say "autoscaler: low phase, 3 evaluations, no change ($(autoscaler_data "$ns" "$id" lastEvaluation))"
    job="$(op_job "$ns" "$id")"
    t="$(now)"
    wait_until "the rate rose: vertex 1 scaled up, the job RUNNING at 1 2" 180 scaled_to "$ns" "$id" "$m" "1 2"
    timing "autoscaler: scaled up (wait for the high phase included)" "$(since "$t")"
    [[ "$(op_job "$ns" "$id")" != "$job" ]] || fail "the scale-up did not redeploy the job"
    [[ "$(scaled_overrides "$ns" "$id")" == 1:2 ]] || fail "unexpected overrides after the scale-up: $(scaled_overrides "$ns" "$id")"
    wait_until "the ScalingReport Event" 30 op_event "$ns" "$id" ScalingReport
    evals="$(autoscaler_data "$ns" "$id" evaluations)"
    wait_until "two evaluations at the new parallelism" 60 evaluated_at_least "$ns" "$id" $((evals + 2))
    [[ "$(vertex_parallelisms "$m" "$(op_job "$ns" "$id")")" == "1 2" && "$(scaled_overrides "$ns" "$id")" == 1:2 ]] ||
        fail "the autoscaler changed the job in the steady high phase"
    say "autoscaler: high phase at 1 2, 2 evaluations, no change ($(autoscaler_data "$ns" "$id" lastEvaluation))"
    t="$(now)"
    wait_until "the rate fell: vertex 1 scaled down, the job RUNNING at 1 1" 240 scaled_to "$ns" "$id" "$m" "1 1"
    timing "autoscaler: scaled down (wait for the low phase included)" "$(since "$t")"
    [[ "$(scaled_overrides "$ns" "$id")" == 1:1 ]] || fail "unexpected overrides after the scale-down: $(scaled_overrides "$ns" "$id")"
    kubectl get events -n "$ns" --field-selector "involvedObject.name=$id,reason=ScalingReport" \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | sed 's/^/[k8s] autoscaler: /' >&2
    kubectl delete flinkdeployments.riffle.dev -n "$ns" "$id" --timeout=120s >/dev/null || fail "the autoscaled FlinkDeployment was not deleted"
    wait_until "the autoscaler's ConfigMap gone with its FlinkDeployment" 60 sh -c "! kubectl get configmap -n $ns autoscaler-$id >/dev/null 2>&1"
}

# The operator's namespace ONS (emptied) and a fresh job namespace NS with the state volume.
op_namespaces() { # ONS NS STATE-DIR
    local ons="$1" ns="$2" state="$3"
    op_release_namespace "$ns"
    new_namespace "$ns"
    tb_state_volume riffle-op-state "$ns" riffle-state "$state" | kubectl apply -f - >/dev/null
    kubectl apply -n "$ns" -f "$DEPLOY/checkpoint-storage/pvc/riffle-state-pvc.yaml" >/dev/null
    helm uninstall op -n "$ons" --wait >/dev/null 2>&1 || true
    new_namespace "$ons"
}

# The autoscaler part of the operator scenario alone.
scenario_autoscaler() {
    local ons=riffle-operator ns=riffle-op
    op_namespaces "$ons" "$ns" "$WORK/op-state"
    op_install "$ons" "$ns" "$(free_port)"
    op_autoscaler "$ns"
    helm uninstall op -n "$ons" --wait --timeout 60s >/dev/null || fail "helm uninstall of the operator failed"
    drop_namespace "$ons"
    drop_namespace "$ns"
}

scenario_operator() {
    local ons=riffle-operator ns=riffle-op id=orders rest rpc probe m state="$WORK/op-state" t out
    rest="$(free_port)" rpc="$(free_port)" probe="$(free_port)"
    m="127.0.0.1:$rest"
    op_namespaces "$ons" "$ns" "$state"
    helm lint --strict "$OPERATOR_CHART" >"$WORK/op-lint.log" 2>&1 || { cat "$WORK/op-lint.log" >&2; fail "helm lint --strict of the operator chart failed"; }
    [[ -x "$VALIDATE_VENV/bin/kubernetes-validate" ]] || scenario_static
    HELM_CHART="$OPERATOR_CHART" helm_rendered_ok "$ons" operator-all-namespaces
    HELM_CHART="$OPERATOR_CHART" helm_rendered_ok "$ons" operator-watched --set "watchNamespaces={$ons},replicas=2"
    t="$(now)"
    op_install "$ons" "$ns" "$probe"
    timing "operator: helm install --wait (operator Ready)" "$(since "$t")"
    local sa="system:serviceaccount:$ons:op-riffle-operator" verb
    for verb in "create deployments.apps" "delete configmaps" "update flinkdeployments.riffle.dev/status"; do
        # shellcheck disable=SC2086
        [[ "$(kubectl auth can-i -n "$ns" --as="$sa" $verb)" == yes ]] || fail "the operator may not: $verb in $ns"
        # shellcheck disable=SC2086
        [[ "$(kubectl auth can-i -n default --as="$sa" $verb 2>/dev/null || true)" == no ]] || fail "the operator may $verb outside its watched namespace"
    done
    [[ "$(kubectl auth can-i -n "$ns" --as="system:serviceaccount:$ns:riffle" create pods)" == yes ]] ||
        fail "the chart did not give the jobs' account riffle the native Role in $ns"
    say "operator: RBAC allows it its watched namespace $ns only; the jobs' account riffle has the native Role there"

    # Created -> STABLE with the job RUNNING.
    local v
    for v in 1 2 3; do
        render_job windowed_count.sql "$WORK/op-v$v.sql" /opt/riffle/state/out-op 300
        sed -i "s/^SELECT k, COUNT/SELECT k + $(((v - 1) * 100)), COUNT/" "$WORK/op-v$v.sql"
    done
    t="$(now)"
    op_flinkdeployment "$id" "$WORK/op-v1.sql" savepoint running "$rest" "$rpc" | kubectl apply -n "$ns" -f - >/dev/null ||
        fail "kubectl apply of the FlinkDeployment failed"
    wait_until "FlinkDeployment $id STABLE with its job RUNNING" 180 op_running "$ns" "$id" STABLE
    timing "operator: kubectl apply -> job RUNNING, lifecycle STABLE" "$(since "$t")"
    local job1 job2 job3 job4
    job1="$(op_job "$ns" "$id")"
    [[ "$(kubectl get deployment -n "$ns" "$id" -o jsonpath='{.metadata.ownerReferences[0].kind}')" == FlinkDeployment ]] ||
        fail "the JobManager Deployment is not owned by the FlinkDeployment"
    say "operator: FlinkDeployment $id is STABLE, job $job1 RUNNING"

    # A SQL change in savepoint mode: stop with a savepoint, the new job starts from it.
    wait_until "a completed checkpoint of job $job1" 60 has_checkpoint "$m" "$job1"
    t="$(now)"
    op_flinkdeployment "$id" "$WORK/op-v2.sql" savepoint running "$rest" "$rpc" | kubectl apply -n "$ns" -f - >/dev/null
    wait_until "the savepoint upgrade: a new job RUNNING, STABLE" 180 op_new_job_running "$ns" "$id" "$job1" STABLE
    timing "operator: savepoint upgrade (spec change -> new job RUNNING)" "$(since "$t")"
    job2="$(op_job "$ns" "$id")"
    out="$(op_get "$ns" "$id" '{.status.jobStatus.upgradeSavepointPath}')"
    [[ "$out" == file:///opt/riffle/state/savepoints/savepoint-* ]] || fail "the savepoint upgrade did not start from a savepoint: '$out'"
    wait_until "the SavepointCompleted Event" 30 op_event "$ns" "$id" SavepointCompleted
    say "operator: savepoint upgrade: job $job2 started from $out"

    # The JobManager pod deleted: the job goes on from its latest checkpoint (Kubernetes HA).
    wait_until "a completed checkpoint of job $job2" 60 has_checkpoint "$m" "$job2"
    t="$(now)"
    local last
    last="$(rest_q "$m" "/v1/jobs/$job2/checkpoints" | jq -r '.latest.completed.id')"
    kubectl delete pod -n "$ns" -l "app=$id,component=jobmanager" --wait=false >/dev/null
    wait_until "job $job2 resumed by the new JobManager from checkpoint $last or later" 120 job_restored_from_at_least "$m" "$job2" "$last"
    wait_until "job $job2 RUNNING again" 120 job_in_state "$m" "$job2" RUNNING
    timing "operator: JobManager pod deleted -> job RUNNING again" "$(since "$t")"

    # A SQL change in last-state mode, with the operator killed in the middle of it: the new
    # operator pod takes the Lease and finishes the upgrade.
    wait_until "a checkpoint of job $job2 after its restart" 60 job_checkpointed_since_restore "$m" "$job2"
    local old_op
    old_op="$(operator_pod "$ons")"
    t="$(now)"
    op_flinkdeployment "$id" "$WORK/op-v3.sql" last-state running "$rest" "$rpc" | kubectl apply -n "$ns" -f - >/dev/null
    wait_until "the last-state upgrade to begin (UPGRADING)" 30 op_lifecycle_is "$ns" "$id" UPGRADING
    kubectl delete pod -n "$ons" "$old_op" --grace-period=0 --force >/dev/null 2>&1
    say "operator: killed operator pod $old_op while $id was $(op_get "$ns" "$id" '{.status.lifecycleState}')"
    wait_until "the last-state upgrade finished by the next operator: a new job RUNNING" 240 op_new_job_running "$ns" "$id" "$job2" STABLE
    timing "operator: last-state upgrade with the operator killed mid-way" "$(since "$t")"
    job3="$(op_job "$ns" "$id")"
    [[ "$(operator_pod "$ons")" != "$old_op" ]] || fail "the operator pod was not replaced"
    out="$(op_get "$ns" "$id" '{.status.jobStatus.upgradeSavepointPath}')"
    [[ "$out" == "file:///opt/riffle/state/checkpoints/$job2/chk-"* ]] || fail "the last-state upgrade did not start from job $job2's checkpoint: '$out'"
    say "operator: last-state upgrade: job $job3 started from $out"

    # Suspend and resume: the state is kept.
    wait_until "a completed checkpoint of job $job3" 60 has_checkpoint "$m" "$job3"
    t="$(now)"
    kubectl patch flinkdeployments.riffle.dev -n "$ns" "$id" --type merge -p '{"spec":{"job":{"state":"suspended"}}}' >/dev/null
    wait_until "SUSPENDED without JobManager pods" 120 sh -c "[ \"\$(kubectl get flinkdeployments.riffle.dev -n $ns $id -o jsonpath='{.status.lifecycleState}')\" = SUSPENDED ] && [ -z \"\$(kubectl get pods -n $ns -l app=$id,component=jobmanager -o name)\" ]"
    timing "operator: suspend -> SUSPENDED, no JobManager" "$(since "$t")"
    out="$(op_get "$ns" "$id" '{.status.jobStatus.upgradeSavepointPath}')"
    [[ "$out" == "file:///opt/riffle/state/checkpoints/$job3/chk-"* ]] || fail "suspend did not keep job $job3's checkpoint: '$out'"
    t="$(now)"
    kubectl patch flinkdeployments.riffle.dev -n "$ns" "$id" --type merge -p '{"spec":{"job":{"state":"running"}}}' >/dev/null
    wait_until "resumed: a new job RUNNING" 180 op_new_job_running "$ns" "$id" "$job3" STABLE
    timing "operator: resume -> job RUNNING" "$(since "$t")"
    job4="$(op_job "$ns" "$id")"
    say "operator: suspended job $job3 at $out; resumed as job $job4 from it"

    op_snapshots "$ns" "$id" "$state"

    # A broken spec (its job cannot plan) with rollback on: back to the last stable spec.
    sed 's/FROM TABLE(TUMBLE(TABLE keyed/FROM TABLE(TUMBLE(TABLE no_such_view/' "$WORK/op-v3.sql" >"$WORK/op-broken.sql"
    wait_until "a completed checkpoint of job $job4" 60 has_checkpoint "$m" "$job4"
    t="$(now)"
    op_flinkdeployment "$id" "$WORK/op-broken.sql" last-state running "$rest" "$rpc" \
        "kubernetes.operator.deployment.rollback.enabled=true" "kubernetes.operator.deployment.readiness.timeout=5 s" |
        kubectl apply -n "$ns" -f - >/dev/null
    wait_until "the broken spec rolled back: ROLLED_BACK with a job RUNNING" 240 op_new_job_running "$ns" "$id" "$job4" ROLLED_BACK
    timing "operator: broken spec -> rolled back, job RUNNING" "$(since "$t")"
    wait_until "the Rollback Event" 30 op_event "$ns" "$id" Rollback
    local job5
    job5="$(op_job "$ns" "$id")"
    say "operator: the broken spec was rolled back; job $job5 runs the last stable spec"

    # A session FlinkDeployment with two FlinkSessionJobs (while the application's job runs on).
    op_session_jobs "$ns" "$state"
    wait_finished "$m" "$job5" 300
    versions_in_sequence operator "$state/out-op" "0 1 2 "

    # A stateless upgrade starts without state: a fresh, complete run into a new directory.
    render_job windowed_count.sql "$WORK/op-v4.sql" /opt/riffle/state/out-op-stateless 100000
    t="$(now)"
    op_flinkdeployment "$id" "$WORK/op-v4.sql" stateless running "$rest" "$rpc" | kubectl apply -n "$ns" -f - >/dev/null
    wait_until "the stateless upgrade's new job" 180 sh -c "id=\$(kubectl get flinkdeployments.riffle.dev -n $ns $id -o jsonpath='{.status.jobStatus.jobId} {.status.jobStatus.state}'); [ \"\${id% *}\" != $job5 ] && [ \"\${id#* }\" = FINISHED ]"
    timing "operator: stateless upgrade -> new job FINISHED" "$(since "$t")"
    [[ -z "$(op_get "$ns" "$id" '{.status.jobStatus.upgradeSavepointPath}')" ]] || fail "the stateless upgrade started from a snapshot"
    same_output operator-stateless "$state/out-op-stateless"

    op_autoscaler "$ns"

    out="$(curl -fs "http://127.0.0.1:$probe/metrics")" || fail "the operator's /metrics does not answer"
    grep -q '^riffle_operator_reconcile_seconds_count{result="success"} [1-9]' <<<"$out" || fail "no reconciliations counted: $out"
    # A settled FlinkDeployment observes its cluster from the watches' cache.
    grep -q '^riffle_operator_cluster_observations_total{source="cache"} [1-9]' <<<"$out" ||
        fail "no cluster observation came from the cache: $(grep cluster_observations <<<"$out" | tr '\n' ' ')"
    local lifecycle
    lifecycle="$(op_get "$ns" "$id" '{.status.lifecycleState}')"
    grep -q "^riffle_operator_resources{kind=\"FlinkDeployment\",state=\"$lifecycle\"} 1" <<<"$out" ||
        fail "the $lifecycle deployment is not counted: $(grep riffle_operator_resources <<<"$out" | tr '\n' ' ')"
    say "operator: /metrics counts $(grep -o 'reconcile_seconds_count{result="success"} [0-9]*' <<<"$out" | awk '{print $2}') successful reconciliations"

    # Deleting the resource deletes its cluster and HA data (the finalizer).
    kubectl delete flinkstatesnapshots.riffle.dev --all -n "$ns" --timeout=60s >/dev/null || fail "the FlinkStateSnapshots were not deleted"
    t="$(now)"
    kubectl delete flinkdeployments.riffle.dev -n "$ns" "$id" --timeout=120s >/dev/null || fail "the FlinkDeployment was not deleted"
    # The finalizer removed the HA data before the resource went; the garbage collector takes the
    # objects the JobManager Deployment owned (TaskManager pods) in the background.
    out="$(kubectl get deployments,leases -n "$ns" -l "app=$id" -o name 2>/dev/null)$(kubectl get configmaps -n "$ns" -l "app=$id,configmap-type=high-availability" -o name 2>/dev/null)"
    [[ -z "$out" ]] || fail "left after deleting the FlinkDeployment: $out"
    wait_until "the cluster's pods, Services and ConfigMap gone" 60 sh -c "[ -z \"\$(kubectl get pods,services,configmaps -n $ns -l app=$id -o name)\" ]"
    timing "operator: kubectl delete flinkdeployment -> cluster and HA data gone" "$(since "$t")"
    helm uninstall op -n "$ons" --wait --timeout 60s >/dev/null || fail "helm uninstall of the operator failed"
    drop_namespace "$ons"
    drop_namespace "$ns"
}

# The operator's footprint and reaction time (not in the default run; docs/benchmarks.md):
# resident memory idle and with RIFFLE_OPERATOR_BENCH_COUNT (100) suspended FlinkDeployments,
# and the latency from a spec change to its first action (bench/operator_latency.py). Build the
# image from a release binary for numbers that mean something (RIFFLE_BIN=.../release/riffle).
operator_rss_kb() { # PID FIELD
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
scenario_operator_bench() {
    local ons=riffle-operator ns=riffle-op-bench n="${RIFFLE_OPERATOR_BENCH_COUNT:-100}" probe pid i
    probe="$(free_port)"
    op_release_namespace "$ns"
    new_namespace "$ns"
    helm uninstall op -n "$ons" --wait >/dev/null 2>&1 || true
    new_namespace "$ons"
    op_install "$ons" "$ns" "$probe"
    pid="$(pgrep -n -f '^/opt/riffle/bin/riffle operator run')" || fail "no operator process found"
    sleep 10
    say "operator-bench: idle: VmRSS $(operator_rss_kb "$pid" VmRSS) kB (peak $(operator_rss_kb "$pid" VmHWM) kB)"
    local sql="$WORK/bench.sql" t
    render_job windowed_count.sql "$sql" /opt/riffle/state/out-bench 100
    t="$(now)"
    for ((i = 0; i < n; i++)); do
        op_flinkdeployment "bench-$i" "$sql" last-state suspended "$(free_port)" "$(free_port)"
    done | jq -s '{apiVersion: "v1", kind: "List", items: .}' | kubectl apply -n "$ns" -f - >/dev/null ||
        fail "kubectl apply of $n FlinkDeployments failed"
    wait_until "$n FlinkDeployments observed" 300 sh -c \
        "[ \"\$(kubectl get flinkdeployments.riffle.dev -n $ns -o jsonpath='{range .items[*]}{.status.observedGeneration}{\"\\n\"}{end}' | grep -c .)\" = $n ]"
    timing "operator-bench: $n FlinkDeployments applied -> all observed" "$(since "$t")"
    sleep 10
    say "operator-bench: with $n FlinkDeployments: VmRSS $(operator_rss_kb "$pid" VmRSS) kB (peak $(operator_rss_kb "$pid" VmHWM) kB)"
    # Steady state: every resource reconciled again at the reconcile interval (60 s); sampled
    # every 5 s over that minute.
    local samples=()
    for ((i = 0; i < 12; i++)); do
        sleep 5
        samples+=("$(operator_rss_kb "$pid" VmRSS)")
    done
    say "operator-bench: with $n FlinkDeployments, 70 s: VmRSS $(operator_rss_kb "$pid" VmRSS) kB (peak $(operator_rss_kb "$pid" VmHWM) kB)"
    say "operator-bench: steady minute, VmRSS every 5 s (kB): ${samples[*]} (max $(printf '%s\n' "${samples[@]}" | sort -n | tail -n 1), mean $(printf '%s\n' "${samples[@]}" | awk '{ s += $1 } END { printf "%d", s / NR }'))"
    say "operator-bench: $(curl -fs "http://127.0.0.1:$probe/metrics" | grep '^riffle_operator_cluster_observations_total' | tr '\n' ' ')"
    local port proxy_pid out
    port="$(free_port)"
    kubectl proxy --port "$port" >"$WORK/proxy.log" 2>&1 &
    proxy_pid=$!
    wait_until "kubectl proxy" 10 curl -fs "http://127.0.0.1:$port/version" -o /dev/null
    out="$(python3 "$ROOT/bench/operator_latency.py" --proxy "127.0.0.1:$port" --namespace "$ns" --rounds 3 2>&1)" ||
        { kill "$proxy_pid"; fail "operator_latency.py failed: $out"; }
    kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null || true
    say "operator-bench: spec change -> first action: $(tr '\n' ' ' <<<"$out")"
    sleep 10
    say "operator-bench: 10 s after the changes: VmRSS $(operator_rss_kb "$pid" VmRSS) kB (peak $(operator_rss_kb "$pid" VmHWM) kB)"
    t="$(now)"
    kubectl delete flinkdeployments.riffle.dev --all -n "$ns" --timeout=300s >/dev/null || fail "deleting the FlinkDeployments failed"
    timing "operator-bench: $n FlinkDeployments deleted (finalizers)" "$(since "$t")"
    helm uninstall op -n "$ons" --wait >/dev/null 2>&1 || true
    drop_namespace "$ons"
    drop_namespace "$ns"
}

# A ServiceMonitor CRD (prometheus-operator's group and kind, no schema) so that the chart's
# ServiceMonitor is rendered from the cluster's capabilities and checked by the apiserver.
servicemonitor_crd() {
    cat <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
}

helm_rendered_ok() { # NAMESPACE LABEL [HELM ARGS...]: server dry run on 1.20 and kubernetes-validate 1.33
    local ns="$1" label="$2" out="$WORK/helm-$2" chart="${HELM_CHART:-$CHART}"
    shift 2
    helm template riffle "$chart" -n "$ns" --dry-run=server "$@" >"$out-1.20.yaml" 2>"$out.err" ||
        fail "helm template --dry-run=server ($label) failed: $(cat "$out.err")"
    kubectl apply -n "$ns" --dry-run=server -f "$out-1.20.yaml" >"$out.apply" 2>&1 ||
        fail "the apiserver (1.20) rejects the chart ($label): $(grep -v 'created (server dry run)' "$out.apply")"
    helm template riffle "$chart" -n "$ns" --kube-version 1.33.0 --api-versions monitoring.coreos.com/v1/ServiceMonitor \
        "$@" >"$out-1.33.yaml" 2>"$out.err" || fail "helm template --kube-version 1.33.0 ($label) failed: $(cat "$out.err")"
    # A kind without a 1.33 schema (a removed API version) is only a warning: fail on it too, but
    # for the ServiceMonitor custom resource (no schema by design).
    local report
    report="$("$VALIDATE_VENV/bin/kubernetes-validate" -k 1.33.0 --strict --quiet "$out-1.33.yaml" 2>&1)" ||
        fail "kubernetes-validate -k 1.33.0 --strict rejects the chart ($label): $report"
    report="$(grep -v 'kind ServiceMonitor with api version monitoring.coreos.com/v1' <<<"$report" || true)"
    [[ -z "$report" ]] || fail "kubernetes-validate -k 1.33.0 ($label): $report"
    say "helm: $label: $(grep -c '^kind:' "$out-1.20.yaml") objects accepted by the 1.20 apiserver (--dry-run=server), $(grep -c '^kind:' "$out-1.33.yaml") valid for 1.33 (--strict)"
}

helm_objects_left() { # NAMESPACE: anything but the namespace's own defaults
    kubectl get all,configmaps,secrets,serviceaccounts,pdb,networkpolicies,ingresses,pvc,servicemonitors -n "$1" -o name 2>/dev/null |
        grep -v -E '^(configmap/kube-root-ca.crt|serviceaccount/default|secret/default-token-.*)$' || true
}

scenario_helm() {
    local ns=riffle-helm t
    local rest rpc m
    rest="$(free_port)" rpc="$(free_port)"
    m="127.0.0.1:$rest"
    [[ -x "$VALIDATE_VENV/bin/kubernetes-validate" ]] || scenario_static
    new_namespace "$ns"
    servicemonitor_crd | kubectl apply -f - >/dev/null
    wait_until "the ServiceMonitor CRD served" 30 sh -c "kubectl get servicemonitors -A >/dev/null 2>&1"

    t="$(now)"
    local v
    for v in "" "$HERE/chart-values/application-s3.yaml" "$HERE/chart-values/session-pvc.yaml"; do
        helm lint --strict "$CHART" ${v:+-f "$v"} >"$WORK/helm-lint.log" 2>&1 || { cat "$WORK/helm-lint.log" >&2; fail "helm lint --strict ${v:+-f $v} failed"; }
    done
    say "helm: lint --strict clean (default values, application-s3, session-pvc)"
    helm_rendered_ok "$ns" defaults
    helm_rendered_ok "$ns" application-s3 -f "$HERE/chart-values/application-s3.yaml"
    helm_rendered_ok "$ns" session-pvc -f "$HERE/chart-values/session-pvc.yaml"
    helm template riffle "$CHART" --show-only templates/configmap.yaml -f "$HERE/chart-values/application-s3.yaml" >"$WORK/helm-configmap.yaml"
    riffle_reads_config helm-application-s3 "$WORK/helm-configmap.yaml"
    timing "helm: lint, template + validation (1.20 server, 1.33 schemas)" "$(since "$t")"

    # Install the session cluster with the test-bed values and checkpoints on a claim the chart
    # creates (bound here to a hostPath volume made for it).
    local state="$WORK/helm-state"
    tb_state_volume riffle-helm-state "$ns" riffle-state "$state" | kubectl apply -f - >/dev/null
    local server
    server="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"
    local values=(-f "$HERE/testbed-values.yaml" --set "ports.rest=$rest,ports.rpc=$rpc"
        --set "jobManager.readinessProbe.httpGet.port=$rest,jobManager.livenessProbe.httpGet.port=$rest"
        --set "checkpointStorage.type=pvc,checkpointStorage.pvc.create=true,highAvailability.enabled=true"
        --set-string "jobManager.env[0].name=KUBERNETES_SERVICE_HOST,jobManager.env[0].value=127.0.0.1"
        --set-string "jobManager.env[1].name=KUBERNETES_SERVICE_PORT,jobManager.env[1].value=${server##*:}")
    t="$(now)"
    helm install riffle "$CHART" -n "$ns" "${values[@]}" --wait --timeout 120s >"$WORK/helm-install.log" 2>&1 ||
        { cat "$WORK/helm-install.log" >&2; fail "helm install failed"; }
    timing "helm: install --wait (session mode)" "$(since "$t")"
    wait_until "2 TaskManagers registered" 60 taskmanagers_registered "$m" 2
    timing "helm: install -> 2 TaskManagers registered" "$(since "$t")"
    local out job
    out="$("$RIFFLE" run -m "$m" --quiet "$HERE/jobs/bounded.sql" 2>&1)" || fail "riffle run -m $m failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    job_in_state "$m" "$job" FINISHED || fail "job $job is $(job_state "$m" "$job"), not FINISHED"
    say "helm: job $job FINISHED on the chart's session cluster"
    flink_list_all helm "$m" "$job"
    local slots
    slots="$(rest_q "$m" /v1/taskmanagers | jq -r '[.taskmanagers[].slotsNumber] | unique | join(",")')"
    [[ "$slots" == 2 ]] || fail "TaskManagers have $slots slots, not 2"
    tm_pod_deleted_mid_job helm-session "$ns" "$m" riffle-taskmanager \
        app.kubernetes.io/instance=riffle,app.kubernetes.io/component=taskmanager out-helm "$state"

    # A configuration change rolls every pod (checksum/config) and reaches the new ones; the
    # job running across it survives: the new JobManager takes the Lease the old one released and
    # resumes it from its latest checkpoint.
    render_job windowed_count.sql "$WORK/helm-upgrade-job.sql" /opt/riffle/state/out-helm-upgrade 2500
    out="$("$RIFFLE" run -m "$m" -d "$WORK/helm-upgrade-job.sql" 2>&1)" || fail "riffle run -m -d failed: $out"
    job="$(awk '/JobID/ { print $NF }' <<<"$out")"
    [[ ${#job} == 32 ]] || fail "no job id in the output of riffle run -m -d: $out"
    wait_until "2 completed checkpoints of job $job" 60 checkpoints_at_least "$m" "$job" 2
    local leader_before
    leader_before="$(kubectl get lease -n "$ns" riffle-cluster-leader -o jsonpath='{.spec.holderIdentity}')"
    local before after sum_before sum_after
    before="$(pod_uids "$ns" app.kubernetes.io/instance=riffle)"
    sum_before="$(kubectl get deployment -n "$ns" riffle-taskmanager -o jsonpath='{.spec.template.metadata.annotations.checksum/config}')"
    t="$(now)"
    helm upgrade riffle "$CHART" -n "$ns" "${values[@]}" --set 'riffleConfiguration.taskmanager\.numberOfTaskSlots=3' \
        --wait --timeout 120s >"$WORK/helm-upgrade.log" 2>&1 || { cat "$WORK/helm-upgrade.log" >&2; fail "helm upgrade failed"; }
    timing "helm: upgrade --wait (riffleConfiguration changed)" "$(since "$t")"
    wait_until "2 TaskManagers with 3 slots each" 120 tms_with_slots "$m" 2 3
    timing "helm: upgrade -> TaskManagers back with the new configuration" "$(since "$t")"
    sum_after="$(kubectl get deployment -n "$ns" riffle-taskmanager -o jsonpath='{.spec.template.metadata.annotations.checksum/config}')"
    [[ "$sum_before" != "$sum_after" ]] || fail "the config checksum did not change"
    wait_until "the old pods gone" 60 pod_count_is "$ns" app.kubernetes.io/instance=riffle 3
    after="$(pod_uids "$ns" app.kubernetes.io/instance=riffle)"
    local uid
    for uid in $before; do
        [[ " $after " != *" $uid "* ]] || fail "pod $uid survived the configuration change (no roll)"
    done
    say "helm: the upgrade rolled all $(wc -w <<<"$before") pods (checksum/config ${sum_before:0:12} -> ${sum_after:0:12}); TaskManagers have 3 slots"
    [[ "$(kubectl get lease -n "$ns" riffle-cluster-leader -o jsonpath='{.spec.holderIdentity}')" != "$leader_before" ]] ||
        fail "the Lease holder did not change across the upgrade"
    wait_until "job $job resumed by the new JobManager" 60 job_restored_from_at_least "$m" "$job" 1
    say "helm: job $job survived the upgrade: resumed from $(rest_q "$m" "/v1/jobs/$job/checkpoints" | jq -c '.latest.restored | {id, external_path}')"
    wait_finished "$m" "$job" 180
    timing "helm: upgrade -> the job across it FINISHED" "$(since "$t")"
    same_output helm-upgrade "$state/out-helm-upgrade"
    out="$("$RIFFLE" run -m "$m" --quiet "$HERE/jobs/bounded.sql" 2>&1)" || fail "riffle run -m $m after the upgrade failed: $out"
    say "helm: a job FINISHED after the upgrade too"

    t="$(now)"
    helm uninstall riffle -n "$ns" --wait --timeout 120s >"$WORK/helm-uninstall.log" 2>&1 ||
        { cat "$WORK/helm-uninstall.log" >&2; fail "helm uninstall failed"; }
    wait_until "every pod of the release gone" 60 pod_count_is "$ns" app.kubernetes.io/instance=riffle 0
    # As Flink's, the HA ConfigMap and the Lease outlive the cluster (a reinstall would resume
    # jobs that were running); removing them is the documented selector.
    [[ -n "$(kubectl get cm,lease -n "$ns" -l app=riffle,configmap-type=high-availability -o name)" ]] ||
        fail "the HA ConfigMap and Lease did not outlive the release"
    kubectl delete cm,lease -n "$ns" -l app=riffle,configmap-type=high-availability >/dev/null
    local left
    left="$(helm_objects_left "$ns")"
    [[ -z "$left" ]] || fail "helm uninstall left: $left"
    local releases
    releases="$(helm list -n "$ns" -q --deployed --failed --pending --superseded --uninstalling --uninstalled)" ||
        fail "helm list -n $ns failed"
    [[ -z "$releases" ]] || fail "helm still lists a release in $ns: $releases"
    timing "helm: uninstall --wait -> nothing left" "$(since "$t")"

    # Application mode with checkpoints in S3 (credentials from a Secret by reference): the
    # chart's JobManager Job runs application.jobSql; its pod is deleted mid-run, the new pod
    # resumes the job from its latest checkpoint, the Job completes, the output is exact.
    local s3port s3root="$WORK/helm-s3" ak sk
    rest="$(free_port)" rpc="$(free_port)" s3port="$(free_port)"
    m="127.0.0.1:$rest"
    ak="riffle-$RANDOM$RANDOM" sk="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    start_s3 "$s3root" "$s3port" "$ak" "$sk"
    kubectl create secret generic riffle-s3-credentials -n "$ns" \
        --from-literal=access-key="$ak" --from-literal=secret-key="$sk" >/dev/null
    render_job windowed_count.sql "$WORK/helm-app-job.sql" s3://riffle-state/out-helm-app 8000
    values=(-f "$HERE/testbed-values.yaml" --set "mode=application,ports.rest=$rest,ports.rpc=$rpc"
        --set "jobManager.readinessProbe.httpGet.port=$rest,jobManager.livenessProbe.httpGet.port=$rest"
        --set "checkpointStorage.type=s3,checkpointStorage.s3.bucket=riffle-state"
        --set "checkpointStorage.s3.endpoint=http://127.0.0.1:$s3port,checkpointStorage.s3.pathStyleAccess=true"
        --set "checkpointStorage.s3.credentialsSecret.name=riffle-s3-credentials"
        --set-file "application.jobSql=$WORK/helm-app-job.sql")
    t="$(now)"
    helm install riffle-app "$CHART" -n "$ns" "${values[@]}" --timeout 120s \
        >"$WORK/helm-install-app.log" 2>&1 || { cat "$WORK/helm-install-app.log" >&2; fail "helm install (application mode) failed"; }
    wait_until "the chart's application job RUNNING" 120 first_job_running "$m"
    job="$(only_job "$m")"
    timing "helm: install (application mode) -> job RUNNING" "$(since "$t")"
    jm_pod_deleted_mid_job helm-application "$ns" "$m" "$job" riffle-app-jobmanager \
        app.kubernetes.io/instance=riffle-app,app.kubernetes.io/component=jobmanager
    timing "helm: install (application mode) -> Job complete (with the pod deletion)" "$(since "$t")"
    [[ -f "$s3root/riffle-state/riffle/checkpoints/job-result-store/$job.json" ]] ||
        fail "the job result store in S3 has no entry for job $job (s3://riffle-state/riffle/checkpoints/job-result-store/)"
    same_output helm-application "$s3root/riffle-state/out-helm-app"
    stop_s3
    kubectl delete secret -n "$ns" riffle-s3-credentials >/dev/null
    helm uninstall riffle-app -n "$ns" --wait --timeout 120s >"$WORK/helm-uninstall-app.log" 2>&1 ||
        { cat "$WORK/helm-uninstall-app.log" >&2; fail "helm uninstall (application mode) failed"; }
    wait_until "every pod of the application release gone" 60 pod_count_is "$ns" app.kubernetes.io/instance=riffle-app 0
    left="$(helm_objects_left "$ns")"
    [[ -z "$left" ]] || fail "helm uninstall (application mode) left: $left"
    timing "helm: application mode install -> Job complete -> uninstalled" "$(since "$t")"
    kubectl delete crd servicemonitors.monitoring.coreos.com --wait=false >/dev/null
    drop_namespace "$ns"
}

tms_with_slots() { # M COUNT SLOTS
    [[ "$(rest_q "$1" /v1/taskmanagers | jq -r "[.taskmanagers[] | select(.slotsNumber == $3)] | length" 2>/dev/null)" == "$2" ]]
}
pod_count_is() { [[ "$(kubectl get pods -n "$1" -l "$2" -o name 2>/dev/null | wc -l)" == "$3" ]]; }

num_restarts() { rest_q "$1" "/v1/jobs/$2/metrics?get=numRestarts" | jq -r '.[0].value // 0' 2>/dev/null || echo 0; }
job_restarted() { (($(num_restarts "$1" "$2") >= 1)); }

# The riffle processes of the test bed's containers: their uid must be 9999 (the pods say
# runAsUser 9999, runAsNonRoot); prints each one's role and resident memory.
container_processes_ok() {
    local sock="${RIFFLE_K8S_WORKDIR:-/tmp/riffle-k8s-testbed}/containerd/containerd.sock" pid child uid n=0
    for pid in $(ctr --address "$sock" -n k8s.io tasks ls 2>/dev/null | awk 'NR > 1 { print $2 }'); do
        for child in $pid $(pgrep -P "$pid" 2>/dev/null); do
            [[ "$(readlink "/proc/$child/exe" 2>/dev/null)" == */riffle ]] || continue
            uid="$(awk '/^Uid:/ { print $2 }' "/proc/$child/status")"
            [[ "$uid" == 9999 ]] || fail "a riffle container process runs as uid $uid: $(tr '\0' ' ' <"/proc/$child/cmdline")"
            say "  pid $child uid $uid $(tr '\0' ' ' <"/proc/$child/cmdline" | awk '{ print $2 }'): RSS $(awk '/VmRSS/ { print $2, $3 }' "/proc/$child/status")"
            n=$((n + 1))
        done
    done
    ((n > 0)) || fail "found no riffle process in the test bed's containers"
}

# The real `flink` CLI (apache-flink 2.3.0, the venv of the flink-cli tier) lists the job.
flink_list_all() { # LABEL M JOB
    local what="$1" m="$2" job="$3" py flink_home out
    py="$("$ROOT/tests/differential/setup_flink.sh" 2>/dev/null | tail -n 1)" || fail "tests/differential/setup_flink.sh failed"
    flink_home="$("$py" -c 'import os, pyflink; print(pyflink.__path__[0])')"
    out="$(FLINK_HOME="$flink_home" "$flink_home/bin/flink" list -a -m "$m" 2>&1)" || fail "flink list -a -m $m failed: $out"
    grep -q " : $job : .*(FINISHED)" <<<"$out" || fail "flink list -a does not show job $job FINISHED: $out"
    say "$what: flink list -a -m $m (apache-flink 2.3.0) shows $job FINISHED"
}

main() {
    local scenarios=("$@")
    ((${#scenarios[@]} > 0)) || scenarios=(static session application job-cluster ha native native-application operator helm)
    local s
    for s in "${scenarios[@]}"; do
        case "$s" in static | session | application | job-cluster | ha | native | native-application | operator | autoscaler | operator-bench | helm) ;; *) fail "unknown scenario $s" ;; esac
    done
    [[ "$(id -u)" == 0 ]] || fail "the Kubernetes tier needs root (the test bed runs a kubelet)"
    [[ -x "$RIFFLE" ]] || fail "no riffle binary at $RIFFLE (build it: cargo build -p riffle-cli, or set RIFFLE_BIN)"
    command -v envsubst >/dev/null || fail "envsubst is missing (apt-get install gettext-base)"

    WORK="$(mktemp -d /tmp/riffle-k8s-run.XXXXXX)"
    chmod 0755 "$WORK"
    trap cleanup EXIT
    eval "$("$TESTBED" env)"

    local t
    t="$(now)"
    if [[ "$REUSE" == 1 ]]; then
        "$TESTBED" status >/dev/null || fail "RIFFLE_K8S_REUSE=1 but the test bed is not up"
    else
        "$TESTBED" up >"$WORK/testbed-up.log" 2>&1 || { cat "$WORK/testbed-up.log" >&2; fail "the test bed did not come up (its log above)"; }
    fi
    timing "test bed up (node Ready)" "$(since "$t")"
    t="$(now)"
    RIFFLE_BIN="$RIFFLE" nice -n 19 "$ROOT/deploy/image/build.sh" "$IMAGE" >"$WORK/image.log" 2>&1 ||
        { cat "$WORK/image.log" >&2; fail "deploy/image/build.sh failed"; }
    "$TESTBED" load-image "$IMAGE" >>"$WORK/image.log" 2>&1 || { cat "$WORK/image.log" >&2; fail "load-image failed"; }
    timing "image built and loaded into the node" "$(since "$t")"

    for s in "${scenarios[@]}"; do
        t="$(now)"
        say "== scenario $s"
        "scenario_${s//-/_}"
        timing "scenario $s" "$(since "$t")"
    done
}

# The job-cluster templates' variables, for envsubst (every other `$` stays as it is).
# shellcheck disable=SC2016
JOB_CLUSTER_VARS='$JOB_NAME $JOB_ID_SEED $PARALLELISM $SAVEPOINT_PATH $ALLOW_NON_RESTORED_STATE $IMAGE $STATE_CLAIM'

main "$@"
