//! The Kafka connector against a real Apache Kafka broker (KRaft, started
//! on 127.0.0.1 by `tests/kafka/broker.sh`, which fetches it from Maven
//! Central once; `RIFFLE_KAFKA_BOOTSTRAP` points the tests at another
//! Kafka instead). The real `riffle` binary runs the jobs; the test writes
//! and reads the topics with its own client.
//!
//! One broker serves all scenarios of this file: they run in sequence in
//! one test, each on its own topics, and the broker stops when the test
//! ends, whether it passed or not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// A broker for this test binary; stopped on drop.
struct Broker {
    dir: Option<tempfile::TempDir>,
    bootstrap: String,
}

fn broker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/kafka/broker.sh")
}

impl Broker {
    fn start() -> Broker {
        if let Ok(b) = std::env::var("RIFFLE_KAFKA_BOOTSTRAP") {
            return Broker {
                dir: None,
                bootstrap: b,
            };
        }
        let fetch = Command::new(broker_script()).arg("fetch").output().unwrap();
        assert!(
            fetch.status.success(),
            "tests/kafka/broker.sh fetch failed:\n{}",
            String::from_utf8_lossy(&fetch.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new(broker_script())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "the Kafka broker did not start:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let bootstrap = String::from_utf8_lossy(&o.stdout).trim().to_string();
        Broker {
            dir: Some(dir),
            bootstrap,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new(broker_script())
                .arg("stop")
                .arg(dir.path())
                .output();
        }
    }
}

/// Drives a future to completion on this thread (the admin client's
/// futures are completed by the client's own threads).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

fn admin(b: &Broker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .unwrap()
}

fn create_topic(b: &Broker, name: &str, partitions: i32) {
    let r = block_on(admin(b).create_topics(
        &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))
    .unwrap();
    for t in r {
        t.unwrap();
    }
}

fn add_partitions(b: &Broker, name: &str, total: usize) {
    let r = block_on(
        admin(b).create_partitions(&[NewPartitions::new(name, total)], &AdminOptions::new()),
    )
    .unwrap();
    for t in r {
        t.unwrap();
    }
}

/// Writes `(partition, timestamp ms, value)` records and waits for them.
fn produce(b: &Broker, topic: &str, records: &[(i32, i64, String)]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .unwrap();
    for (partition, ts, value) in records {
        p.send(
            BaseRecord::<(), str>::to(topic)
                .partition(*partition)
                .timestamp(*ts)
                .payload(value.as_str()),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

/// Every record of `topic` as (partition, value), read to the end.
fn consume_all(b: &Broker, topic: &str, partitions: i32) -> Vec<(i32, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", "riffle-test-reader")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut ended = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ended < partitions && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// Commits `offsets` (partition → offset) for `group` on `topic`.
fn commit(b: &Broker, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
}

fn riffle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("riffle runs")
}

/// Runs `sql` (with `{out}` replaced by an output directory) at
/// parallelism 2; returns the JSON rows written there, or the error.
fn run(sql: &str) -> Result<Vec<serde_json::Value>, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = dir.path().join("job.sql");
    std::fs::write(&file, sql.replace("{out}", &out.to_string_lossy())).unwrap();
    let o = riffle(&["run", "--quiet", "-p", "2", &file.to_string_lossy()]);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let mut rows = Vec::new();
    if out.exists() {
        for e in std::fs::read_dir(&out).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            rows.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        }
    }
    Ok(rows)
}

/// The `id`s of `rows`, sorted.
fn ids(rows: &[serde_json::Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

/// A source table over `topic` with `options` and a sink into `{out}`.
fn read_job(b: &Broker, topic: &str, options: &str) -> String {
    format!(
        "CREATE TABLE src (id BIGINT, name STRING) WITH (
            'connector' = 'kafka', 'topic' = '{topic}',
            'properties.bootstrap.servers' = '{}', 'format' = 'json'{options});
         CREATE TABLE out (id BIGINT, name STRING) WITH (
            'connector' = 'filesystem', 'path' = '{{out}}', 'format' = 'json');
         INSERT INTO out SELECT id, name FROM src;",
        b.bootstrap
    )
}

const BASE_TS: i64 = 1_700_000_000_000;

/// 30 records on 3 partitions: id i on partition i % 3 at BASE_TS + i s,
/// so partition p holds ids p, p + 3, ... at offsets 0, 1, ...
fn thirty(b: &Broker, topic: &str) {
    create_topic(b, topic, 3);
    let records: Vec<(i32, i64, String)> = (0..30)
        .map(|i| {
            (
                (i % 3) as i32,
                BASE_TS + i * 1000,
                format!(r#"{{"id": {i}, "name": "n{i}"}}"#),
            )
        })
        .collect();
    produce(b, topic, &records);
}

fn startup_and_bounded_modes(b: &Broker) {
    thirty(b, "modes");
    let bounded = ", 'scan.bounded.mode' = 'latest-offset'";
    let all: Vec<i64> = (0..30).collect();

    let rows = run(&read_job(
        b,
        "modes",
        &format!(", 'scan.startup.mode' = 'earliest-offset'{bounded}"),
    ))
    .unwrap();
    assert_eq!(ids(&rows), all, "earliest-offset to latest-offset");
    assert!(rows.iter().any(|r| r["name"] == "n7"));

    // Offset 5 of each partition holds ids 15, 16, 17.
    let rows = run(&read_job(
        b,
        "modes",
        &format!(
            ", 'scan.startup.mode' = 'specific-offsets', \
             'scan.startup.specific-offsets' = 'partition:0,offset:5;partition:1,offset:5;partition:2,offset:5'{bounded}"
        ),
    ))
    .unwrap();
    assert_eq!(ids(&rows), (15..30).collect::<Vec<_>>(), "specific-offsets");

    let rows = run(&read_job(
        b,
        "modes",
        &format!(
            ", 'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{}'{bounded}",
            BASE_TS + 20_000
        ),
    ))
    .unwrap();
    assert_eq!(ids(&rows), (20..30).collect::<Vec<_>>(), "timestamp");

    let rows = run(&read_job(
        b,
        "modes",
        &format!(", 'scan.startup.mode' = 'latest-offset'{bounded}"),
    ))
    .unwrap();
    assert_eq!(
        ids(&rows),
        Vec::<i64>::new(),
        "latest-offset to latest-offset"
    );

    // Group offsets: none committed is an error naming the remedy ...
    let e = run(&read_job(
        b,
        "modes",
        &format!(", 'properties.group.id' = 'g1'{bounded}"),
    ))
    .unwrap_err();
    assert!(e.contains("has no committed offset"), "{e}");
    assert!(e.contains("properties.auto.offset.reset"), "{e}");
    // ... unless the reset says where to start, and committed ones are used.
    let rows = run(&read_job(
        b,
        "modes",
        &format!(
            ", 'properties.group.id' = 'g1', 'properties.auto.offset.reset' = 'earliest'{bounded}"
        ),
    ))
    .unwrap();
    assert_eq!(ids(&rows), all, "group offsets with reset earliest");
    commit(b, "g2", "modes", &[(0, 8), (1, 8), (2, 9)]);
    let rows = run(&read_job(
        b,
        "modes",
        &format!(", 'properties.group.id' = 'g2'{bounded}"),
    ))
    .unwrap();
    assert_eq!(ids(&rows), vec![24, 25, 27, 28, 29], "group offsets");

    // Bounded by time and by given offsets.
    let rows = run(&read_job(
        b,
        "modes",
        &format!(
            ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'timestamp', \
             'scan.bounded.timestamp-millis' = '{}'",
            BASE_TS + 6_000
        ),
    ))
    .unwrap();
    assert_eq!(
        ids(&rows),
        (0..6).collect::<Vec<_>>(),
        "bounded by timestamp"
    );
    let rows = run(&read_job(
        b,
        "modes",
        ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'specific-offsets', \
         'scan.bounded.specific-offsets' = 'partition:0,offset:1;partition:1,offset:2;partition:2,offset:0'",
    ))
    .unwrap();
    assert_eq!(ids(&rows), vec![0, 1, 4], "bounded by specific offsets");
}

fn sink_partitioners_and_formats(b: &Broker) {
    create_topic(b, "rr", 3);
    let generator = "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '60',
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60');";
    let sql = format!(
        "{generator}
         CREATE TABLE k (id BIGINT, name STRING) WITH (
            'connector' = 'kafka', 'topic' = 'rr', 'properties.bootstrap.servers' = '{}',
            'format' = 'csv', 'sink.partitioner' = 'round-robin');
         INSERT INTO k SELECT id, CONCAT('n', CAST(id AS STRING)) FROM gen;",
        b.bootstrap
    );
    run(&sql).unwrap();
    let records = consume_all(b, "rr", 3);
    assert_eq!(records.len(), 60);
    let mut per_partition = BTreeMap::new();
    for (p, _) in &records {
        *per_partition.entry(*p).or_insert(0) += 1;
    }
    assert_eq!(per_partition, BTreeMap::from([(0, 20), (1, 20), (2, 20)]));
    let mut values: Vec<String> = records.into_iter().map(|(_, v)| v).collect();
    values.sort();
    assert!(values.contains(&"7,n7".to_string()), "{values:?}");

    // The same topic read back as CSV.
    let rows = run(&format!(
        "CREATE TABLE k (id BIGINT, name STRING) WITH (
            'connector' = 'kafka', 'topic' = 'rr', 'properties.bootstrap.servers' = '{}',
            'format' = 'csv', 'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE out (id BIGINT, name STRING) WITH (
            'connector' = 'filesystem', 'path' = '{{out}}', 'format' = 'json');
         INSERT INTO out SELECT * FROM k;",
        b.bootstrap
    ))
    .unwrap();
    assert_eq!(ids(&rows), (1..=60).collect::<Vec<_>>());

    // Fixed: each sink subtask writes one partition.
    create_topic(b, "fixed", 3);
    run(&format!(
        "{generator}
         CREATE TABLE k (id BIGINT) WITH (
            'connector' = 'kafka', 'topic' = 'fixed', 'properties.bootstrap.servers' = '{}',
            'format' = 'json', 'sink.partitioner' = 'fixed');
         INSERT INTO k SELECT id FROM gen;",
        b.bootstrap
    ))
    .unwrap();
    let records = consume_all(b, "fixed", 3);
    assert_eq!(records.len(), 60);
    assert!(
        records.iter().all(|(p, _)| *p < 2),
        "two subtasks, two partitions"
    );

    // Raw: the value as one STRING column, both ways.
    create_topic(b, "raw", 1);
    produce(
        b,
        "raw",
        &[
            (0, BASE_TS, "plain text, not JSON".into()),
            (0, BASE_TS, "{\"a\": 1}".into()),
        ],
    );
    let rows = run(&format!(
        "CREATE TABLE r (line STRING) WITH (
            'connector' = 'kafka', 'topic' = 'raw', 'properties.bootstrap.servers' = '{}',
            'format' = 'raw', 'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE out (line STRING) WITH (
            'connector' = 'filesystem', 'path' = '{{out}}', 'format' = 'json');
         INSERT INTO out SELECT line FROM r;",
        b.bootstrap
    ))
    .unwrap();
    let mut lines: Vec<&str> = rows.iter().map(|r| r["line"].as_str().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, vec!["plain text, not JSON", "{\"a\": 1}"]);
}

fn bad_records_and_options(b: &Broker) {
    create_topic(b, "bad", 1);
    produce(
        b,
        "bad",
        &[
            (0, BASE_TS, r#"{"id": 1, "name": "a"}"#.into()),
            (0, BASE_TS, "not json".into()),
            (0, BASE_TS, r#"{"id": 3, "name": "c"}"#.into()),
        ],
    );
    let bounded =
        ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'";
    let e = run(&read_job(b, "bad", bounded)).unwrap_err();
    assert!(e.contains("json.ignore-parse-errors"), "{e}");
    let rows = run(&read_job(
        b,
        "bad",
        &format!("{bounded}, 'json.ignore-parse-errors' = 'true'"),
    ))
    .unwrap();
    assert_eq!(ids(&rows), vec![1, 3]);

    let e = run(&read_job(
        b,
        "bad",
        ", 'scan.startup.mod' = 'earliest-offset'",
    ))
    .unwrap_err();
    assert!(e.contains("unsupported option 'scan.startup.mod'"), "{e}");
    let e = run(&read_job(b, "no-such-topic", bounded)).unwrap_err();
    assert!(e.contains("topic 'no-such-topic' does not exist"), "{e}");
    let e = run(&read_job(
        b,
        "bad",
        &format!("{bounded}, 'properties.no.such.property' = '1'"),
    ))
    .unwrap_err();
    assert!(e.contains("no.such.property"), "{e}");
}

/// An unbounded `riffle run` of a SQL text whose `print` output is read
/// line by line; killed when dropped.
struct PrintingJob {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl PrintingJob {
    fn start(sql: &str, parallelism: &str) -> PrintingJob {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.sql");
        std::fs::write(&file, sql).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .args(["run", "--quiet", "-p", parallelism, &file.to_string_lossy()])
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        PrintingJob {
            child,
            lines,
            _dir: dir,
        }
    }
}

impl Drop for PrintingJob {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sql` unbounded with a `print` sink; returns the `+I` lines printed
/// within `wait` after the first one (or after 60 s without one).
fn printed_while_running(sql: &str, wait: Duration) -> Vec<String> {
    let job = PrintingJob::start(sql, "1");
    let mut lines = Vec::new();
    let mut until = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < until {
        if let Ok(line) = job.lines.recv_timeout(Duration::from_millis(100))
            && line.contains("+I[")
        {
            if lines.is_empty() {
                until = std::time::Instant::now() + wait;
            }
            lines.push(line);
        }
    }
    lines
}

/// Per-partition watermarks: the partition behind holds the watermark of
/// the subtask reading both, and an idle partition stops holding it after
/// `table.exec.source.idle-timeout`.
fn per_partition_watermarks(b: &Broker) {
    let windows = |topic: &str, set: &str| {
        format!(
            "{set}
             CREATE TABLE src (id BIGINT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
                WATERMARK FOR ts AS ts)
             WITH ('connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{}',
                'format' = 'json', 'scan.startup.mode' = 'earliest-offset');
             CREATE TABLE out (s TIMESTAMP(3), c BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT window_start, COUNT(*)
             FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
             GROUP BY window_start, window_end;",
            b.bootstrap
        )
    };
    // Partition 0 runs to 4.5 s, partition 1 stops at 1.5 s: only [0 s, 1 s) may fire.
    create_topic(b, "wm", 2);
    let mut records: Vec<(i32, i64, String)> = (0..10)
        .map(|i| (0, BASE_TS + i * 500, format!(r#"{{"id": {i}}}"#)))
        .collect();
    records.push((1, BASE_TS + 1500, r#"{"id": 100}"#.to_string()));
    produce(b, "wm", &records);
    let lines = printed_while_running(&windows("wm", ""), Duration::from_secs(4));
    assert_eq!(
        lines.len(),
        1,
        "one window is complete in both partitions: {lines:?}"
    );
    assert!(lines[0].ends_with(", 2]"), "{lines:?}");

    // A partition without records holds everything back until it is idle.
    create_topic(b, "wm-idle", 2);
    produce(b, "wm-idle", &records[..10]);
    let lines = printed_while_running(
        &windows(
            "wm-idle",
            "SET 'table.exec.source.idle-timeout' = '500 ms';",
        ),
        Duration::from_secs(3),
    );
    assert_eq!(
        lines.len(),
        4,
        "windows up to 4.5 s fire once partition 1 is idle: {lines:?}"
    );
}

/// An unbounded job finds partitions added while it runs (discovery every
/// second) and reads them from their beginning.
fn partition_discovery(b: &Broker) {
    create_topic(b, "grow", 1);
    produce(
        b,
        "grow",
        &[(0, BASE_TS, r#"{"id": 1, "name": "a"}"#.into())],
    );
    let sql = format!(
        "CREATE TABLE src (id BIGINT, name STRING) WITH (
            'connector' = 'kafka', 'topic' = 'grow', 'properties.bootstrap.servers' = '{}',
            'format' = 'json', 'scan.startup.mode' = 'earliest-offset',
            'scan.topic-partition-discovery.interval' = '1 s');
         CREATE TABLE out (id BIGINT, name STRING) WITH ('connector' = 'print');
         INSERT INTO out SELECT id, name FROM src;",
        b.bootstrap
    );
    let job = PrintingJob::start(&sql, "2");
    let mut seen = String::new();
    let mut wait_for = |needles: &[&str]| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if needles.iter().all(|n| seen.contains(n)) {
                return true;
            }
            if let Ok(line) = job.lines.recv_timeout(Duration::from_millis(200)) {
                seen.push_str(&line);
                seen.push('\n');
            }
        }
        false
    };
    let first = wait_for(&["+I[1, a]"]);
    // Two partitions more; records on both, written before the job sees them.
    add_partitions(b, "grow", 3);
    produce(
        b,
        "grow",
        &[
            (1, BASE_TS, r#"{"id": 2, "name": "b"}"#.into()),
            (2, BASE_TS, r#"{"id": 3, "name": "c"}"#.into()),
        ],
    );
    let second = wait_for(&["+I[2, b]", "+I[3, c]"]);
    assert!(first, "the first record was not printed: {seen}");
    assert!(second, "records of added partitions were not read: {seen}");
}

/// Metadata columns: read (topic, partition, offset, timestamp and its
/// type, headers) and written (timestamp, headers); a key the connector
/// does not have is named with the ones it has.
fn metadata_columns(b: &Broker) {
    create_topic(b, "meta-in", 2);
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .unwrap();
    for i in 0..4i64 {
        p.send(
            BaseRecord::<(), str>::to("meta-in")
                .partition((i % 2) as i32)
                .timestamp(BASE_TS + i)
                .payload(&format!(r#"{{"id": {i}}}"#))
                .headers(OwnedHeaders::new().insert(Header {
                    key: "h",
                    value: Some(format!("v{i}").as_bytes()),
                })),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    create_topic(b, "meta-out", 1);
    let rows = run(&format!(
        "CREATE TABLE src (
            id BIGINT,
            t STRING METADATA FROM 'topic' VIRTUAL,
            p INT METADATA FROM 'partition' VIRTUAL,
            `offset` BIGINT METADATA VIRTUAL,
            ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
            tt STRING METADATA FROM 'timestamp-type' VIRTUAL,
            hs MAP<STRING, BYTES> METADATA FROM 'headers'
         ) WITH ('connector' = 'kafka', 'topic' = 'meta-in', 'properties.bootstrap.servers' = '{bs}',
            'format' = 'json', 'scan.startup.mode' = 'earliest-offset',
            'scan.bounded.mode' = 'latest-offset');
         CREATE TABLE snk (
            id BIGINT,
            ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
            hs MAP<STRING, BYTES> METADATA FROM 'headers'
         ) WITH ('connector' = 'kafka', 'topic' = 'meta-out', 'properties.bootstrap.servers' = '{bs}',
            'format' = 'json');
         CREATE TABLE out (id BIGINT, t STRING, p INT, o BIGINT, tt STRING, h STRING) WITH (
            'connector' = 'filesystem', 'path' = '{{out}}', 'format' = 'json');
         INSERT INTO out SELECT id, t, p, `offset`, tt, CAST(hs['h'] AS STRING) FROM src;
         INSERT INTO snk SELECT id * 10, ts + INTERVAL '1' SECOND, hs FROM src;",
        bs = b.bootstrap
    ))
    .unwrap();
    let mut rows: Vec<(i64, String, i64, i64, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["t"].as_str().unwrap().to_string(),
                r["p"].as_i64().unwrap(),
                r["o"].as_i64().unwrap(),
                r["tt"].as_str().unwrap().to_string(),
                r["h"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        (0..4i64)
            .map(|i| (
                i,
                "meta-in".to_string(),
                i % 2,
                i / 2,
                "CreateTime".to_string(),
                format!("v{i}")
            ))
            .collect::<Vec<_>>()
    );
    // Written back with a timestamp a second later and the same headers.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", "meta-reader")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("meta-out", 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut got = Vec::new();
    loop {
        match c.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                let h = m.headers().unwrap();
                let header = h.iter().find(|x| x.key == "h").unwrap();
                got.push((
                    String::from_utf8_lossy(m.payload().unwrap()).into_owned(),
                    m.timestamp().to_millis().unwrap(),
                    String::from_utf8_lossy(header.value.unwrap()).into_owned(),
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => break,
            Some(Err(e)) => panic!("{e}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        (0..4i64)
            .map(|i| (
                format!(r#"{{"id":{}}}"#, i * 10),
                BASE_TS + i + 1000,
                format!("v{i}")
            ))
            .collect::<Vec<_>>()
    );
    let e = run(&format!(
        "CREATE TABLE src (id BIGINT, x INT METADATA FROM 'leader' VIRTUAL)
         WITH ('connector' = 'kafka', 'topic' = 'meta-in', 'properties.bootstrap.servers' = '{}',
            'format' = 'json', 'scan.startup.mode' = 'earliest-offset');
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO out SELECT id FROM src;",
        b.bootstrap
    ))
    .unwrap_err();
    assert!(
        e.contains("invalid metadata key 'leader'") && e.contains("'timestamp-type'"),
        "{e}"
    );
}

/// The committed JSON rows (visible `part-*` files) under `dir`.
fn committed_ids(dir: &Path) -> Vec<i64> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for e in entries {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            ids.extend(text.lines().map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_i64()
                    .unwrap()
            }));
        }
    }
    ids.sort_unstable();
    ids
}

/// Waits until `dir` holds `n` committed rows (or 90 s); returns them.
fn wait_committed(dir: &Path, n: usize) -> Vec<i64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ids = committed_ids(dir);
        if ids.len() >= n || std::time::Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A job on a cluster reads a topic with checkpoints (offsets committed to
/// its group when they complete), stops with a savepoint, and resumes from
/// it at another parallelism: every record written before and after is
/// read exactly once.
fn savepoint_and_rescaled_restore(b: &Broker) {
    let records = |from: i64, to: i64| -> Vec<(i32, i64, String)> {
        (from..to)
            .map(|i| {
                (
                    (i % 4) as i32,
                    BASE_TS + i,
                    format!(r#"{{"id": {i}, "name": "n{i}"}}"#),
                )
            })
            .collect()
    };
    create_topic(b, "ck", 4);
    produce(b, "ck", &records(0, 2000));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let ck = dir.path().join("ck");
    let sp = dir.path().join("sp");
    let file = dir.path().join("job.sql");
    std::fs::write(
        &file,
        read_job(
            b,
            "ck",
            ", 'scan.startup.mode' = 'earliest-offset', 'properties.group.id' = 'ck-group'",
        )
        .replace("{out}", &out.to_string_lossy()),
    )
    .unwrap();
    let cluster = common::Cluster::start_with(
        2,
        &format!(
            "execution.checkpointing.interval: 500 ms\nexecution.checkpointing.dir: file://{}\n\
             taskmanager.numberOfTaskSlots: 2\n",
            ck.display()
        ),
    );
    let id = cluster.submit_with(&file.to_string_lossy(), &["-p", "2"]);
    let first = wait_committed(&out, 2000);
    assert_eq!(first, (0..2000).collect::<Vec<_>>(), "the first run's rows");
    // The group's offsets follow the completed checkpoints.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", "ck-group")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition("ck", p);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut total = 0;
    while std::time::Instant::now() < deadline {
        let committed = c
            .committed_offsets(tpl.clone(), Duration::from_secs(10))
            .unwrap();
        total = committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum::<i64>();
        if total == 2000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(total, 2000, "offsets committed to the group");

    let savepoint = common::stop_with_savepoint(&cluster, &id, &sp);
    produce(b, "ck", &records(2000, 3000));
    let o = riffle(&[
        "run",
        "-m",
        &cluster.rest,
        "-d",
        "-p",
        "3",
        "-s",
        &savepoint,
        &file.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = wait_committed(&out, 3000);
    std::thread::sleep(Duration::from_secs(2));
    let all_later = committed_ids(&out);
    assert_eq!(all.len(), 3000, "rows after the restore");
    assert_eq!(
        all_later,
        (0..3000).collect::<Vec<_>>(),
        "each record exactly once"
    );
}

#[test]
fn kafka_tables_against_a_real_broker() {
    let broker = Broker::start();
    startup_and_bounded_modes(&broker);
    sink_partitioners_and_formats(&broker);
    bad_records_and_options(&broker);
    metadata_columns(&broker);
    per_partition_watermarks(&broker);
    partition_discovery(&broker);
    savepoint_and_rescaled_restore(&broker);
}
