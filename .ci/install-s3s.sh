#!/usr/bin/env bash
# Installs s3s-fs (an S3 API server over a local directory) for the S3 tests of
# riffle-storage (crates/riffle-storage/tests/s3.rs). Idempotent: does nothing
# when the binary is already there. The build gets its own target directory,
# deleted afterwards, so it neither touches the workspace build cache nor
# keeps ~1 GB of intermediate files.
set -euo pipefail

VERSION=0.14.1
ROOT="${RIFFLE_CACHE:-$HOME/.cache/riffle}/s3s"
BIN="$ROOT/bin/s3s-fs"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
    echo "s3s-fs $VERSION already installed at $BIN"
    exit 0
fi

echo "installing s3s-fs $VERSION into $ROOT (cargo install, a few minutes)"
mkdir -p "$ROOT"
CARGO_TARGET_DIR="$ROOT/target" cargo install "s3s-fs@$VERSION" \
    --features binary --locked --root "$ROOT"
echo "removing the build directory $ROOT/target"
rm -rf "$ROOT/target"
echo "installed $BIN"
