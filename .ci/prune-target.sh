#!/usr/bin/env bash
# Keeps the shared build cache from filling the disk: every rebuilt test
# binary leaves its predecessor (about 1 GB each with DataFusion) in
# target/debug/deps. Deletes all but the newest of each, and the incremental
# caches when the disk is nearly full. Safe: cargo rebuilds what is missing.
set -euo pipefail
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/riffle-target}"
DEPS="$TARGET/debug/deps"
[ -d "$DEPS" ] || exit 0
python3 - "$DEPS" <<'PY'
import collections, os, stat, sys
deps = sys.argv[1]
groups = collections.defaultdict(list)
for f in os.listdir(deps):
    p = os.path.join(deps, f)
    st = os.stat(p)
    if "." in f or not st.st_mode & stat.S_IXUSR:
        continue
    groups[f.rsplit("-", 1)[0]].append((st.st_mtime, p, st.st_size))
freed = 0
for files in groups.values():
    files.sort()
    for _, p, size in files[:-1]:
        os.remove(p)
        if os.path.exists(p + ".d"):
            os.remove(p + ".d")
        freed += size
print(f"prune-target: removed {freed / 1e9:.1f} GB of stale test binaries")
PY
avail_kb="$(df -Pk "$TARGET" | awk 'NR==2 {print $4}')"
if [ "${avail_kb:-0}" -lt $((20 * 1024 * 1024)) ]; then
    echo "prune-target: less than 20 GB free, removing incremental caches"
    rm -rf "$TARGET"/debug/incremental/*
fi
