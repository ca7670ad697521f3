#!/usr/bin/env bash
# Builds the Riffle container image from deploy/image/Containerfile with buildah (no Docker daemon).
#
#   deploy/image/build.sh [--release] [TAG]      build TAG (default localhost/riffle:dev) and print its size
#   deploy/image/build.sh --context DIR          only assemble the build context in DIR (for docker/podman/kaniko)
#
#   --release    build the binary with `cargo build --profile dist -p riffle-cli` (release with
#                fat LTO, one codegen unit, no symbols: the smallest binary) and use it
#                (default: the existing debug binary, $RIFFLE_BIN or $CARGO_TARGET_DIR/debug/riffle)
#
# Environment:
#   RIFFLE_BIN           the riffle binary to package (without --release)
#   CARGO_TARGET_DIR     cargo's target directory (default: the repository's target/)
#   RIFFLE_IMAGE_STRIP   all (default: strip the copy in the image), debug (keep symbol names), none
#
# The image is stored in the local containers storage shared by buildah and podman
# (`podman images`); load it into the Kubernetes test bed with
# `tests/kubernetes/testbed.sh load-image TAG`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

say() { printf '[image] %s\n' "$*" >&2; }
die() {
    printf '[image] ERROR: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '[image]   %s\n' "$line" >&2; done
    exit 1
}

release=0 context_only="" tag=""
while (($# > 0)); do
    case "$1" in
        --release) release=1 ;;
        --context) context_only="${2:?--context needs a directory}"; shift ;;
        -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" "usage: deploy/image/build.sh [--release] [TAG] | --context DIR" ;;
        *) [[ -z "$tag" ]] || die "more than one TAG given"; tag="$1" ;;
    esac
    shift
done
tag="${tag:-localhost/riffle:dev}"

# Debian packages this script needs, installed only when missing.
need=()
command -v strip >/dev/null || need+=(binutils)
[[ -x /usr/bin/catatonit ]] || need+=(catatonit)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || need+=(ca-certificates)
[[ -n "$context_only" ]] || command -v buildah >/dev/null || need+=(buildah)
if ((${#need[@]} > 0)); then
    say "installing Debian packages: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        die "apt-get install ${need[*]} failed" "run 'apt-get update' and retry"
fi

if ((release)); then
    say "cargo build --profile dist -p riffle-cli"
    (cd "$ROOT" && nice -n 19 cargo build --profile dist -p riffle-cli) || die "cargo build --profile dist -p riffle-cli failed"
    bin="$TARGET/dist/riffle"
else
    bin="${RIFFLE_BIN:-$TARGET/debug/riffle}"
fi
[[ -x "$bin" ]] || die "no riffle binary at $bin" \
    "build it (cargo build -p riffle-cli), set RIFFLE_BIN, or pass --release"

if [[ -n "$context_only" ]]; then
    ctx="$context_only"
    mkdir -p "$ctx"
    [[ -z "$(ls -A "$ctx")" ]] || die "context directory $ctx is not empty"
else
    ctx="$(mktemp -d)"
    trap 'rm -rf "$ctx"' EXIT
fi
rootfs="$ctx/rootfs"

say "assembling the image from $bin"
install -d -m 0755 "$rootfs/opt/riffle/bin" "$rootfs/opt/riffle/conf" "$rootfs/opt/riffle/usrlib" \
    "$rootfs/etc/ssl/certs" "$rootfs/usr/bin"
install -d -m 1777 "$rootfs/tmp"
case "${RIFFLE_IMAGE_STRIP:-all}" in
    all) strip --strip-all -o "$rootfs/opt/riffle/bin/riffle" "$bin" ;;
    debug) strip --strip-debug -o "$rootfs/opt/riffle/bin/riffle" "$bin" ;;
    none) cp "$bin" "$rootfs/opt/riffle/bin/riffle" ;;
    *) die "RIFFLE_IMAGE_STRIP must be all, debug or none" ;;
esac
chmod 0755 "$rootfs/opt/riffle/bin/riffle"

# The shared libraries and the loader, at the paths ldd shows (symlinks resolved).
ldd_out="$(ldd "$bin")" || die "ldd $bin failed"
if grep -q 'not found' <<<"$ldd_out"; then
    die "ldd cannot resolve every library of $bin:" "$(grep 'not found' <<<"$ldd_out")"
fi
while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done < <(awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")

file_kind="$(ldd /usr/bin/catatonit 2>&1 || true)"
grep -qE 'not a dynamic executable|statically linked' <<<"$file_kind" ||
    die "/usr/bin/catatonit is not statically linked; the image has no libraries for it"
install -m 0755 /usr/bin/catatonit "$rootfs/usr/bin/catatonit"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nriffle:x:9999:9999:riffle:/opt/riffle:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nriffle:x:9999:\n' >"$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
cp "$HERE/Containerfile" "$ctx/Containerfile"

if [[ -n "$context_only" ]]; then
    say "build context ready in $ctx (e.g. docker build -t $tag $ctx)"
    exit 0
fi

version="$("$bin" --version | awk '{ print $2 }')"
t0=$(date +%s.%N)
buildah bud --quiet --isolation chroot --layers=false \
    --label "org.opencontainers.image.title=riffle" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.description=Riffle, a Flink-compatible stream processor" \
    -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null || die "buildah bud failed (output above)"
t1=$(date +%s.%N)
size=""
command -v podman >/dev/null && size="$(podman image inspect --format '{{.Size}}' "$tag" 2>/dev/null || true)"
if [[ -z "$size" ]]; then
    size="$(du -sb "$rootfs" | cut -f1)"
fi
say "built $tag (riffle $version) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
say "image size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }') MB); binary $(stat -c %s "$rootfs/opt/riffle/bin/riffle") bytes"
echo "$tag"
