#!/usr/bin/env bash
# Runs Nexmark queries on Riffle over a file of JSON events; one folded JSONL result per query.
#
#   run_riffle_query.sh -b RIFFLE_BIN -e EVENTS -o OUT [-p N] [-q QUERY_DIR] QUERY...
#
# The query files run unmodified: only ${EVENTS_PATH}, ${NEXMARK_TABLE} and (from the
# environment's NEXMARK_HOME, where q13's data/side_input.txt is) ${FLINK_HOME} are substituted,
# and the `datagen` table is the filesystem-json DDL next to this script (the same file the
# Flink side reads). Each sink's changelog is captured with riffle.sink.tap-dir and folded
# into final rows by fold_tap.py.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN=""
EVENTS=""
OUT="./riffle-out"
PAR=1
QDIR="${NEXMARK_QUERIES_DIR:-$HERE/../../../shared/reference/nexmark/queries}"
QUERIES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -b) BIN="$2"; shift 2 ;;
        -e) EVENTS="$2"; shift 2 ;;
        -o) OUT="$2"; shift 2 ;;
        -p) PAR="$2"; shift 2 ;;
        -q) QDIR="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) QUERIES+=("$1"); shift ;;
    esac
done
[[ -x "$BIN" && -e "$EVENTS" && ${#QUERIES[@]} -gt 0 ]] || { echo "usage: $0 -b BIN -e EVENTS -o OUT [-p N] QUERY..." >&2; exit 2; }
mkdir -p "$OUT/sql"
OUT="$(cd "$OUT" && pwd)"
EVENTS_ABS="$(cd "$(dirname "$EVENTS")" && pwd)/$(basename "$EVENTS")"

status=0
for q in "${QUERIES[@]}"; do
    sql="$OUT/sql/$q.sql"
    python3 - "$EVENTS_ABS" "$sql" "$HERE/nexmark_fs_ddl.sql" "$QDIR/ddl_views.sql" "$QDIR/$q.sql" <<'PYEOF'
import os, re, sys
events, dst, *srcs = sys.argv[1:]
parts = []
for src in srcs:
    text = open(src, encoding="utf-8").read()
    text = text.replace("${EVENTS_PATH}", events).replace("${NEXMARK_TABLE}", "datagen")
    if os.environ.get("NEXMARK_HOME"):
        text = text.replace("${FLINK_HOME}", os.environ["NEXMARK_HOME"])
    left = sorted(set(re.findall(r"\$\{[A-Za-z_][A-Za-z_0-9]*\}", text)))
    if left:
        sys.exit(f"{src}: unsubstituted variables {', '.join(left)}"
             + ("; set NEXMARK_HOME to a directory holding data/side_input.txt (riffle gen nexmark-side-input)" if "${FLINK_HOME}" in left else ""))
    parts.append(text.rstrip().rstrip(";") + ";\n")
open(dst, "w", encoding="utf-8").write("\n".join(parts))
PYEOF
    tap="$OUT/tap-$q"
    rm -rf "$tap"
    if "$BIN" run --quiet -p "$PAR" \
        -D "riffle.sink.tap-dir=$tap" \
        -D "pipeline.auto-watermark-interval=0" \
        -D "table.local-time-zone=UTC" \
        "$sql" >"$OUT/$q.log" 2>&1; then
        mkdir -p "$tap"
        python3 "$HERE/fold_tap.py" "$tap" "$OUT/$q.jsonl"
    else
        echo "riffle failed on $q:" >&2
        tail -5 "$OUT/$q.log" >&2
        rm -f "$OUT/$q.jsonl"
        status=1
    fi
done
exit $status
