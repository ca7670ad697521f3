#!/usr/bin/env bash
# The differential tier: Riffle against Apache Flink 2.3.0 on the same Nexmark events.
#
#   tests/differential/run.sh [QUERY...]
#
# Generates events with `riffle gen nexmark` (Flink JSON), runs every query on Flink
# (parallelism 1, the oracle) and on Riffle (parallelism 1 and 2), folds both changelogs
# into final rows and compares them as multisets. Prints one line per comparison and a
# closing `N passed, N failed` line; exits non-zero on any failure.
#
# Queries are the Nexmark texts (read unmodified from NEXMARK_QUERIES_DIR, default
# ../shared/reference/nexmark/queries next to the clone) and Riffle's own cases in
# tests/differential/queries/ (window table functions, legacy windows, retraction,
# deduplication); a name found in the latter is one of ours. A missing Nexmark text stops the
# run before anything is built.
#
# Environment: RIFFLE_BIN (default: build with cargo), DIFF_EVENTS (default 20000),
# DIFF_RATE (events per second of event time, default 1000, so 20000 events span 20 s
# and windows of seconds fire many times), DIFF_WORK (default: a temporary directory,
# removed at the end).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OWN_DIR="$HERE/queries"
NEXMARK_DIR="${NEXMARK_QUERIES_DIR:-$ROOT/../shared/reference/nexmark/queries}"
DEFAULT_QUERIES=(q0 q1 q2 q3 q4 q5 q7 q8 q9 q11 q13 q14 q15 q16 q17 q18 q19 q20 q21 q22
    tvf_tumble tvf_hop tvf_cumulate tvf_session legacy_hop agg_retract dedup_first topn_norank
    join_outer join_interval set_ops semi_anti over_agg q23_quoted temporal_versioned
    window_join topn_updating cascade_windows state_ttl q6_corrected)
QUERIES=("$@")
[[ ${#QUERIES[@]} -gt 0 ]] || QUERIES=("${DEFAULT_QUERIES[@]}")
EVENTS_NUM="${DIFF_EVENTS:-20000}"
RATE="${DIFF_RATE:-1000}"
NEXMARK=()
OWN=()
for q in "${QUERIES[@]}"; do
    if [[ -f "$OWN_DIR/$q.sql" ]]; then OWN+=("$q"); else NEXMARK+=("$q"); fi
done

# need_nexmark_texts QUERY...: stops, before anything is built or run, if the Nexmark texts
# these queries read are not in NEXMARK_DIR.
need_nexmark_texts() {
    [[ $# -gt 0 ]] || return 0
    local f problem
    for f in ddl_views.sql "${@/%/.sql}"; do
        [[ -f "$NEXMARK_DIR/$f" ]] && continue
        problem="has no $f"
        [[ -d "$NEXMARK_DIR" ]] || problem="does not exist (looked for $f)"
        echo "$(basename "$0"): the Nexmark query directory $NEXMARK_DIR $problem;" \
            "set NEXMARK_QUERIES_DIR to the directory holding ddl_views.sql and q0.sql ... q22.sql" >&2
        exit 2
    done
}
need_nexmark_texts "${NEXMARK[@]}"

if [[ -z "${RIFFLE_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build -p riffle-cli --quiet)
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
    RIFFLE_BIN="$TARGET/debug/riffle"
fi

WORK="${DIFF_WORK:-}"
if [[ -z "$WORK" ]]; then
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

# generate N DIR: writes N events into DIR and prints the path of their one file.
generate() {
    local n="$1" dir="$2"
    echo "generating $n Nexmark events" >&2
    rm -rf "$dir"
    "$RIFFLE_BIN" gen nexmark --events "$n" --option "first-event.rate=$RATE" \
        --option "next-event.rate=$RATE" --out "$dir" 2>/dev/null
    # One subtask writes one part file, named part-<uuid>-0-0 like Flink's.
    local parts
    shopt -s nullglob
    parts=("$dir"/part-*-0-0)
    shopt -u nullglob
    if [[ ${#parts[@]} -ne 1 ]]; then
        echo "expected one events file part-*-0-0 in $dir, found ${#parts[@]}" >&2
        ls -la "$dir" >&2 || true
        exit 1
    fi
    echo "${parts[0]}"
}
EVENTS="$(generate "$EVENTS_NUM" "$WORK/events")"
# q13's side table, where its text looks for it: ${FLINK_HOME}/data/side_input.txt.
export NEXMARK_HOME="$WORK/home"
"$RIFFLE_BIN" gen nexmark-side-input --out "$NEXMARK_HOME/data/side_input.txt" 2>/dev/null
# Our own cases' tables beside it (the versioned table of temporal_versioned).
cp "$HERE/data/rates.csv" "$NEXMARK_HOME/data/rates.csv"

# on_both DIR EVENTS QUERY...: runs one set of queries on Flink and on Riffle (p1, p2)
on_both() {
    local dir="$1" events="$2"; shift 2
    [[ $# -gt 0 ]] || return 0
    echo "running Flink on: $*"
    "$HERE/run_flink_query.sh" -q "$dir" -e "$events" -o "$WORK/flink" -p 1 "$@" >>"$WORK/flink.log" 2>&1 || {
        echo "the Flink oracle failed:" >&2; tail -20 "$WORK/flink.log" >&2; exit 1; }
    for p in 1 2; do
        "$HERE/run_riffle_query.sh" -q "$dir" -b "$RIFFLE_BIN" -e "$events" -o "$WORK/riffle-p$p" -p "$p" "$@" || true
    done
}
on_both "$NEXMARK_DIR" "$EVENTS" "${NEXMARK[@]}"
# An own case whose text has a line `-- events: N` runs on its own N events: joins whose
# keys meet only after many events (q23's bidders are offset from the person ids).
# A case with a line `-- oracle: FILE.py` is one Flink cannot run (q6): FILE.py computes its
# expected result from the events on its own, and Riffle runs it at parallelism 1 and 2.
SHARED=()
for q in "${OWN[@]}"; do
    oracle="$(sed -n 's/^-- oracle: \([A-Za-z0-9_.]*\.py\)$/\1/p' "$OWN_DIR/$q.sql")"
    if [[ -n "$oracle" ]]; then
        echo "computing the expected result of $q with $oracle"
        mkdir -p "$WORK/flink"
        python3 "$HERE/$oracle" "$EVENTS" "$WORK/flink/$q.jsonl"
        for p in 1 2; do
            "$HERE/run_riffle_query.sh" -q "$OWN_DIR" -b "$RIFFLE_BIN" -e "$EVENTS" -o "$WORK/riffle-p$p" -p "$p" "$q" || true
        done
        continue
    fi
    n="$(sed -n 's/^-- events: \([0-9][0-9]*\)$/\1/p' "$OWN_DIR/$q.sql")"
    if [[ -z "$n" ]]; then SHARED+=("$q"); continue; fi
    on_both "$OWN_DIR" "$(generate "$n" "$WORK/events-$q")" "$q"
done
on_both "$OWN_DIR" "$EVENTS" "${SHARED[@]}"

passed=0
failed=0
for p in 1 2; do
    for q in "${QUERIES[@]}"; do
        if [[ -f "$WORK/riffle-p$p/$q.jsonl" ]] && \
            python3 "$HERE/compare.py" "$WORK/flink/$q.jsonl" "$WORK/riffle-p$p/$q.jsonl" >"$WORK/cmp-$q-p$p.txt" 2>&1; then
            echo "ok     $q parallelism $p ($(wc -l <"$WORK/flink/$q.jsonl") rows)"
            passed=$((passed + 1))
        else
            echo "FAILED $q parallelism $p"
            [[ -f "$WORK/cmp-$q-p$p.txt" ]] && head -30 "$WORK/cmp-$q-p$p.txt"
            failed=$((failed + 1))
        fi
    done
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
