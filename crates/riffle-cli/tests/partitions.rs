//! Nexmark q10 on the real binary: the partitioned filesystem sink with
//! partition commit. The query text is q10's own (only its path
//! placeholders are filled in); it runs without and with checkpoints, and
//! both runs must give the partition directories, a `_SUCCESS` file in each,
//! and exactly the rows of the same query written to an unpartitioned sink.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bounded Nexmark source, defined like the tables of
/// `examples/nexmark_q2.sql`. 1,000 events per second of event time (as
/// fast as possible on the wall clock) spread 200,000 events over several
/// minutes, so q10 writes several `hm` partitions.
const SOURCE: &str = "CREATE TABLE datagen (
    event_type int,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    `dateTime` AS
        CASE
            WHEN event_type = 0 THEN person.`dateTime`
            WHEN event_type = 1 THEN auction.`dateTime`
            ELSE bid.`dateTime`
        END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '1000',
    'max-emit-speed' = 'true',
    'events.num' = '200000'
);

CREATE VIEW bid AS
SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra
FROM datagen WHERE event_type = 2;
";

/// Nexmark's q10, verbatim.
const Q10: &str = "CREATE TABLE nexmark_q10 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR,
  dt STRING,
  hm STRING
) PARTITIONED BY (dt, hm) WITH (
  'connector' = 'filesystem',
  'path' = 'file://${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/',
  'format' = 'csv',
  'sink.partition-commit.trigger' = 'partition-time',
  'sink.partition-commit.delay' = '1 min',
  'sink.partition-commit.policy.kind' = 'success-file',
  'partition.time-extractor.timestamp-pattern' = '$dt $hm:00',
  'sink.rolling-policy.rollover-interval' = '1min',
  'sink.rolling-policy.check-interval' = '1min'
);

INSERT INTO nexmark_q10
SELECT auction, bidder, price, `dateTime`, extra, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd'), DATE_FORMAT(`dateTime`, 'HH:mm')
FROM bid;
";

/// Runs `sql` embedded at parallelism 2 with extra `-D` settings.
fn run(dir: &Path, name: &str, sql: &str, settings: &[String]) {
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, sql).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riffle"));
    cmd.args(["run", "--quiet", "-p", "2"]);
    for s in settings {
        cmd.args(["-D", s]);
    }
    let o = cmd
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .expect("riffle runs");
    assert!(
        o.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs q10 with its output under `<dir>/data/output/<submit_time>/bid`,
/// which it returns.
fn run_q10(dir: &Path, submit_time: &str, settings: &[String]) -> PathBuf {
    let q10 = Q10
        .replace("${NEXMARK_DIR}", dir.to_str().unwrap())
        .replace("${SUBMIT_TIME}", submit_time);
    run(dir, submit_time, &format!("{SOURCE}\n{q10}"), settings);
    dir.join("data/output").join(submit_time).join("bid")
}

/// Lines of the files in `dir` whose names start with `part-`.
fn part_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a hidden file is left: {name}");
        if name.starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            rows.extend(text.lines().map(str::to_string));
        }
    }
    rows
}

/// What a partitioned run left: per partition directory (`dt=…/hm=…`) its
/// rows, sorted; checks every partition has its (empty) success file and
/// every row is in the partition of its `dateTime`.
fn partitions(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for dt in std::fs::read_dir(root).unwrap() {
        let dt = dt.unwrap();
        let dt_name = dt.file_name().to_string_lossy().into_owned();
        let day = dt_name.strip_prefix("dt=").expect("a dt=... directory");
        for hm in std::fs::read_dir(dt.path()).unwrap() {
            let hm = hm.unwrap();
            let hm_name = hm.file_name().to_string_lossy().into_owned();
            // ':' is escaped in partition paths, as Flink does.
            let minute = hm_name
                .strip_prefix("hm=")
                .expect("an hm=... directory")
                .replace("%3A", ":");
            let success = hm.path().join("_SUCCESS");
            assert!(success.is_file(), "{dt_name}/{hm_name} has no _SUCCESS");
            assert_eq!(std::fs::metadata(&success).unwrap().len(), 0);
            let mut rows = part_rows(&hm.path());
            for row in &rows {
                // auction, bidder, price, dateTime, extra: no dt, hm columns.
                let time = row.split(',').nth(3).unwrap();
                assert!(
                    time.starts_with(&format!("{day} {minute}:")),
                    "row in {dt_name}/{hm_name}: {row}"
                );
            }
            rows.sort();
            out.push((format!("{dt_name}/{hm_name}"), rows));
        }
    }
    out.sort();
    out
}

fn all_rows(partitions: &[(String, Vec<String>)]) -> Vec<String> {
    let mut rows: Vec<String> = partitions
        .iter()
        .flat_map(|(_, r)| r.iter().cloned())
        .collect();
    rows.sort();
    rows
}

#[test]
fn nexmark_q10_writes_committed_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // The same query into one unpartitioned csv table, dt and hm left out.
    let plain = dir.join("plain");
    run(
        dir,
        "plain",
        &format!(
            "{SOURCE}
            CREATE TABLE plain (auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra VARCHAR)
            WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
            INSERT INTO plain SELECT auction, bidder, price, `dateTime`, extra FROM bid;",
            plain.display()
        ),
        &[],
    );
    let mut expected = part_rows(&plain);
    expected.sort();
    assert!(expected.len() > 100_000, "{} rows", expected.len());

    let batch = partitions(&run_q10(dir, "batch", &[]));
    let names: Vec<&str> = batch.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "dt=2015-07-15/hm=00%3A00",
            "dt=2015-07-15/hm=00%3A01",
            "dt=2015-07-15/hm=00%3A02",
            "dt=2015-07-15/hm=00%3A03",
        ]
    );
    assert!(
        all_rows(&batch) == expected,
        "rows differ without checkpoints"
    );

    let checkpoints = dir.join("checkpoints");
    let checkpointed = partitions(&run_q10(
        dir,
        "checkpointed",
        &[
            "execution.checkpointing.interval=500ms".to_string(),
            format!("execution.checkpointing.dir={}", checkpoints.display()),
        ],
    ));
    assert!(
        checkpointed == batch,
        "partitions or rows differ with checkpoints"
    );
}
