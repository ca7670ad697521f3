#!/usr/bin/env bash
# Runs Nexmark queries on Flink over a file of JSON events and writes one JSONL result per query.
#
#   run_flink_query.sh [options] QUERY...
#
#   QUERY                 q0 ... q23 (looked up in --queries DIR) or a path to a .sql file
#   -e, --events FILE     events file, Flink JSON format of the `datagen` table
#                         (default: data/nexmark_small.jsonl next to this script)
#   -o, --out DIR         where <query>.jsonl is written (default: ./flink-out)
#   -p, --parallelism N   parallelism.default (default 1)
#   -q, --queries DIR     directory holding ddl_views.sql and qN.sql
#                         (default: $NEXMARK_QUERIES_DIR or /work/shared/reference/nexmark/queries)
#   -D KEY=VALUE          extra Flink configuration, passed to flink_oracle.py
#   -k, --keep-going      continue after a failing query
#
# All queries run in one JVM (flink_oracle.py --query mode). The substituted SQL is kept in
# DIR/sql/ for inspection. setup_flink.sh is run first (it returns at once when installed).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EVENTS="$HERE/data/nexmark_small.jsonl"
OUT="./flink-out"
PAR=1
QDIR="${NEXMARK_QUERIES_DIR:-$HERE/../../../shared/reference/nexmark/queries}"
EXTRA=()
QUERIES=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        -e|--events) EVENTS="$2"; shift 2 ;;
        -o|--out) OUT="$2"; shift 2 ;;
        -p|--parallelism) PAR="$2"; shift 2 ;;
        -q|--queries) QDIR="$2"; shift 2 ;;
        -D) EXTRA+=(-D "$2"); shift 2 ;;
        -k|--keep-going) EXTRA+=(--keep-going); shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) QUERIES+=("$1"); shift ;;
    esac
done
[[ ${#QUERIES[@]} -gt 0 ]] || { echo "usage: $0 [options] QUERY..." >&2; exit 2; }
[[ -f "$EVENTS" ]] || { echo "no events file: $EVENTS" >&2; exit 2; }

PY="$("$HERE/setup_flink.sh" </dev/null | tail -n 1)"
CACHE="${RIFFLE_CACHE:-$HOME/.cache/riffle}"
UDF_JAR="$CACHE/nexmark-udf.jar"

mkdir -p "$OUT/sql"
OUT="$(cd "$OUT" && pwd)"
EVENTS_ABS="$(cd "$(dirname "$EVENTS")" && pwd)/$(basename "$EVENTS")"

# substitute SRC DST: replaces ${EVENTS_PATH}, ${NEXMARK_TABLE} and, when NEXMARK_HOME is set
# (q13's side input is its data/side_input.txt), ${FLINK_HOME}; fails on any other ${VAR}
substitute() {
    "$PY" - "$1" "$2" "$EVENTS_ABS" <<'PYEOF'
import os, re, sys
src, dst, events = sys.argv[1:4]
text = open(src, encoding="utf-8").read()
text = text.replace("${EVENTS_PATH}", events).replace("${NEXMARK_TABLE}", "datagen")
if os.environ.get("NEXMARK_HOME"):
    text = text.replace("${FLINK_HOME}", os.environ["NEXMARK_HOME"])
left = sorted(set(re.findall(r"\$\{[A-Za-z_][A-Za-z_0-9]*\}", text)))
if left:
    sys.exit(f"{src}: unsubstituted variables {', '.join(left)}"
             + ("; set NEXMARK_HOME to a directory holding data/side_input.txt (riffle gen nexmark-side-input)" if "${FLINK_HOME}" in left else ""))
open(dst, "w", encoding="utf-8").write(text)
PYEOF
}

substitute "$HERE/nexmark_fs_ddl.sql" "$OUT/sql/00_ddl.sql"
substitute "$QDIR/ddl_views.sql" "$OUT/sql/01_views.sql"
ARGS=()
for q in "${QUERIES[@]}"; do
    if [[ -f "$q" ]]; then src="$q"; else src="$QDIR/$q.sql"; fi
    [[ -f "$src" ]] || { echo "no query file for $q ($src)" >&2; exit 2; }
    name="$(basename "$src" .sql)"
    substitute "$src" "$OUT/sql/$name.sql"
    ARGS+=(--query "$OUT/sql/$name.sql=$OUT/$name.jsonl")
done

exec "$PY" "$HERE/flink_oracle.py" \
    --sql "$OUT/sql/00_ddl.sql" --sql "$OUT/sql/01_views.sql" \
    --parallelism "$PAR" --udf-jar "$UDF_JAR" "${EXTRA[@]}" "${ARGS[@]}"
