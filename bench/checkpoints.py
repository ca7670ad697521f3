#!/usr/bin/env python3
"""Checkpoint cost and recovery time on a local cluster (one JobManager, TaskManagers as
separate processes on 127.0.0.1), with the release binary.

  bench/checkpoints.py state    [--keys N]   checkpoint duration and size for a job whose keyed
                                             state grows to about 1 GB (10 M keys by default)
  bench/checkpoints.py recovery [--runs N]   ms from SIGKILL of a TaskManager to records flowing
                                             again (a replacement is started at once)
  bench/checkpoints.py restore  [--keys N]   ms from SIGKILL of the only TaskManager to the aggregate
                                             reading records again, once a checkpoint holds ~1 GB
  bench/checkpoints.py overhead [--rows N]   events/s of a stateful job without checkpoints and
                                             with a checkpoint every 10 s
  bench/checkpoints.py all

RIFFLE_BIN overrides the binary (default: cargo build --release, then target/release/riffle).
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary():
    if os.environ.get("RIFFLE_BIN"):
        return os.environ["RIFFLE_BIN"]
    subprocess.run(["cargo", "build", "--release", "-p", "riffle-cli", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "riffle")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    def __init__(self, bin, work, taskmanagers, slots, extra=""):
        self.bin, self.work, self.procs = bin, work, []
        self.rest, self.rpc = free_port(), free_port()
        self.props = (
            f"jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {self.rpc}\n"
            f"jobmanager.bind-host: 127.0.0.1\nrest.address: 127.0.0.1\nrest.bind-address: 127.0.0.1\n"
            f"rest.port: {self.rest}\ntaskmanager.host: 127.0.0.1\ntaskmanager.bind-host: 127.0.0.1\n"
            f"taskmanager.numberOfTaskSlots: {slots}\nmetrics.reporter.prom.port: 0\n"
            "heartbeat.interval: 100 ms\nheartbeat.timeout: 10 s\n" + extra
        )
        self.jm = self.spawn("jobmanager")
        self.tms = [self.spawn("taskmanager") for _ in range(taskmanagers)]
        self.wait(lambda: self.get("/overview").get("taskmanagers") == taskmanagers)

    def spawn(self, role):
        log = open(os.path.join(self.work, f"{role}-{len(self.procs)}.log"), "w")
        env = dict(os.environ, RIFFLE_PROPERTIES=self.props)
        env.pop("RIFFLE_CONF_DIR", None)
        p = subprocess.Popen([self.bin, role], env=env, stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rest}/v1{path}", timeout=5) as r:
                return json.load(r)
        except Exception:
            return {}

    def wait(self, ok, timeout=600, every=0.05):
        t = time.time()
        while time.time() - t < timeout:
            if ok():
                return
            time.sleep(every)
        raise SystemExit("timed out")

    def submit(self, sql, conf):
        body = json.dumps({"script": sql, "flinkConfiguration": conf}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rest}/v1/sql/jobs", body,
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)["jobid"]

    def status(self, job):
        return self.get(f"/jobs/{job}/status").get("status")

    def source_records(self, job):
        d = self.get(f"/jobs/{job}")
        for v in d.get("vertices", []):
            if v["name"].startswith("Source"):
                return v["metrics"]["write-records"]
        return 0

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def state_job(keys):
    return f"""
CREATE TABLE src (k BIGINT, v BIGINT, s STRING) WITH ('connector' = 'datagen', 'rows-per-second' = '1000000000',
    'fields.k.min' = '1', 'fields.k.max' = '{keys}', 'fields.s.length' = '40');
CREATE TABLE out_t (k BIGINT, n BIGINT, total BIGINT, top STRING) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT k, COUNT(*), SUM(v), MAX(s) FROM src GROUP BY k;
"""


def fmt_ms(v):
    return f"{v:,.0f}"


def bench_state(bin, work, keys):
    ck = os.path.join(work, "ck")
    c = Cluster(bin, work, 1, 2)
    try:
        job = c.submit(state_job(keys), {"parallelism.default": "2",
                                         "execution.checkpointing.interval": "10 s",
                                         "execution.checkpointing.dir": ck,
                                         "execution.checkpointing.timeout": "10 min"})
        # Let the state grow; report each completed checkpoint for ~90 s.
        t0 = time.time()
        seen = set()
        print("| checkpoint | state size MB | end-to-end s | TM RSS MB |")
        print("| --- | --- | --- | --- |")
        rows = []
        while time.time() - t0 < 75:
            time.sleep(1)
            stats = c.get(f"/jobs/{job}/checkpoints")
            for h in reversed(stats.get("history", [])):
                if h["status"] == "COMPLETED" and h["id"] not in seen:
                    seen.add(h["id"])
                    rss = int(open(f"/proc/{c.tms[0].pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024
                    rows.append((h["id"], h["state_size"] / 1e6, h["end_to_end_duration"] / 1000, rss))
                    print(f"| {h['id']} | {h['state_size'] / 1e6:,.0f} | {h['end_to_end_duration'] / 1000:.2f} | {rss:,.0f} |")
        log = re.sub(r"\x1b\[[0-9;]*m", "", open(os.path.join(work, "taskmanager-1.log")).read())
        syncs = [int(m) for m in re.findall(r" sync_ms=(\d+)", log)]
        asyncs = [int(m) for m in re.findall(r"async_ms=(\d+)", log)]
        if syncs:
            print(f"\nper subtask snapshot ({len(syncs)}): synchronous part in the task thread "
                  f"median {statistics.median(syncs)} ms, max {max(syncs)} ms; upload median "
                  f"{statistics.median(asyncs)} ms, max {max(asyncs)} ms")
        # Folding the writes made during a snapshot back into the state runs in the task
        # thread, one key group at a time; the TaskManager logs each fold of 50 ms or more.
        thaws = [int(m) for m in re.findall(r"keyed state thawed.* ms=(\d+)", log)]
        print(f"key-group folds after a snapshot of 50 ms or more in the task thread: {len(thaws)}"
              + (f", max {max(thaws)} ms" if thaws else ""))
        return rows
    finally:
        c.stop()


def bench_restore(bin, work, keys, target_bytes=1e9):
    """Kill the only TaskManager once a checkpoint holds ~1 GB, start a replacement, and time
    the way back: kill → aggregate reading records again, and each subtask's restore."""
    rw = os.path.join(work, "restore")
    os.makedirs(rw)
    c = Cluster(bin, rw, 1, 2, "restart-strategy.type: fixed-delay\n"
                               "restart-strategy.fixed-delay.attempts: 10\n"
                               "restart-strategy.fixed-delay.delay: 0 ms\n")
    try:
        job = c.submit(state_job(keys), {"parallelism.default": "2",
                                         "execution.checkpointing.interval": "10 s",
                                         "execution.checkpointing.dir": os.path.join(rw, "ck"),
                                         "execution.checkpointing.timeout": "10 min"})

        def latest_size():
            latest = c.get(f"/jobs/{job}/checkpoints").get("latest", {}).get("completed") or {}
            return latest.get("state_size", 0)
        c.wait(lambda: latest_size() >= target_bytes, timeout=600)
        size = latest_size()
        victim = c.tms[0]
        t0 = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        c.tms[0] = c.spawn("taskmanager")

        def aggregate_reads():
            for v in c.get(f"/jobs/{job}").get("vertices", []):
                if "Aggregate" in v["name"]:
                    return v.get("metrics", {}).get("read-records", 0)
            return 0
        c.wait(lambda: c.get(f"/jobs/{job}/checkpoints").get("counts", {}).get("restored", 0) >= 1, timeout=600)
        c.wait(lambda: c.status(job) == "RUNNING" and aggregate_reads() > 0, every=0.05, timeout=600)
        total = (time.time() - t0) * 1000
        log = re.sub(r"\x1b\[[0-9;]*m", "", open(os.path.join(rw, f"taskmanager-{len(c.procs) - 1}.log")).read())
        restores = [int(m) for m in re.findall(r"state restored.* ms=(\d+)", log)]
        print(f"| {size / 1e6:,.0f} | {total:,.0f} | {', '.join(f'{r:,}' for r in restores)} |")
        return size, total, restores
    finally:
        c.stop()


def recovery_job():
    return """
CREATE TABLE src (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '200000',
    'fields.k.min' = '1', 'fields.k.max' = '100000');
CREATE TABLE out_t (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT k, COUNT(*), SUM(v) FROM src GROUP BY k;
"""


def bench_recovery(bin, work, runs):
    results = []
    for r in range(runs):
        rw = os.path.join(work, f"recovery-{r}")
        os.makedirs(rw)
        c = Cluster(bin, rw, 2, 2, "restart-strategy.type: fixed-delay\n"
                                   "restart-strategy.fixed-delay.attempts: 10\n"
                                   "restart-strategy.fixed-delay.delay: 0 ms\n")
        try:
            job = c.submit(recovery_job(), {"parallelism.default": "2",
                                            "execution.checkpointing.interval": "1 s",
                                            "execution.checkpointing.dir": os.path.join(rw, "ck")})
            c.wait(lambda: c.get(f"/jobs/{job}/checkpoints").get("counts", {}).get("completed", 0) >= 3)
            victim = c.tms[1]
            t0 = time.time()
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            c.tms[1] = c.spawn("taskmanager")
            # Records flow again: the new attempt's source counter moves.
            c.wait(lambda: c.get(f"/jobs/{job}/checkpoints").get("counts", {}).get("restored", 0) >= 1)
            c.wait(lambda: c.status(job) == "RUNNING" and c.source_records(job) > 0, every=0.01)
            results.append((time.time() - t0) * 1000)
            print(f"| {r + 1} | {results[-1]:,.0f} |")
        finally:
            c.stop()
    return results


def overhead_job(rows):
    return f"""
CREATE TABLE src (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '1000000000',
    'fields.k.min' = '1', 'fields.k.max' = '1000000');
CREATE TABLE out_t (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out_t SELECT k, COUNT(*), SUM(v) FROM src GROUP BY k;
"""


def bench_overhead(bin, work, rows, runs=3):
    out = {}
    for label, conf in [("no checkpoints", {}),
                        ("checkpoint every 10 s", {"execution.checkpointing.interval": "10 s",
                                                   "execution.checkpointing.dir": os.path.join(work, "ck-o")})]:
        rates = []
        for r in range(runs):
            rw = os.path.join(work, f"overhead-{len(out)}-{r}")
            os.makedirs(rw)
            c = Cluster(bin, rw, 1, 2)
            try:
                t0 = time.time()
                job = c.submit(overhead_job(rows), dict(conf, **{"parallelism.default": "2"}))
                c.wait(lambda: c.status(job) in ("FINISHED", "FAILED"), every=0.02)
                assert c.status(job) == "FINISHED"
                rates.append(rows / (time.time() - t0))
            finally:
                c.stop()
        out[label] = rates
        print(f"| {label} | {statistics.median(rates) / 1e6:.2f} M/s ({min(rates) / 1e6:.2f}–{max(rates) / 1e6:.2f}) |")
    a, b = (statistics.median(v) for v in out.values())
    print(f"\nthroughput loss with checkpoints every 10 s: {100 * (1 - b / a):.1f} %")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["state", "recovery", "restore", "overhead", "all"])
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=200_000_000)
    a = ap.parse_args()
    bin = binary()
    work = tempfile.mkdtemp(prefix="riffle-bench-ck-")
    try:
        if a.what in ("state", "all"):
            print(f"## keyed state: GROUP BY over {a.keys:,} keys, checkpoints every 10 s to local disk\n")
            bench_state(bin, work, a.keys)
        if a.what in ("recovery", "all"):
            print("\n## recovery: SIGKILL of a TaskManager to records flowing again\n")
            print("| run | ms |\n| --- | --- |")
            res = bench_recovery(bin, work, a.runs)
            print(f"\nmedian {statistics.median(res):,.0f} ms (min {min(res):,.0f}, max {max(res):,.0f})")
        if a.what in ("restore", "all"):
            print("\n## restoring ~1 GB of keyed state: SIGKILL of the TaskManager to the aggregate reading again\n")
            print("| state MB | kill to records flowing, ms | restore per operator instance, ms |")
            print("| --- | --- | --- |")
            bench_restore(bin, work, a.keys)
        if a.what in ("overhead", "all"):
            print(f"\n## throughput with and without checkpoints ({a.rows:,} rows, GROUP BY over 1 M keys, p=2)\n")
            print("| run | events/s |\n| --- | --- |")
            bench_overhead(bin, work, a.rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
