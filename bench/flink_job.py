#!/usr/bin/env python3
"""Runs one SQL script on Apache Flink (PyFlink's local mini-cluster) and waits for its job.

The Flink side of bench/compare.py; run it with the python of the venv that
tests/differential/setup_flink.sh makes.

    flink_job.py SCRIPT.sql [-p PARALLELISM] [-D key=value ...] [--jar PATH ...]

Every statement runs with execute_sql; SET statements go to the table config. The INSERT
statements are submitted together as one statement set, like `riffle run` does, and the script
waits for that job to finish. A `print` sink writes its rows to this process's stdout.
"""

import argparse
import re
import sys


def statements(text):
    """Splits a script at semicolons outside quotes and comments."""
    out, cur, i, quote = [], [], 0, None
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == quote:
                quote = None
        elif c in "'`\"":
            quote = c
            cur.append(c)
        elif text.startswith("--", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c == ";":
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur).strip())
    return [s for s in out if s]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("-p", "--parallelism", type=int, default=1)
    ap.add_argument("-D", dest="conf", action="append", default=[])
    ap.add_argument("--jar", action="append", default=[])
    a = ap.parse_args()

    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("parallelism.default", str(a.parallelism))
    conf.set("table.local-time-zone", "UTC")
    if a.jar:
        conf.set("pipeline.jars", ";".join("file://" + j for j in a.jar))
    for kv in a.conf:
        k, _, v = kv.partition("=")
        conf.set(k.strip(), v.strip())

    inserts = []
    for stmt in statements(open(a.script).read()):
        m = re.match(r"(?is)^SET\s+'([^']+)'\s*=\s*'([^']*)'$", stmt)
        if m:
            conf.set(m.group(1), m.group(2))
        elif re.match(r"(?is)^INSERT\s", stmt):
            inserts.append(stmt)
        else:
            env.execute_sql(stmt)
    if not inserts:
        sys.exit("no INSERT statement in " + a.script)
    stmt_set = env.create_statement_set()
    for stmt in inserts:
        stmt_set.add_insert_sql(stmt)
    stmt_set.execute().wait()


if __name__ == "__main__":
    main()
