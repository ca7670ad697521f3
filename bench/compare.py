#!/usr/bin/env python3
"""Riffle and Apache Flink 2.3.0 side by side on this machine: the same SQL, the same data, the
same parallelism, runs alternating between the engines.

  bench/compare.py [--quick] [--runs N] [-p N] [--rows N] [--json FILE] [--chart PNG] [QUERY...]

QUERY is one of the micro-queries below (default: all). Each engine generates its rows
in-process with the same `datagen` options (a sequence `id`, so every engine sees the same
keys, windows and filter results):

  passthrough   SELECT id, v, s                            → blackhole (the ceiling)
  filter        filter + projection                        → blackhole
  tumble        TUMBLE 10 s window, COUNT and SUM per key  → blackhole
  groupby       unbounded GROUP BY key, COUNT and SUM      → blackhole

Per run it reports events/s over wall time and over net processing time (wall time minus the
time to the first result row), CPU-seconds and events per CPU-second, peak RSS summed over all
processes of the engine (Flink: the python driver and its JVM), and the time from start to the
first result row. The first-row time comes from a second run of the same query whose sink is
`print` instead of `blackhole`, stopped at its first row. Then it prints medians with min–max
and the Riffle/Flink ratio per query.

--quick: a small row count and one run each; instead of timing, both engines run every query
to completion with the `print` sink, and the harness checks that their changelogs fold to the
same number of rows. Exit status 1 when they differ or an engine fails.

--json writes every run's numbers; --chart draws events per CPU-second per query (bench/chart.py,
with matplotlib in a venv made under $RIFFLE_CACHE on first use).

Riffle: RIFFLE_BIN, else a release build. Flink: apache-flink 2.3.0 in the venv of
tests/differential/setup_flink.sh (installed on first use into $RIFFLE_CACHE).
"""
import argparse, datetime, json, os, re, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROW = re.compile(r"^(?:\d+> )?([+-][IUD])\[")


def source_ddl(rows):
    return f"""
CREATE TABLE src (
    id BIGINT,
    v BIGINT,
    s STRING,
    k AS id % 1000,
    ts AS TO_TIMESTAMP_LTZ(id, 3),
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
    'connector' = 'datagen',
    'rows-per-second' = '1000000000',
    'fields.id.kind' = 'sequence',
    'fields.id.start' = '1',
    'fields.id.end' = '{rows}',
    'fields.v.min' = '0',
    'fields.v.max' = '1000',
    'fields.s.length' = '16'
);
"""


# name → (sink columns, query)
MICRO = {
    "passthrough": ("id BIGINT, v BIGINT, s STRING", "SELECT id, v, s FROM src"),
    "filter": ("id BIGINT, v2 BIGINT, s STRING",
               "SELECT id, v * 2, UPPER(s) FROM src WHERE id % 10 < 3"),
    "tumble": ("k BIGINT, window_start TIMESTAMP(3), n BIGINT, total BIGINT",
               "SELECT k, window_start, COUNT(*), SUM(v) "
               "FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
               "GROUP BY k, window_start, window_end"),
    "groupby": ("k BIGINT, n BIGINT, total BIGINT",
                "SELECT k, COUNT(*), SUM(v) FROM src GROUP BY k"),
}


def script(query, rows, sink):
    cols, select = MICRO[query]
    return (source_ddl(rows)
            + f"CREATE TABLE out_t ({cols}) WITH ('connector' = '{sink}');\n"
            + f"INSERT INTO out_t {select};\n")


# ---------------------------------------------------------------------------------------------
# Engines


def riffle_bin():
    if os.environ.get("RIFFLE_BIN"):
        return os.environ["RIFFLE_BIN"]
    subprocess.run(["cargo", "build", "--release", "-p", "riffle-cli", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "riffle")


def flink_python():
    setup = os.path.join(ROOT, "tests", "differential", "setup_flink.sh")
    out = subprocess.run([setup], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


class Engine:
    def __init__(self, name, command):
        self.name, self.command = name, command


def engines(parallelism):
    rb = riffle_bin()
    py = flink_python()
    driver = os.path.join(ROOT, "bench", "flink_job.py")
    riffle = Engine("riffle", lambda f: [rb, "run", "--quiet", "-p", str(parallelism), f])
    flink = Engine("flink", lambda f: [py, driver, "-p", str(parallelism), f])
    return [riffle, flink]


# ---------------------------------------------------------------------------------------------
# Measuring a process tree


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(root):
    kids, out, todo = children_map(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def sample(pid):
    """(cpu seconds, rss bytes) of one process, or None once it is gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        rss = int(open(f"/proc/{pid}/statm").read().split()[1]) * PAGE
        return cpu, rss
    except (OSError, IndexError, ValueError):
        return None


class Run:
    """Runs a command; samples CPU and RSS of its process tree every 50 ms; optionally stops
    it at its first result row."""

    def __init__(self, cmd, stop_at_first_row=False, keep_rows=False):
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_row = None
        self.kinds = {}
        self.cpu, self.peak_rss = {}, 0
        self.stderr = []
        self.stop_at_first_row, self.keep_rows = stop_at_first_row, keep_rows
        out = threading.Thread(target=self.read_stdout)
        err = threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr))
        out.start(), err.start()
        # wait4 rather than poll: the root's own rusage is exact even when the process ends
        # between two samples (a Riffle run of a second or two).
        while True:
            self.take_sample()
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        self.wall = time.time() - self.t0
        self.proc.returncode = self.code = os.waitstatus_to_exitcode(status)
        self.root_cpu = usage.ru_utime + usage.ru_stime
        self.root_rss = usage.ru_maxrss * 1024
        out.join(), err.join()

    def read_stdout(self):
        for line in self.proc.stdout:
            m = ROW.match(line)
            if not m:
                continue
            if self.first_row is None:
                self.first_row = time.time() - self.t0
                if self.stop_at_first_row:
                    self.kill()
            if self.keep_rows:
                self.kinds[m.group(1)] = self.kinds.get(m.group(1), 0) + 1

    def take_sample(self):
        rss = 0
        for p in tree(self.proc.pid):
            s = sample(p)
            if s:
                self.cpu[p] = max(self.cpu.get(p, 0), s[0])
                rss += s[1]
        self.peak_rss = max(self.peak_rss, rss)

    def kill(self):
        for p in reversed(tree(self.proc.pid)):
            try:
                os.kill(p, 9)
            except OSError:
                pass

    @property
    def cpu_seconds(self):
        # The samples cover every process of the tree up to the last sample; wait4 covers the
        # root (and whatever it reaped) to its end. Neither misses what the other holds.
        return max(sum(self.cpu.values()), self.root_cpu)

    @property
    def rss(self):
        return max(self.peak_rss, self.root_rss)

    def folded_rows(self):
        k = self.kinds
        return k.get("+I", 0) + k.get("+U", 0) - k.get("-U", 0) - k.get("-D", 0)

    def failure(self):
        return "".join(self.stderr[-30:])


# ---------------------------------------------------------------------------------------------


def measure(engine, query, rows, work):
    timed = os.path.join(work, f"{query}-{engine.name}-blackhole.sql")
    probe = os.path.join(work, f"{query}-{engine.name}-print.sql")
    open(timed, "w").write(script(query, rows, "blackhole"))
    open(probe, "w").write(script(query, rows, "print"))
    r = Run(engine.command(timed))
    if r.code != 0:
        raise SystemExit(f"{engine.name} failed on {query}:\n{r.failure()}")
    first = Run(engine.command(probe), stop_at_first_row=True).first_row
    net = max(r.wall - (first or 0), 1e-9)
    return {
        "wall_s": r.wall, "first_row_s": first, "cpu_s": r.cpu_seconds, "peak_rss_mb": r.rss / 1e6,
        "events_per_s_wall": rows / r.wall, "events_per_s_net": rows / net,
        "events_per_cpu_s": rows / max(r.cpu_seconds, 1e-9),
    }


def quick(engs, queries, rows, work):
    ok = True
    print(f"| query | {' | '.join(e.name + ' rows' for e in engs)} | same |")
    print("| --- |" + " --- |" * (len(engs) + 1))
    for q in queries:
        counts = []
        for e in engs:
            f = os.path.join(work, f"{q}-{e.name}-print.sql")
            open(f, "w").write(script(q, rows, "print"))
            r = Run(e.command(f), keep_rows=True)
            if r.code != 0:
                print(f"{e.name} failed on {q}:\n{r.failure()}", file=sys.stderr)
                counts.append(None)
            else:
                counts.append(r.folded_rows())
        same = None not in counts and len(set(counts)) == 1
        ok &= same
        print(f"| {q} | {' | '.join(str(c) for c in counts)} | {'yes' if same else 'NO'} |")
    return ok


def fmt(values, f):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{f(statistics.median(values))} ({f(min(values))}–{f(max(values))})"


METRICS = [
    ("events/s (wall)", "events_per_s_wall", lambda v: f"{v / 1e6:.2f} M"),
    ("events/s (net)", "events_per_s_net", lambda v: f"{v / 1e6:.2f} M"),
    ("CPU s", "cpu_s", lambda v: f"{v:.1f}"),
    ("events per CPU-s", "events_per_cpu_s", lambda v: f"{v / 1e6:.2f} M"),
    ("peak RSS MB", "peak_rss_mb", lambda v: f"{v:,.0f}"),
    ("first row s", "first_row_s", lambda v: f"{v:.2f}"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", nargs="*", choices=[[]] + list(MICRO), default=[])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-p", "--parallelism", type=int, default=2)
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--json", help="write every run's numbers here")
    ap.add_argument("--chart", help="draw events per CPU-second per query into this PNG")
    a = ap.parse_args()
    queries = a.queries or list(MICRO)
    engs = engines(a.parallelism)
    work = tempfile.mkdtemp(prefix="riffle-compare-")
    if a.quick:
        rows = a.rows or 50_000
        print(f"## quick check: {rows:,} rows, parallelism {a.parallelism}\n")
        sys.exit(0 if quick(engs, queries, rows, work) else 1)

    rows = a.rows or 20_000_000
    print(f"## micro-queries: {rows:,} rows, parallelism {a.parallelism}, {a.runs} runs each, alternating\n")
    results = {(q, e.name): [] for q in queries for e in engs}
    print("| query | engine | run | " + " | ".join(m[0] for m in METRICS) + " |")
    print("| --- " * (3 + len(METRICS)) + "|")
    for q in queries:
        for run in range(a.runs):
            for e in engs:
                m = measure(e, q, rows, work)
                results[(q, e.name)].append(m)
                print(f"| {q} | {e.name} | {run + 1} | "
                      + " | ".join(f(m[k]) if m[k] is not None else "–" for _, k, f in METRICS) + " |",
                      flush=True)
    print("\nMedians (min–max):\n")
    print("| query | engine | " + " | ".join(m[0] for m in METRICS) + " |")
    print("| --- " * (2 + len(METRICS)) + "|")
    for q in queries:
        for e in engs:
            rs = results[(q, e.name)]
            print(f"| {q} | {e.name} | " + " | ".join(fmt([r[k] for r in rs], f) for _, k, f in METRICS) + " |")
    print("\nRiffle/Flink (medians):\n")
    print("| query | events per CPU-s | peak RSS | first row |")
    print("| --- | --- | --- | --- |")
    for q in queries:
        def med(e, k):
            vals = [x[k] for x in results[(q, e)] if x[k] is not None]
            return statistics.median(vals) if vals else None
        cpu = med("riffle", "events_per_cpu_s") / med("flink", "events_per_cpu_s")
        rss = med("riffle", "peak_rss_mb") / med("flink", "peak_rss_mb")
        fr, ff = med("riffle", "first_row_s"), med("flink", "first_row_s")
        first = f"{fr:.2f} s vs {ff:.2f} s" if fr is not None and ff is not None else "–"
        print(f"| {q} | {cpu:.1f}× | {rss:.3f}× | {first} |")
    data = {
        "title": f"{rows:,} rows, parallelism {a.parallelism}, {a.runs} runs each, "
                 f"{datetime.date.today()}",
        "queries": queries,
        "engines": [e.name for e in engs],
        "results": {q: {e.name: results[(q, e.name)] for e in engs} for q in queries},
    }
    if a.json:
        json.dump(data, open(a.json, "w"), indent=1)
    if a.chart:
        path = os.path.join(work, "results.json")
        json.dump(data, open(path, "w"))
        subprocess.run([chart_python(), os.path.join(ROOT, "bench", "chart.py"), path, a.chart], check=True)
        print(f"\nchart: {a.chart}")


def chart_python():
    venv = os.path.join(os.environ.get("RIFFLE_CACHE", os.path.expanduser("~/.cache/riffle")), "bench-venv")
    py = os.path.join(venv, "bin", "python")
    if subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode if os.path.exists(py) else True:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--progress-bar", "off", "matplotlib"], check=True)
    return py


if __name__ == "__main__":
    main()
