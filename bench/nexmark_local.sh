#!/usr/bin/env bash
# Runs Nexmark queries on `riffle run` with the built-in `nexmark` connector and prints one
# Markdown row per query: events, wall seconds, CPU seconds, events/s, events per CPU-second,
# peak RSS.
#
#   bench/nexmark_local.sh [-n EVENTS] [-p PARALLELISM] [QUERY...]
#
# The query texts are read unmodified from NEXMARK_QUERIES_DIR (default:
# ../shared/reference/nexmark/queries); the `datagen` table is the `nexmark` connector with
# `events.num` = EVENTS, emitting as fast as it can. RIFFLE_BIN defaults to a release build.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
QDIR="${NEXMARK_QUERIES_DIR:-$ROOT/../shared/reference/nexmark/queries}"
EVENTS=10000000
PAR=1
QUERIES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -n) EVENTS="$2"; shift 2 ;;
        -p) PAR="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) QUERIES+=("$1"); shift ;;
    esac
done
[[ ${#QUERIES[@]} -gt 0 ]] || QUERIES=(q0 q1 q2 q11 q14 q15 q16 q17 q18 q19 q21 q22)
# Every query text is checked before anything is built or run.
for f in ddl_views.sql "${QUERIES[@]/%/.sql}"; do
    [[ -f "$QDIR/$f" ]] && continue
    problem="has no $f"
    [[ -d "$QDIR" ]] || problem="does not exist (looked for $f)"
    echo "$(basename "$0"): the Nexmark query directory $QDIR $problem;" \
        "set NEXMARK_QUERIES_DIR to the directory holding ddl_views.sql and q0.sql ... q22.sql" >&2
    exit 2
done
if [[ -z "${RIFFLE_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p riffle-cli --quiet)
    RIFFLE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/riffle"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/ddl.sql" <<SQL
CREATE TABLE datagen (
    event_type int,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, \`dateTime\` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, \`dateTime\` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, \`dateTime\` TIMESTAMP(3), extra VARCHAR>,
    \`dateTime\` AS
        CASE
            WHEN event_type = 0 THEN person.\`dateTime\`
            WHEN event_type = 1 THEN auction.\`dateTime\`
            ELSE bid.\`dateTime\`
        END,
    WATERMARK FOR \`dateTime\` AS \`dateTime\` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '10000000',
    'events.num' = '$EVENTS'
);
SQL

echo "| query | events | parallelism | wall s | CPU s | events/s | events per CPU-s | peak RSS MiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for q in "${QUERIES[@]}"; do
    sed 's/\${NEXMARK_TABLE}/datagen/g' "$QDIR/ddl_views.sql" >"$WORK/views.sql"
    cat "$WORK/ddl.sql" "$WORK/views.sql" "$QDIR/$q.sql" >"$WORK/$q.sql"
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$RIFFLE_BIN" run --quiet -p "$PAR" "$WORK/$q.sql" \
        >/dev/null 2>"$WORK/err" || { echo "| $q | failed: $(tail -1 "$WORK/err") |"; continue; }
    read -r wall user sys rss <"$WORK/time"
    python3 - "$q" "$EVENTS" "$PAR" "$wall" "$user" "$sys" "$rss" <<'PY'
import sys
q, n, par, wall, user, sys_, rss = sys.argv[1:]
n, wall, cpu = int(n), float(wall), float(user) + float(sys_)
print(f"| {q} | {n:,} | {par} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | {n / cpu:,.0f} | {int(rss) / 1024:.0f} |")
PY
done
