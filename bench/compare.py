#!/usr/bin/env python3
"""Riffle and Apache Flink 2.3.0 side by side on this machine: the same SQL, the same data, the
same parallelism, runs alternating between the engines.

  bench/compare.py [--suite S] [--quick] [--runs N] [-p N] [--rows N] [--events N]
                   [--gen-events N] [--gen-rss-limit-mb MB] [--json FILE] [--chart PNG] [--update-docs] [QUERY...]

Suites (--suite, default all: micro, nexmark and generator):

  micro      both engines generate --rows rows (default 20 M) in-process with the same
             `datagen` options (a sequence `id`, so both see the same keys and windows):
               passthrough  SELECT id, v, s → blackhole (the datagen ceiling)
               filter       filter + projection
               tumble       TUMBLE 10 s window, COUNT and SUM per key
               groupby      unbounded GROUP BY key, COUNT and SUM
  nexmark    both engines read the same pre-generated file of --events Nexmark events
             (default 5 M, Flink JSON, one file per subtask, made once by `riffle gen nexmark`
             and cached under $RIFFLE_CACHE/bench) with the `filesystem` json source, and run
             the Nexmark queries both support, texts unmodified. `source` is the ceiling:
             every event → blackhole.
  generator  Riffle alone with its `nexmark` connector, --gen-events events (default 100 M),
             every Nexmark query it supports, laid out like the published Flink table
             (../shared/reference/nexmark/results.md); `source` is the generator → blackhole.
             One run per query by default (--gen-runs): the published table is one run too.
             A query whose state outgrows --gen-rss-limit-mb (default 16 000) is interrupted
             and listed as not fitting, with the RSS and the records read it reached.
  kafka      both engines read the same Kafka topic with the `kafka` connector: Nexmark's
             ddl_kafka.sql (json values) and the queries source, q0, q1, q2, q5 and q7, texts
             unmodified. Before the runs the harness starts one single-node Kafka 4.4 broker
             (tests/kafka/broker.sh, into the work directory; stopped at the end, also on an
             error, Ctrl-C or SIGTERM), creates topic `nexmark` with -p partitions and fills it
             once with --events events (default 5 M) by running Nexmark's insert_kafka.sql
             unmodified on Riffle (ddl_gen.sql's generator at 10 M events per second of event
             time, as in the other suites, then ddl_kafka.sql and insert_kafka.sql; the topic's
             end offsets are checked to sum to --events). Every run of either engine then reads
             that topic from its earliest offset to its end. The one change to ddl_kafka.sql:
             its WITH clause gets 'scan.bounded.mode' = 'latest-offset' (it already says
             'scan.startup.mode' = 'earliest-offset'), because the table as published is
             unbounded and a run would never end. Besides, ${BOOTSTRAP_SERVERS} is filled in and
             each run gets a 'properties.group.id' of its own in place of 'nexmark', so no two
             runs share a consumer group's state. Flink gets Flink's SQL Kafka connector jar
             (flink-sql-connector-kafka 5.0.0-2.2, fetched by broker.sh) in pipeline.jars. The
             empty run reads a second topic, `nexmark-1`, filled the same way with one event and
             with as many partitions: the same consumers, metadata requests and end-offset
             look-ups as a timed run, one record. The broker's own CPU and memory (serving both
             engines alike) are counted for neither. Not part of `--suite all` (the broker needs
             Java 17 and Maven): run it with --suite kafka.

Every measurement is three executions of the query:
  timed   the query into `blackhole`: wall time, CPU-seconds, peak RSS;
  probe   the same query into `print`, stopped at its first row: time to the first row;
  empty   the same query over a one-event input: start-up (and shut-down) wall time and CPU.
Reported per run and as medians with min–max: events/s over wall time and over net processing
time (wall minus the empty run's wall), CPU-seconds, events per CPU-second over all CPU and over
processing CPU (minus the empty run's CPU), peak RSS summed over all processes of the engine
(Flink: the python driver and its JVM), first row and start-up times. Then the Riffle/Flink ratio
per query.

--quick: small inputs and one run each; instead of timing, both engines run every query of the
micro, nexmark and kafka suites to completion into `print` and the harness checks that their
changelogs fold to the same number of rows (kafka: both read the one topic, so a difference is
the engines', not the inputs'); generator queries must run. Exit status 1 on a difference or a
failure; 2 on bad arguments or a missing Nexmark query text (checked before anything starts).

--json writes every run's numbers; --chart draws events per CPU-second per query (bench/chart.py,
matplotlib in a venv made under $RIFFLE_CACHE on first use). --update-docs does both into docs/
and rewrites the generated section of docs/benchmarks.md (date, machine, commit, command, tables).

Riffle: RIFFLE_BIN, else a release build. Flink: apache-flink 2.3.0 in the venv of
tests/differential/setup_flink.sh (installed on first use into $RIFFLE_CACHE). Nexmark query
texts: NEXMARK_QUERIES_DIR, else ../shared/reference/nexmark/queries. Kafka: the broker and the
connector jar of tests/kafka/broker.sh (fetched on first use into $RIFFLE_CACHE/kafka; Java 17+
and Maven); RIFFLE_KAFKA_BOOTSTRAP=host:port uses that Kafka instead of starting one (it must
not hold topics `nexmark` and `nexmark-1` yet).
"""
import argparse, atexit, datetime, functools, json, os, platform, re, shutil, signal, statistics, subprocess
import sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("RIFFLE_CACHE", os.path.expanduser("~/.cache/riffle"))
QDIR = os.environ.get("NEXMARK_QUERIES_DIR") or os.path.join(ROOT, "..", "shared", "reference", "nexmark", "queries")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROW = re.compile(r"^(?:\d+> )?([+-][IUD])\[")
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
CHART = os.path.join("docs", "img", "riffle-vs-flink.png")
BEGIN, END = "<!-- bench/compare.py: begin -->", "<!-- bench/compare.py: end -->"

# ---------------------------------------------------------------------------------------------
# Workloads: a query's SQL script for a sink and an input size


def micro_source(rows):
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

# The Nexmark queries both engines run (the differential tier checks their results), and the
# ones Riffle runs with its generator. `source` is every event into blackhole.
NEXMARK_BOTH = ["source", "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9", "q11", "q12", "q13", "q14", "q15",
                "q16", "q17", "q18", "q19", "q20", "q21", "q22", "q23"]
# q10 writes partitioned CSV files (into the work directory, removed after each run); Flink's
# filesystem sink only finishes files at checkpoints, so it is not run side by side.
NEXMARK_GEN = NEXMARK_BOTH[:10] + ["q10"] + NEXMARK_BOTH[10:]
# q12 counts per processing-time window: its row count depends on timing, so --quick only
# checks that both engines run it. q9's Top-1 has a unique key, so Flink's print sink takes it
# as an upsert changelog without -U rows and its net count is not its row count (3147 against
# 1094 rows on 20 000 events at parallelism 2); the differential tier compares q9's rows folded
# by key, at parallelism 1 and 2 (equal).
UNCOUNTED = {"q12", "q9"}

NEXMARK_COLUMNS = """
    event_type INT,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>"""

# The generator at the published benchmark's rate: 10 M events per second of event time.
RATE = 10_000_000


def nexmark_file_ddl(path):
    """The `datagen` table of the differential tier: Nexmark columns, the computed `dateTime` and
    its watermark, over a file of JSON events."""
    text = open(os.path.join(ROOT, "tests", "differential", "nexmark_fs_ddl.sql"), encoding="utf-8").read()
    return text.replace("${EVENTS_PATH}", path)


def nexmark_generator_ddl(events):
    """The same table with Riffle's `nexmark` connector in place of the file."""
    ddl = nexmark_file_ddl("")
    return (ddl[:ddl.rindex("WITH (")]
            + f"WITH ('connector' = 'nexmark', 'first-event.rate' = '{RATE}', 'events.num' = '{events}');\n")


def side_input_home():
    """A directory holding q13's data/side_input.txt, written as Nexmark's side-input generator
    does: `i,i` for i below 10 000."""
    home = os.path.join(WORK, "home")
    path = os.path.join(home, "data", "side_input.txt")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{i},{i}\n" for i in range(10_000))
    return home


def statement(text):
    return text.strip().rstrip(";") + ";\n"


# Flink 2.3.0's parser refuses q23's unquoted `A.dateTime` ("Encountered \". dateTime\""); both
# engines run the text with that one name quoted, as the differential tier's q23_quoted does.
FLINK_PARSER_QUOTES = {"q23": ("A.dateTime", "A.`dateTime`")}


def nexmark_query(q, sink, table="datagen"):
    """Query `q` (or `source`) over the Nexmark table `table`, into `sink`."""
    if q == "source":
        text = (f"CREATE TABLE nexmark_source ({NEXMARK_COLUMNS}) WITH ('connector' = 'blackhole');\n"
                f"INSERT INTO nexmark_source SELECT event_type, person, auction, bid FROM {table};")
    else:
        text = open(os.path.join(QDIR, f"{q}.sql"), encoding="utf-8").read()
    text = re.sub(r"'connector'\s*=\s*'blackhole'", f"'connector' = '{sink}'", text)
    if q in FLINK_PARSER_QUOTES:
        text = text.replace(*FLINK_PARSER_QUOTES[q])
    text = text.replace("${NEXMARK_DIR}", os.path.join(WORK, "nexmark")).replace("${SUBMIT_TIME}", "run")
    if "${FLINK_HOME}" in text:
        text = text.replace("${FLINK_HOME}", side_input_home())
    views = open(os.path.join(QDIR, "ddl_views.sql"), encoding="utf-8").read()
    return statement(views.replace("${NEXMARK_TABLE}", table)) + statement(text)


class Suite:
    """A family of queries over one kind of input. `script(query, size, sink)` is the SQL;
    `size` is what `events(size)` counts. `prepare` makes what the runs read before they start,
    `close` undoes it; `flink_jars` go to Flink's pipeline.jars besides the Nexmark UDF jar."""

    flink_jars = ()

    def __init__(self, name, queries, engines, default_size, quick_size):
        self.name, self.queries, self.engine_names = name, queries, engines
        self.default_size, self.quick_size = default_size, quick_size

    def prepare(self, work, size, quick):
        pass

    def close(self):
        pass


class Micro(Suite):
    def __init__(self):
        super().__init__("micro", list(MICRO), ["riffle", "flink"], 20_000_000, 50_000)

    def script(self, q, rows, sink):
        cols, select = MICRO[q]
        return (micro_source(rows) + f"CREATE TABLE out_t ({cols}) WITH ('connector' = '{sink}');\n"
                + f"INSERT INTO out_t {select};\n")


class NexmarkFile(Suite):
    def __init__(self, riffle, parallelism):
        super().__init__("nexmark", NEXMARK_BOTH, ["riffle", "flink"], 5_000_000, 20_000)
        self.riffle, self.parallelism = riffle, parallelism

    def script(self, q, events, sink):
        path = events_dir(self.riffle, events, self.parallelism)
        return statement(nexmark_file_ddl(path)) + nexmark_query(q, sink)


class NexmarkGenerator(Suite):
    def __init__(self):
        super().__init__("generator", NEXMARK_GEN, ["riffle"], 100_000_000, 20_000)

    def script(self, q, events, sink):
        return nexmark_generator_ddl(events) + nexmark_query(q, sink)


# The Nexmark queries of the kafka suite: the source ceiling, stateless ones, and the two
# windowed ones whose watermarks come from the Kafka source.
KAFKA_QUERIES = ["source", "q0", "q1", "q2", "q5", "q7"]
# Nexmark's texts the kafka suite reads besides the views and the queries.
KAFKA_TEXTS = ["ddl_gen.sql", "ddl_kafka.sql", "insert_kafka.sql"]
BROKER_SH = os.path.join(ROOT, "tests", "kafka", "broker.sh")


class Broker:
    """One single-node Kafka broker of tests/kafka/broker.sh for the whole harness run, started
    into a directory. `stop` is idempotent and also registered with atexit."""

    def __init__(self):
        out = subprocess.run([BROKER_SH, "paths"], stdout=subprocess.PIPE, check=True, text=True).stdout
        paths = dict(line.split("=", 1) for line in out.split())
        self.connector_jar = paths["FLINK_KAFKA_CONNECTOR_JAR"]
        self.dir, self.bootstrap, self.running = None, None, False

    def start(self, directory):
        subprocess.run([BROKER_SH, "fetch"], stdout=subprocess.DEVNULL, check=True)
        self.dir = directory
        atexit.register(self.stop)
        self.running = True  # from here on a broker may exist (its pid file is written first)
        t0 = time.time()
        out = subprocess.run([BROKER_SH, "start", self.dir], stdout=subprocess.PIPE, check=True, text=True)
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        print(f"Kafka broker at {self.bootstrap} ({time.time() - t0:.1f} s to start)", file=sys.stderr, flush=True)

    def tool(self, cls, *args):
        """Runs a Kafka tool class; its stdout."""
        r = subprocess.run([BROKER_SH, "run", cls, "--bootstrap-server", self.bootstrap, *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{cls.rsplit('.', 1)[-1]} {' '.join(args)} failed:\n{r.stderr[-3000:]}")
        return r.stdout

    def stop(self):
        if self.running:
            self.running = False
            subprocess.run([BROKER_SH, "stop", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kafka_table(bootstrap, topic, group=None):
    """Nexmark's ddl_kafka.sql for `topic`. With a `group` (the tables the runs read): bounded at
    the end offsets the topic has when a run starts, read from the earliest offset, in consumer
    group `group`. Without (the table the topic is filled through): the text as published."""
    text = open(os.path.join(QDIR, "ddl_kafka.sql"), encoding="utf-8").read()
    text = text.replace("${BOOTSTRAP_SERVERS}", bootstrap)

    def option(key, value, add=None):
        nonlocal text
        pattern = r"'" + re.escape(key) + r"'\s*=\s*'[^']*'"
        if not re.search(pattern, text):
            raise SystemExit(f"compare.py: {QDIR}/ddl_kafka.sql has no '{key}' option")
        text = re.sub(pattern, lambda _: f"'{key}' = '{value}'" + (add or ""), text, count=1)

    option("topic", topic)
    if group is not None:
        option("properties.group.id", group)
        option("scan.startup.mode", "earliest-offset", ",\n    'scan.bounded.mode' = 'latest-offset'")
    return text


class NexmarkKafka(Suite):
    def __init__(self, riffle, parallelism):
        super().__init__("kafka", KAFKA_QUERIES, ["riffle", "flink"], 5_000_000, 20_000)
        self.riffle, self.parallelism = riffle, parallelism
        self.broker = Broker()
        self.flink_jars = (self.broker.connector_jar,)
        self.topics = {}  # events → topic holding that many
        self.groups = 0

    def prepare(self, work, events, quick):
        """Starts the broker and fills the topics: `nexmark` with `events` events and, unless
        `quick` (no empty runs), `nexmark-1` with one."""
        self.broker.start(os.path.join(work, "kafka"))
        self.fill("nexmark", events)
        if not quick and events != 1:
            self.fill("nexmark-1", 1)

    def fill(self, topic, events):
        t0 = time.time()
        self.broker.tool("org.apache.kafka.tools.TopicCommand", "--create", "--topic", topic,
                         "--partitions", str(self.parallelism))
        gen = open(os.path.join(QDIR, "ddl_gen.sql"), encoding="utf-8").read()
        for k, v in {"TPS": RATE, "EVENTS_NUM": events, "PERSON_PROPORTION": 1, "AUCTION_PROPORTION": 3,
                     "BID_PROPORTION": 46}.items():
            gen = gen.replace("${" + k + "}", str(v))
        insert = open(os.path.join(QDIR, "insert_kafka.sql"), encoding="utf-8").read()
        path = os.path.join(os.path.dirname(self.broker.dir), f"fill-{topic}.sql")
        open(path, "w", encoding="utf-8").write(
            statement(gen) + statement(kafka_table(self.broker.bootstrap, topic)) + statement(insert))
        r = subprocess.run([self.riffle, "run", "--quiet", "-p", str(self.parallelism), "-D",
                            "table.local-time-zone=UTC", path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"riffle failed to fill topic {topic}:\n{r.stderr[-3000:]}")
        # `topic:partition:offset` per partition: the end offsets of a new topic sum to its records.
        ends = self.broker.tool("org.apache.kafka.tools.GetOffsetShell", "--topic", topic)
        n = sum(int(line.rsplit(":", 1)[1]) for line in ends.split() if line.startswith(topic + ":"))
        if n != events:
            raise SystemExit(f"topic {topic} holds {n} records after the fill, expected {events}")
        self.topics[events] = topic
        print(f"topic {topic}: {events:,} Nexmark events in {self.parallelism} partitions "
              f"({time.time() - t0:.1f} s to create and fill)", file=sys.stderr, flush=True)

    def script(self, q, events, sink):
        if events not in self.topics:
            raise SystemExit(f"kafka suite: no topic of {events} events was filled")
        self.groups += 1
        group = f"riffle-compare-{os.getpid()}-{self.groups}"
        return (statement(kafka_table(self.broker.bootstrap, self.topics[events], group))
                + nexmark_query(q, sink, "kafka"))

    def close(self):
        self.broker.stop()


def events_dir(riffle, events, parts):
    """A directory of `events` Nexmark events as Flink JSON, dealt round-robin into one file per
    subtask so that both engines read in parallel and every file stays in event-time order.
    Made once per (events, parts) under $RIFFLE_CACHE/bench."""
    final = os.path.join(CACHE, "bench", f"nexmark-{events}-{parts}")
    if os.path.isdir(final):
        return final
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    print(f"generating {events:,} Nexmark events into {final}", file=sys.stderr, flush=True)
    gen = os.path.join(tmp, "gen")
    subprocess.run([riffle, "gen", "nexmark", "--events", str(events), "--option", f"first-event.rate={RATE}",
                    "--out", gen], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outs = [open(os.path.join(tmp, f"part-{i}.json"), "w", encoding="utf-8") for i in range(parts)]
    n = 0
    for name in sorted(os.listdir(gen)):
        if name.startswith((".", "_")):
            continue
        with open(os.path.join(gen, name), encoding="utf-8") as f:
            for line in f:
                outs[n % parts].write(line)
                n += 1
    for o in outs:
        o.close()
    shutil.rmtree(gen)
    if n != events:
        raise SystemExit(f"riffle gen wrote {n} events, expected {events}")
    os.rename(tmp, final)
    return final


# ---------------------------------------------------------------------------------------------
# Engines


def riffle_bin():
    if os.environ.get("RIFFLE_BIN"):
        return os.environ["RIFFLE_BIN"]
    subprocess.run(["cargo", "build", "--release", "-p", "riffle-cli", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "riffle")


@functools.lru_cache(maxsize=None)
def flink_python():
    setup = os.path.join(ROOT, "tests", "differential", "setup_flink.sh")
    out = subprocess.run([setup], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def engines(rb, parallelism, names, flink_jars=()):
    out = {}
    if "riffle" in names:
        out["riffle"] = lambda f: [rb, "run", "--quiet", "-p", str(parallelism), "-D", "table.local-time-zone=UTC", f]
    if "flink" in names:
        py = flink_python()
        driver = os.path.join(ROOT, "bench", "flink_job.py")
        # The q14 UDF count_char, compiled by setup_flink.sh.
        jars = [os.path.join(CACHE, "nexmark-udf.jar"), *flink_jars]
        out["flink"] = lambda f: [py, driver, "-p", str(parallelism), *(a for j in jars for a in ("--jar", j)), f]
    return out


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
    it at its first result row, or (rss_limit, bytes) interrupts it with SIGINT once its
    process tree holds more than that: Riffle then cancels the job and reports the records its
    sources read so far (`stopped` holds the RSS it reached, `read` that count)."""

    def __init__(self, cmd, stop_at_first_row=False, keep_rows=False, rss_limit=None):
        self.t0 = time.time()
        self.rss_limit, self.stopped, self.read = rss_limit, None, None
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
        try:
            while True:
                self.take_sample()
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.05)
        except BaseException:
            # Ctrl-C or SIGTERM of the harness: no engine (nor Flink's JVM) outlives it.
            self.kill()
            raise
        self.wall = time.time() - self.t0
        self.proc.returncode = self.code = os.waitstatus_to_exitcode(status)
        self.root_cpu = usage.ru_utime + usage.ru_stime
        self.root_rss = usage.ru_maxrss * 1024
        out.join(), err.join()
        if self.stopped is not None:
            m = re.search(r"cancelled after [\d.]+ s: (\d+) records read", "".join(self.stderr))
            self.read = int(m.group(1)) if m else None

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
        if self.rss_limit and rss > self.rss_limit and self.stopped is None:
            self.stopped = rss
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except OSError:
                pass

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


def measure(command, suite, q, size, work, tag, rss_limit=None):
    def run(kind, n, sink, **kw):
        f = os.path.join(work, f"{suite.name}-{q}-{tag}-{kind}.sql")
        open(f, "w").write(suite.script(q, n, sink))
        r = Run(command(f), rss_limit=rss_limit, **kw)
        shutil.rmtree(os.path.join(WORK, "nexmark"), ignore_errors=True)
        if r.code != 0 and not kw.get("stop_at_first_row") and r.stopped is None:
            raise SystemExit(f"{tag} failed on {suite.name}/{q} ({kind}):\n{r.failure()}")
        return r

    timed = run("timed", size, "blackhole")
    if timed.stopped is not None:
        # Did not fit: what it reached is the result; no rate over a part of the input.
        return {"events": size, "did_not_fit": True, "wall_s": timed.wall, "cpu_s": timed.cpu_seconds,
                "peak_rss_mb": timed.rss / 1e6, "records_read": timed.read}
    first = run("probe", size, "print", stop_at_first_row=True).first_row
    empty = run("empty", 1, "blackhole")
    proc_wall = max(timed.wall - empty.wall, 1e-9)
    proc_cpu = max(timed.cpu_seconds - empty.cpu_seconds, 1e-9)
    return {
        "events": size, "wall_s": timed.wall, "cpu_s": timed.cpu_seconds, "peak_rss_mb": timed.rss / 1e6,
        "first_row_s": first, "startup_s": empty.wall, "startup_cpu_s": empty.cpu_seconds,
        "events_per_s_wall": size / timed.wall, "events_per_s_net": size / proc_wall,
        "events_per_cpu_s": size / max(timed.cpu_seconds, 1e-9), "events_per_proc_cpu_s": size / proc_cpu,
        "cores": timed.cpu_seconds / timed.wall,
    }


def quick(suites, queries, engs, sizes, work):
    ok = True
    print("| suite | query | riffle rows | flink rows | same |")
    print("| --- | --- | --- | --- | --- |")
    for s in suites:
        for q in queries[s.name]:
            counts = []
            for name in s.engine_names:
                f = os.path.join(work, f"{s.name}-{q}-{name}-print.sql")
                open(f, "w").write(s.script(q, sizes[s.name], "print"))
                r = Run(engs[s.name][name](f), keep_rows=True)
                if r.code != 0:
                    print(f"{name} failed on {s.name}/{q}:\n{r.failure()}", file=sys.stderr)
                    counts.append(None)
                else:
                    counts.append(r.folded_rows())
            shown = ["failed" if c is None else str(c) for c in counts]
            if len(counts) == 1 or q in UNCOUNTED:
                same = None not in counts
                cells = shown + ["–"] * (2 - len(counts)) + ["ran" if same else "FAILED"]
            else:
                same = None not in counts and len(set(counts)) == 1
                cells = shown + ["yes" if same else "NO"]
            ok &= same
            print(f"| {s.name} | {q} | {' | '.join(cells)} |", flush=True)
    return ok


def fmt(values, f):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f(values[0])
    return f"{f(statistics.median(values))} ({f(min(values))}–{f(max(values))})"


def millions(v):
    return f"{v / 1e6:.2f} M"


METRICS = [
    ("events/s (wall)", "events_per_s_wall", millions),
    ("events/s (net)", "events_per_s_net", millions),
    ("CPU s", "cpu_s", lambda v: f"{v:.1f}"),
    ("events per CPU-s", "events_per_cpu_s", millions),
    ("start-up CPU s", "startup_cpu_s", lambda v: f"{v:.2f}"),
    ("events per processing CPU-s", "events_per_proc_cpu_s", millions),
    ("peak RSS MB", "peak_rss_mb", lambda v: f"{v:,.0f}"),
    ("start-up s", "startup_s", lambda v: f"{v:.2f}"),
    ("first row s", "first_row_s", lambda v: f"{v:.2f}"),
]


def median(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


class Report:
    """Collects the tables as Markdown: printed as they are made, and kept for --update-docs."""

    def __init__(self):
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)


def did_not_fit(m):
    """What a run stopped at its memory limit reached, in words."""
    read = m.get("records_read")
    what = f"{read:,} records read by its sources" if read is not None else "records read unknown"
    return f"did not fit: stopped at {m['peak_rss_mb']:,.0f} MB RSS after {m['wall_s']:.0f} s, {what}"


def run_suite(suite, queries, engs, size, runs, par, report, rss_limit=None):
    report(f"### {suite.name}: {size:,} events per query, parallelism {par}, {runs} runs each"
           + (", alternating" if len(suite.engine_names) > 1 else "") + "\n")
    results = {(q, e): [] for q in queries for e in suite.engine_names}
    print("| query | engine | run | " + " | ".join(m[0] for m in METRICS) + " |")
    print("| --- " * (3 + len(METRICS)) + "|")
    for q in queries:
        for run in range(runs):
            for e in suite.engine_names:
                m = measure(engs[e], suite, q, size, WORK, e, rss_limit)
                results[(q, e)].append(m)
                if m.get("did_not_fit"):
                    print(f"| {q} | {e} | {run + 1} | {did_not_fit(m)} |", flush=True)
                    continue
                print(f"| {q} | {e} | {run + 1} | "
                      + " | ".join(f(m[k]) if m[k] is not None else "–" for _, k, f in METRICS) + " |",
                      flush=True)
    print()
    if suite.name == "generator":
        generator_table(results, queries, size, report)
        return results
    report("Medians (min–max):\n")
    report("| query | engine | " + " | ".join(m[0] for m in METRICS) + " |")
    report("| --- " * (2 + len(METRICS)) + "|")
    for q in queries:
        for e in suite.engine_names:
            rs = results[(q, e)]
            report(f"| {q} | {e} | " + " | ".join(fmt([r[k] for r in rs], f) for _, k, f in METRICS) + " |")
    report("\nRiffle/Flink (medians):\n")
    report("| query | events per CPU-s | events per processing CPU-s | peak RSS | start-up | first row |")
    report("| --- | --- | --- | --- | --- | --- |")
    for q in queries:
        r, f = results[(q, "riffle")], results[(q, "flink")]
        cpu = median(r, "events_per_cpu_s") / median(f, "events_per_cpu_s")
        proc = median(r, "events_per_proc_cpu_s") / median(f, "events_per_proc_cpu_s")
        rss = median(r, "peak_rss_mb") / median(f, "peak_rss_mb")
        st = f"{median(r, 'startup_s'):.2f} s vs {median(f, 'startup_s'):.2f} s"
        fr, ff = median(r, "first_row_s"), median(f, "first_row_s")
        first = f"{fr:.2f} s vs {ff:.2f} s" if fr is not None and ff is not None else "–"
        report(f"| {q} | {cpu:.1f}× | {proc:.1f}× | {rss:.3f}× | {st} | {first} |")
    report()
    return results


def published_flink():
    """Throughput/Cores of the published Flink table (results.md §1), by query."""
    path = os.path.join(QDIR, "..", "results.md")
    out = {}
    try:
        for m in re.finditer(r"^\|(q\d+)\s*\|[\d,]+\s*\|[\d.]+\s*\|[\d.]+\s*\|[\d.]+\s*\|([\d.]+ [KM]/s)",
                             open(path, encoding="utf-8").read(), re.M):
            out.setdefault(m.group(1), m.group(2))
    except OSError:
        pass
    return out


def generator_table(results, queries, events, report):
    published = published_flink()
    report("| Nexmark Query | Events Num | Cores | Time(s) | Cores * Time(s) | Throughput/Cores "
           "| peak RSS MB | published Flink Throughput/Cores |")
    report("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    total_tpc = 0.0
    for q in queries:
        rs = results[(q, "riffle")]
        if any(r.get("did_not_fit") for r in rs):
            stopped = next(r for r in rs if r.get("did_not_fit"))
            report(f"| {q} | {events:,} | – | – | – | {did_not_fit(stopped)} "
                   f"| {stopped['peak_rss_mb']:,.0f} | {published.get(q, '–')} |")
            continue
        tpc = median(rs, "events_per_cpu_s")
        total_tpc += tpc
        report(f"| {q} | {events:,} | {fmt([r['cores'] for r in rs], lambda v: f'{v:.2f}')} "
               f"| {fmt([r['wall_s'] for r in rs], lambda v: f'{v:.2f}')} "
               f"| {fmt([r['cpu_s'] for r in rs], lambda v: f'{v:.1f}')} "
               f"| {fmt([r['events_per_cpu_s'] for r in rs], millions)}/s "
               f"| {fmt([r['peak_rss_mb'] for r in rs], lambda v: f'{v:,.0f}')} | {published.get(q, '–')} |")
    fitted = [q for q in queries if not any(r.get("did_not_fit") for r in results[(q, "riffle")])]
    report(f"| Total | {events * len(fitted):,} | | | | {total_tpc / 1e6:.2f} M/s | | |")
    report()


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return (f"{os.cpu_count()} × {cpu}, {mem / 2**20:.0f} GiB, Linux {platform.release()}, "
            f"{java[0] if java else 'no java'}")


def commit():
    c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return c + (" (with uncommitted changes)" if dirty else "")


def update_docs(report, command, revision):
    text = open(DOCS, encoding="utf-8").read()
    block = "\n".join([BEGIN, "", f"Generated {datetime.datetime.now():%Y-%m-%d %H:%M} by", "",
                       f"    {command}", "",
                       f"Commit {revision}, release build. Machine: {machine()}.", ""]
                      + report.lines + [f"![events per CPU-second, Riffle vs Flink](img/{os.path.basename(CHART)})",
                                        "", END])
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    open(DOCS, "w", encoding="utf-8").write(text)
    print(f"\nupdated {os.path.relpath(DOCS, ROOT)}")


WORK = None


def check_nexmark_texts(suites, only):
    """Stops, before anything is built or started, if a Nexmark text the selected suites and
    queries read (`ddl_views.sql`, `qN.sql`) is not in QDIR."""
    lists = {"nexmark": NEXMARK_BOTH, "generator": NEXMARK_GEN, "kafka": KAFKA_QUERIES}
    queries = [q for s in suites for q in lists.get(s, []) if not only or q in only]
    if not queries:
        return
    files = ["ddl_views.sql"] + [f"{q}.sql" for q in dict.fromkeys(queries) if q != "source"]
    if "kafka" in suites:
        files += KAFKA_TEXTS
    for f in files:
        if not os.path.isfile(os.path.join(QDIR, f)):
            problem = f"has no {f}" if os.path.isdir(QDIR) else f"does not exist (looked for {f})"
            print(f"compare.py: the Nexmark query directory {QDIR} {problem}; set NEXMARK_QUERIES_DIR "
                  "to the directory holding ddl_views.sql and q0.sql ... q23.sql (and for the kafka "
                  "suite ddl_gen.sql, ddl_kafka.sql and insert_kafka.sql)", file=sys.stderr)
            sys.exit(2)


def main():
    global WORK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queries", nargs="*", help="only these queries (names from the selected suites)")
    ap.add_argument("--suite", choices=["micro", "nexmark", "generator", "kafka", "all"], default="all",
                    help="all: micro, nexmark and generator (kafka only when named)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="runs per query and engine (default 3)")
    ap.add_argument("--gen-runs", type=int, default=1, help="runs per query of the generator suite (default 1)")
    ap.add_argument("-p", "--parallelism", type=int, default=2)
    ap.add_argument("--rows", type=int, help="micro suite rows (default 20 M; quick 50 k)")
    ap.add_argument("--events", type=int, help="nexmark and kafka suite events (default 5 M; quick 20 k)")
    ap.add_argument("--gen-events", type=int, help="generator suite events (default 100 M; quick 20 k)")
    ap.add_argument("--gen-rss-limit-mb", type=float, default=16000,
                    help="generator suite: a query whose processes hold more than this is stopped "
                         "(SIGINT) and reported as not fitting, with what it reached (default 16000)")
    ap.add_argument("--json", help="write every run's numbers here")
    ap.add_argument("--chart", help="draw events per CPU-second per query into this PNG")
    ap.add_argument("--update-docs", action="store_true",
                    help=f"write the chart to {CHART} and the tables into docs/benchmarks.md")
    a = ap.parse_args()
    names = ["micro", "nexmark", "generator"] if a.suite == "all" else [a.suite]
    check_nexmark_texts(names, a.queries)
    command = "bench/compare.py " + " ".join(sys.argv[1:])
    revision = commit()  # before the run writes the chart and the document

    rb = riffle_bin()
    all_suites = {"micro": Micro, "nexmark": lambda: NexmarkFile(rb, a.parallelism),
                  "generator": NexmarkGenerator, "kafka": lambda: NexmarkKafka(rb, a.parallelism)}
    suites = [all_suites[n]() for n in names]
    known = {q for s in suites for q in s.queries}
    unknown = [q for q in a.queries if q not in known]
    if unknown:
        ap.error(f"unknown query {', '.join(unknown)}; the selected suites have: {', '.join(sorted(known))}")
    queries = {s.name: [q for q in s.queries if not a.queries or q in a.queries] for s in suites}
    suites = [s for s in suites if queries[s.name]]
    engs = {s.name: engines(rb, a.parallelism, s.engine_names, s.flink_jars) for s in suites}
    explicit = {"micro": a.rows, "nexmark": a.events, "generator": a.gen_events, "kafka": a.events}
    sizes = {s.name: explicit[s.name] or (s.quick_size if a.quick else s.default_size) for s in suites}
    WORK = tempfile.mkdtemp(prefix="riffle-compare-")
    # SIGTERM (and SIGHUP) end the harness as Ctrl-C does: through the `finally` below, which
    # stops what the suites started (the kafka suite's broker).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _: sys.exit(128 + n))
    try:
        for s in suites:
            s.prepare(WORK, sizes[s.name], a.quick)
        if a.quick:
            print(f"## quick check: parallelism {a.parallelism}, "
                  + ", ".join(f"{s.name} {sizes[s.name]:,} events" for s in suites) + "\n")
            sys.exit(0 if quick(suites, queries, engs, sizes, WORK) else 1)
        report = Report()
        data = {"title": f"events per processing CPU-second (start-up CPU excluded), parallelism "
                         f"{a.parallelism}, {a.runs} runs each, {datetime.date.today()}",
                "metric": "events_per_proc_cpu_s", "queries": [], "engines": ["riffle", "flink"], "results": {}}
        for s in suites:
            runs = a.gen_runs if s.name == "generator" else a.runs
            limit = a.gen_rss_limit_mb * 1e6 if s.name == "generator" else None
            results = run_suite(s, queries[s.name], engs[s.name], sizes[s.name], runs, a.parallelism, report, limit)
            for q in queries[s.name]:
                label = q if s.name == "micro" else f"{s.name}/{q}"
                data["results"].setdefault(label, {})
                for e in s.engine_names:
                    data["results"][label][e] = results[(q, e)]
                if len(s.engine_names) > 1:
                    data["queries"].append(label)
        chart = os.path.join(ROOT, CHART) if a.update_docs else a.chart
        if a.json:
            json.dump(data, open(a.json, "w"), indent=1)
        if chart and data["queries"]:
            path = os.path.join(WORK, "results.json")
            json.dump(data, open(path, "w"))
            subprocess.run([chart_python(), os.path.join(ROOT, "bench", "chart.py"), path, chart], check=True)
            print(f"\nchart: {chart}")
        if a.update_docs:
            update_docs(report, command, revision)
    finally:
        for s in suites:
            s.close()
        shutil.rmtree(WORK, ignore_errors=True)


def chart_python():
    venv = os.path.join(CACHE, "bench-venv")
    py = os.path.join(venv, "bin", "python")
    if subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode if os.path.exists(py) else True:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--progress-bar", "off", "matplotlib"], check=True)
    return py


if __name__ == "__main__":
    main()
