#!/usr/bin/env python3
"""Compare two result files of the differential tests as multisets of rows per sink.

    compare.py EXPECTED.jsonl ACTUAL.jsonl [--max-rows N] [--float-digits D]

Each line is `{"sink": "<name>", "row": [v1, v2, ...]}`; line order does not matter.
Values must have the same JSON type to be equal (1, 1.0, "1" and true all differ). Strings that
hold a plain decimal number with a fraction ("908.000") are compared by value and scale, so
"-0.000" equals "0.000" but "908.0" differs from "908.000"; other strings compare exactly. Floats are compared exactly unless --float-digits
is given (then both sides are rounded to that many significant digits).

Prints a diff of at most --max-rows (default 20) differing rows and exits 1 when the files
differ, 0 when they are equal, 2 on a usage or format error. Needs only the standard library.
"""

import argparse
import collections
import decimal
import json
import re
import sys

DECIMAL_RE = re.compile(r"[+-]?\d+\.\d+\Z")


class FormatError(Exception):
    pass


def canon(v, float_digits):
    """A hashable, type-tagged form of a JSON value."""
    if v is None:
        return ("null",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        if float_digits is not None and v != 0:
            v = float(f"{v:.{float_digits}g}")
        return ("float", v)
    if isinstance(v, str):
        if DECIMAL_RE.match(v):
            d = decimal.Decimal(v)
            scale = -d.as_tuple().exponent
            return ("dec", d.normalize() if d != 0 else decimal.Decimal(0), scale)
        return ("str", v)
    if isinstance(v, list):
        return ("list",) + tuple(canon(x, float_digits) for x in v)
    if isinstance(v, dict):
        return ("obj",) + tuple(sorted((k, canon(x, float_digits)) for k, x in v.items()))
    raise FormatError(f"unsupported JSON value {v!r}")


def load(path, float_digits):
    """{sink: Counter(canon_row -> count)}, {canon_row: display text}."""
    sinks = collections.defaultdict(collections.Counter)
    shown = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise FormatError(f"{path}:{lineno}: invalid JSON: {e}") from None
            if not isinstance(obj, dict) or "sink" not in obj or "row" not in obj \
                    or not isinstance(obj["row"], list):
                raise FormatError(f"{path}:{lineno}: expected {{\"sink\": ..., \"row\": [...]}}")
            key = canon(obj["row"], float_digits)
            sinks[str(obj["sink"])][key] += 1
            shown.setdefault(key, json.dumps(obj["row"], ensure_ascii=False))
    return sinks, shown


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("expected")
    p.add_argument("actual")
    p.add_argument("--max-rows", type=int, default=20)
    p.add_argument("--float-digits", type=int, default=None)
    args = p.parse_args(argv)
    try:
        exp, exp_shown = load(args.expected, args.float_digits)
        act, act_shown = load(args.actual, args.float_digits)
    except (OSError, FormatError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    shown = {**act_shown, **exp_shown}

    diffs = []  # (sink, display, sign, count)
    summary = []
    for sink in sorted(set(exp) | set(act)):
        e, a = exp.get(sink, collections.Counter()), act.get(sink, collections.Counter())
        missing = e - a
        unexpected = a - e
        if missing or unexpected:
            summary.append(
                f"{sink}: expected {sum(e.values())} rows, got {sum(a.values())}; "
                f"{sum(missing.values())} missing, {sum(unexpected.values())} unexpected")
            for key, n in missing.items():
                diffs.append((sink, shown[key], "-", n))
            for key, n in unexpected.items():
                diffs.append((sink, shown[key], "+", n))

    if not diffs:
        total = sum(sum(c.values()) for c in exp.values())
        print(f"equal: {total} rows in {len(exp)} sink(s)")
        return 0

    print(f"DIFFERENT: {args.expected} (-) vs {args.actual} (+)")
    for line in summary:
        print("  " + line)
    diffs.sort(key=lambda d: (d[0], d[1], d[2]))
    for sink, text, sign, n in diffs[:args.max_rows]:
        label = "missing   " if sign == "-" else "unexpected"
        times = f" x{n}" if n > 1 else ""
        print(f"{sign} {label} {sink}{times}: {text}")
    if len(diffs) > args.max_rows:
        print(f"... and {len(diffs) - args.max_rows} more differing rows")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
