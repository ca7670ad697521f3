//! Runs the real `riffle` binary on small SQL files: results written by
//! real sinks, and the errors a user sees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn riffle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("riffle runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// All JSON lines of all files under `dir`.
fn json_rows(dir: &Path) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        rows.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    rows
}

/// Runs COUNT and SUM per processing-time TUMBLE window of `window` over
/// `rows` generated rows (`k` = 1, 2, ...) at `rate` rows/s; returns the rows.
fn proctime_windows(rows: u64, rate: u64, window: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sql = format!(
        "CREATE TABLE gen (
            k BIGINT,
            pt AS PROCTIME()
        ) WITH (
            'connector' = 'datagen',
            'number-of-rows' = '{rows}',
            'rows-per-second' = '{rate}',
            'fields.k.kind' = 'sequence', 'fields.k.start' = '1', 'fields.k.end' = '{rows}'
        );
        CREATE TABLE sink (s TIMESTAMP(3), e TIMESTAMP(3), c BIGINT, total BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = 'json'
        );
        INSERT INTO sink
        SELECT window_start, window_end, COUNT(*), SUM(k)
        FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(pt), INTERVAL {window}))
        GROUP BY window_start, window_end;",
        out.display()
    );
    let file = write(dir.path(), "job.sql", &sql);
    let o = riffle(&["run", "--quiet", "-p", "2", &file]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if out.exists() {
        json_rows(&out)
    } else {
        Vec::new()
    }
}

#[test]
fn processing_time_windows_fire_on_the_wall_clock() {
    // Half a second of rows at 200 ms per window: windows fire while the job
    // runs, and no row is counted twice. (A row delayed in the exchange past
    // its window's end reopens that window, which fires again with only the
    // stragglers: windows are assigned before the exchange, see the window
    // aggregate's module docs. So a window may appear more than once, but
    // its rows add up to at most what was read.)
    let rows = proctime_windows(3000, 6000, "'200' MILLISECOND");
    assert!(!rows.is_empty());
    let count: i64 = rows.iter().map(|r| r["c"].as_i64().unwrap()).sum();
    let total: i64 = rows.iter().map(|r| r["total"].as_i64().unwrap()).sum();
    assert!(count > 0 && count <= 3000, "{count}");
    assert!(total <= 3000 * 3001 / 2, "{total}");
    let mut starts: Vec<&str> = rows.iter().map(|r| r["s"].as_str().unwrap()).collect();
    starts.sort_unstable();
    starts.dedup();
    assert!(
        starts.len() >= 2,
        "windows fired while the job ran: {rows:?}"
    );
}

#[test]
fn processing_time_windows_open_at_the_end_of_input_are_dropped() {
    // As in Flink: a bounded job ends before the wall clock closes a one-day
    // window, and pending processing-time timers do not fire at the end.
    assert_eq!(
        proctime_windows(10, 1000, "'1' DAY"),
        Vec::<serde_json::Value>::new()
    );
}

#[test]
fn updating_results_cannot_go_to_an_append_only_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "CREATE TABLE gen (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
        CREATE TABLE sink (k BIGINT, c BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
        INSERT INTO sink SELECT k, COUNT(*) FROM gen GROUP BY k;",
        dir.path().join("out").display()
    );
    let file = write(dir.path(), "job.sql", &sql);
    let o = riffle(&["run", "--quiet", &file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "doesn't support consuming update changes which is produced by node GroupAggregate"
        ),
        "{err}"
    );
}

#[test]
fn planning_errors_name_the_place_and_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "job.sql",
        "CREATE TABLE gen (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
         SELECT k FROM gen;\n\
         SELECT k,\n  COUNT(*) FROM bidz GROUP BY k;\n",
    );
    let o = riffle(&["run", "--quiet", &file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("Object 'bidz' not found"), "{err}");
    assert!(err.contains("4:"), "no line number in: {err}");
}

#[test]
fn window_functions_check_their_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "job.sql",
        "CREATE TABLE gen (k BIGINT, ts TIMESTAMP(3)) WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
         SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(ts), INTERVAL '1' SECOND))\n\
         GROUP BY window_start, window_end;\n",
    );
    let o = riffle(&["run", "--quiet", &file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("requires the timecol to be a time attribute"),
        "{err}"
    );
}

#[test]
fn unknown_user_functions_list_the_compiled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "job.sql",
        "CREATE FUNCTION f AS 'com.example.Missing';\n",
    );
    let o = riffle(&["run", "--quiet", &file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("no function 'com.example.Missing'")
            && err.contains("com.github.nexmark.flink.udf.CountChar"),
        "{err}"
    );
}

#[test]
fn a_failing_job_reports_its_root_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "fail.sql",
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
         CREATE TABLE k (v INT) WITH ('connector' = 'blackhole');
         INSERT INTO k SELECT CAST(CONCAT('x', CAST(id AS STRING)) AS INT) FROM src;",
    );
    let o = riffle(&["run", &file]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(
            "error: job 'insert-into_k' failed: Source: src[datagen] -> Calc -> Sink (1/1)"
        ),
        "{err}"
    );
    assert!(err.contains("Cannot cast string"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn ctrl_c_cancels_the_embedded_job() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "endless.sql",
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100');
         CREATE TABLE k (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO k SELECT id FROM src;",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["run", &file])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("Job 'insert-into_k' cancelled after"), "{err}");
    // What it did before it stopped: the count the benchmark harness reads.
    let line = err.lines().find(|l| l.contains("cancelled after")).unwrap();
    let read = line.split(": ").nth(1).and_then(|r| r.split(' ').next());
    assert!(read.is_some_and(|n| n.parse::<u64>().is_ok()), "{line}");
    assert!(
        line.contains("records read, ") && line.ends_with("records written."),
        "{line}"
    );
}

/// Issue 15, case 8: a STRING into a BIGINT column is refused at planning
/// with Flink's message (it used to fail every row at run time, and with
/// checkpointing restart forever); no job starts.
#[test]
fn a_string_into_a_bigint_column_is_refused_at_planning() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "types.sql",
        "SET 'execution.checkpointing.interval' = '1 s';
         CREATE TABLE src (id BIGINT, name STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
         CREATE TABLE k (v BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO k SELECT name FROM src;",
    );
    let o = riffle(&["run", "--quiet", &file]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SQL validation error at 4:10: Column types of query result and sink for 'default_catalog.default_database.k' do not match."),
        "{err}"
    );
    assert!(err.contains("Query schema: [name: STRING]"), "{err}");
    assert!(!err.contains("failed:"), "a job ran: {err}");
}

/// Issue 15, case 9: `SELECT CAST(name AS INT), name` runs, as in Flink
/// (the cast is named EXPR$0).
#[test]
fn a_cast_beside_its_column_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "names.sql",
        "CREATE TABLE src (id BIGINT, name AS CAST(id * 7 AS STRING)) WITH (
             'connector' = 'datagen', 'number-of-rows' = '3',
             'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '3');
         SELECT CAST(name AS INT), name FROM src;",
    );
    let o = riffle(&["run", "--quiet", &file]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut rows: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    assert_eq!(rows, ["+I[14, 14]", "+I[21, 21]", "+I[7, 7]"]);
}

/// Issue 15, case 13: CURRENT_TIMESTAMP and LOCALTIMESTAMP are read per
/// row, not frozen at job start, so event-time windows over them fire.
/// Deterministic: the source is paced, so its last row is read at least
/// half a second after its first; only that lower bound is relied on.
#[test]
fn current_timestamp_is_read_per_row_and_windows_over_it_fire() {
    let dir = tempfile::tempdir().unwrap();
    let rows_out = dir.path().join("rows");
    let windows_out = dir.path().join("windows");
    let sql = format!(
        "SET 'table.local-time-zone' = '+08:00';
         CREATE TABLE src (
             id BIGINT,
             ts AS CURRENT_TIMESTAMP,
             WATERMARK FOR ts AS ts
         ) WITH (
             'connector' = 'datagen', 'number-of-rows' = '11', 'rows-per-second' = '20',
             'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '11');
         CREATE TABLE r (id BIGINT, now_ts TIMESTAMP_LTZ(3), local_ts TIMESTAMP(3)) WITH (
             'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         CREATE TABLE w (c BIGINT) WITH (
             'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         EXECUTE STATEMENT SET BEGIN
         INSERT INTO r SELECT id, ts, LOCALTIMESTAMP FROM src;
         INSERT INTO w SELECT COUNT(*)
             FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))
             GROUP BY window_start, window_end;
         END;",
        rows_out.display(),
        windows_out.display()
    );
    let file = write(dir.path(), "now.sql", &sql);
    let o = riffle(&["run", "--quiet", "-p", "1", &file]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = json_rows(&rows_out);
    assert_eq!(rows.len(), 11);
    let ms = |r: &serde_json::Value, column: &str| epoch_ms(r[column].as_str().unwrap());
    let now: Vec<i64> = rows.iter().map(|r| ms(r, "now_ts")).collect();
    let (first, last) = (now.iter().min().unwrap(), now.iter().max().unwrap());
    assert!(
        last - first >= 400,
        "CURRENT_TIMESTAMP did not advance: {rows:?}"
    );
    for r in &rows {
        // LOCALTIMESTAMP is wall-clock time at +08:00.
        let ahead = ms(r, "local_ts") - ms(r, "now_ts");
        assert!((ahead - 8 * 3_600_000).abs() < 1_000, "{r}");
    }
    // Rows over half a second in 100 ms windows: several windows fired,
    // and every row was counted once.
    let windows = json_rows(&windows_out);
    assert!(windows.len() >= 2, "{windows:?}");
    let counted: i64 = windows.iter().map(|w| w["c"].as_i64().unwrap()).sum();
    assert_eq!(counted, 11, "{windows:?}");
}

/// Issue 15, case 10: a script without statements is the same SQL error
/// (and exit code) embedded and on a session cluster.
#[test]
fn an_empty_script_is_the_same_error_embedded_and_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "empty.sql", "-- nothing here yet\n;\n");
    let embedded = riffle(&["run", "--quiet", &file]);
    let cluster = common::Cluster::start(1);
    let remote = riffle(&["run", "-m", &cluster.rest, &file]);
    for o in [&embedded, &remote] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("SQL validation error: the script holds no statement to run"),
            "{err}"
        );
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DD HH:MM:SS.mmm` (a trailing
/// `Z` allowed), read as UTC.
fn epoch_ms(text: &str) -> i64 {
    let t = text.trim_end_matches('Z');
    let n = |range: std::ops::Range<usize>| -> i64 { t[range].parse().unwrap() };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + n(11..13)) * 60 + n(14..16)) * 60_000 + n(17..19) * 1000 + n(20..23)
}
