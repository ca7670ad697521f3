#!/usr/bin/env python3
"""Folds Riffle's changelog tap into final sink contents, in flink_oracle.py's format.

Usage: fold_tap.py TAP_DIR OUT.jsonl

Each tap file `<sink>.jsonl` (or `<sink>.<subtask>.jsonl`) holds lines
`{"kind": "+I"|"-U"|"+U"|"-D", "row": [...]}`. +I/+U add one occurrence of the row,
-U/-D remove one; removing an absent row is an error (the changelog is broken).
The output holds one `{"sink": ..., "row": [...]}` line per remaining occurrence, sorted.
"""
import collections
import json
import os
import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tap_dir, out = sys.argv[1], sys.argv[2]
    tables = collections.defaultdict(collections.Counter)
    for name in sorted(os.listdir(tap_dir)):
        m = re.match(r"^(.*?)(\.\d+)?\.jsonl$", name)
        if not m:
            continue
        sink = m.group(1)
        counter = tables[sink]
        with open(os.path.join(tap_dir, name), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                rec = json.loads(line)
                key = json.dumps(rec["row"], sort_keys=True)
                if rec["kind"] in ("+I", "+U"):
                    counter[key] += 1
                elif counter[key] > 0:
                    counter[key] -= 1
                else:
                    sys.exit(f"{name}:{n}: {rec['kind']} of a row that is not present: {key}")
    lines = []
    for sink, counter in tables.items():
        for key, count in counter.items():
            for _ in range(count):
                lines.append(json.dumps({"sink": sink, "row": json.loads(key)}))
    lines.sort()
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
