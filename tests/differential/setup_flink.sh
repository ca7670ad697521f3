#!/usr/bin/env bash
# Installs the Flink side of the differential tests (idempotent, non-interactive).
#
#   ${RIFFLE_CACHE:-$HOME/.cache/riffle}/flink-venv   python venv with apache-flink
#   ${RIFFLE_CACHE:-$HOME/.cache/riffle}/nexmark-udf.jar   Nexmark UDFs (CountChar)
#
# The last line printed on stdout is the venv's python path.
set -euo pipefail

FLINK_VERSION="2.3.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${RIFFLE_CACHE:-$HOME/.cache/riffle}"
VENV="$CACHE/flink-venv"
PY="$VENV/bin/python"
MARKER="$VENV/.riffle-flink-$FLINK_VERSION"
UDF_SRC="$HERE/udf"
UDF_JAR="$CACHE/nexmark-udf.jar"
UDF_STAMP="$CACHE/nexmark-udf.jar.sha256"

log() { echo "setup_flink: $*" >&2; }

mkdir -p "$CACHE"

# Serialise concurrent runs (several test processes may call this at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.flink-setup.lock"
    flock 9
fi

# 1. venv + apache-flink
if [[ -f "$MARKER" && -x "$PY" ]]; then
    log "apache-flink $FLINK_VERSION already installed in $VENV"
else
    log "creating venv $VENV and installing apache-flink==$FLINK_VERSION (takes a minute or two)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install --no-input --progress-bar off "apache-flink==$FLINK_VERSION" </dev/null >&2
    "$PY" -c 'import pyflink, sys; print("pyflink at", pyflink.__path__[0], file=sys.stderr)' >&2
    touch "$MARKER"
fi

# 2. UDF jar (rebuilt when the sources change)
PYFLINK_LIB="$("$PY" -c 'import os, pyflink; print(os.path.join(pyflink.__path__[0], "lib"))')"
src_hash="$(cd "$UDF_SRC" && find . -name '*.java' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [[ -f "$UDF_JAR" && -f "$UDF_STAMP" && "$(cat "$UDF_STAMP")" == "$src_hash" ]]; then
    log "UDF jar up to date: $UDF_JAR"
else
    log "compiling UDFs into $UDF_JAR"
    JAVAC="${JAVAC:-$(command -v javac || true)}"
    if [[ -z "$JAVAC" ]]; then
        log "error: javac not found (a JDK 17 is needed)"
        exit 1
    fi
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    mkdir -p "$build/classes"
    classpath="$(find "$PYFLINK_LIB" -name '*.jar' | sort | tr '\n' ':')"
    find "$UDF_SRC" -name '*.java' > "$build/sources.txt"
    "$JAVAC" --release 11 -nowarn -encoding UTF-8 -cp "$classpath" -d "$build/classes" @"$build/sources.txt"
    tmp_jar="$build/nexmark-udf.jar"
    if command -v jar >/dev/null 2>&1; then
        jar cf "$tmp_jar" -C "$build/classes" .
    else
        "$PY" - "$build/classes" "$tmp_jar" <<'PYEOF'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
    for d, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, root))
PYEOF
    fi
    mv "$tmp_jar" "$UDF_JAR"
    echo "$src_hash" > "$UDF_STAMP"
fi

echo "$PY"
