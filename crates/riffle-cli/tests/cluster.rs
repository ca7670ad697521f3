//! A real cluster on 127.0.0.1: a JobManager and TaskManagers as separate
//! `riffle` processes, jobs submitted through the REST API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Cluster, free_port};
use serde_json::Value;

/// A windowed count over a throttled sequence, written as CSV into `out`.
fn job(dir: &Path, out: &Path, rows_per_second: u64) -> String {
    let sql = format!(
        "CREATE TABLE src (
            id BIGINT,
            ts AS CAST(FROM_UNIXTIME(id / 100) AS TIMESTAMP(3)),
            WATERMARK FOR ts AS ts
        ) WITH (
            'connector' = 'datagen',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60000',
            'rows-per-second' = '{rows_per_second}'
        );
        CREATE VIEW keyed AS SELECT id % 7 AS k, id, ts FROM src;
        CREATE TABLE out_t (k BIGINT, n BIGINT, s BIGINT, ws TIMESTAMP(3)) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
        INSERT INTO out_t
        SELECT k, COUNT(*), SUM(id), window_start
        FROM TABLE(TUMBLE(TABLE keyed, DESCRIPTOR(ts), INTERVAL '1' SECOND))
        GROUP BY k, window_start, window_end;",
        out.display()
    );
    let file = dir.join(format!("job-{rows_per_second}.sql"));
    std::fs::write(&file, sql).unwrap();
    file.to_string_lossy().into_owned()
}

fn sorted_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    lines
}

fn embedded(dir: &Path) -> Vec<String> {
    let out = dir.join("embedded");
    let file = job(dir, &out, 100_000_000);
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["run", "--quiet", "-p", "4", &file])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = sorted_lines(&out);
    assert_eq!(lines.len(), 4201);
    lines
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn a_job_spreads_over_two_taskmanagers_and_matches_the_embedded_run() {
    let dir = tempfile::tempdir().unwrap();
    let expected = embedded(dir.path());
    let cluster = Cluster::start(2);
    let out = dir.path().join("cluster");
    let file = job(dir.path(), &out, 100_000_000);
    let id = cluster.submit(&file, &[]);
    assert_eq!(id.len(), 32);
    cluster.wait_finished(&id);
    assert_eq!(sorted_lines(&out), expected);

    // The REST API, field by field against Flink's shapes.
    let o = cluster.get("/overview");
    assert_eq!(
        keys(&o),
        [
            "flink-commit",
            "flink-version",
            "jobs-cancelled",
            "jobs-failed",
            "jobs-finished",
            "jobs-running",
            "slots-available",
            "slots-free-and-blocked",
            "slots-total",
            "taskmanagers",
            "taskmanagers-blocked"
        ]
    );
    assert_eq!(o["slots-total"], 4);
    assert_eq!(o["jobs-finished"], 1);
    let jobs = cluster.get("/jobs/overview");
    let j = &jobs["jobs"][0];
    assert_eq!(
        keys(j),
        [
            "duration",
            "end-time",
            "jid",
            "jobType",
            "last-modification",
            "name",
            "pending-operators",
            "schedulerType",
            "start-time",
            "state",
            "tasks"
        ]
    );
    assert_eq!(j["jid"], id.as_str());
    assert_eq!(j["state"], "FINISHED");
    assert_eq!(j["tasks"]["total"], 8);
    // Final counters arrive with the FINISHED reports, however short the job.
    let detail = cluster.get(&format!("/jobs/{id}"));
    let source = &detail["vertices"][0];
    assert!(
        source["name"].as_str().unwrap().starts_with("Source"),
        "{source}"
    );
    assert_eq!(source["metrics"]["write-records"], 60000, "{source}");
    assert_eq!(j["tasks"]["finished"], 8);
    let d = cluster.get(&format!("/jobs/{id}"));
    for k in [
        "jid",
        "name",
        "isStoppable",
        "state",
        "job-type",
        "start-time",
        "end-time",
        "duration",
        "maxParallelism",
        "now",
        "timestamps",
        "vertices",
        "status-counts",
        "plan",
    ] {
        assert!(d.get(k).is_some(), "/jobs/:id lacks {k}: {d}");
    }
    let v = &d["vertices"][1];
    for k in [
        "id",
        "slotSharingGroupId",
        "name",
        "maxParallelism",
        "parallelism",
        "status",
        "start-time",
        "end-time",
        "duration",
        "tasks",
        "metrics",
    ] {
        assert!(v.get(k).is_some(), "vertex lacks {k}: {v}");
    }
    assert_eq!(v["parallelism"], 4);
    assert_eq!(v["status"], "FINISHED");
    let plan = cluster.get(&format!("/jobs/{id}/plan"));
    assert_eq!(plan["plan"]["jid"], id.as_str());
    let nodes = plan["plan"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1]["inputs"][0]["ship_strategy"], "HASH");
    assert_eq!(nodes[1]["inputs"][0]["id"], nodes[0]["id"]);
    let tms = cluster.get("/taskmanagers");
    let tm = &tms["taskmanagers"][0];
    for k in [
        "id",
        "path",
        "dataPort",
        "jmxPort",
        "timeSinceLastHeartbeat",
        "slotsNumber",
        "freeSlots",
        "totalResource",
        "freeResource",
        "hardware",
        "memoryConfiguration",
        "blocked",
    ] {
        assert!(tm.get(k).is_some(), "taskmanager lacks {k}: {tm}");
    }
    assert_eq!(tm["slotsNumber"], 2);
    assert_eq!(tm["id"].as_str().unwrap().len(), 32);

    // Errors are JSON with the right codes.
    let nf = cluster.get("/jobs/00000000000000000000000000000000");
    assert!(
        nf["errors"][0].as_str().unwrap().contains("not found"),
        "{nf}"
    );
    let bad = cluster.get("/jobs/xyz");
    assert!(
        bad["errors"][0].as_str().unwrap().contains("jobid"),
        "{bad}"
    );
}

/// `pipeline.jobvertex-parallelism-overrides` (what the operator's
/// autoscaler sets): the window vertex runs with 3 subtasks beside a source
/// of 1, and the output is the same.
#[test]
fn per_vertex_parallelism_overrides_set_a_vertex_apart_and_keep_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let expected = embedded(dir.path());
    let cluster = Cluster::start(2);
    let out = dir.path().join("cluster");
    let file = job(dir.path(), &out, 100_000_000);
    let job_id: riffle_rpc::ids::JobId = "0123456789abcdef0123456789abcdef".parse().unwrap();
    let window = riffle_rpc::ids::vertex_id(job_id, 1);
    let body = serde_json::json!({
        "script": std::fs::read_to_string(&file).unwrap(),
        "jobId": job_id.to_string(),
        "parallelism": 1,
        "flinkConfiguration": {
            "pipeline.jobvertex-parallelism-overrides": format!("{window}:3,ffffffffffffffffffffffffffffffff:2"),
        },
    });
    let (status, answer) = cluster.post("/sql/jobs", &body);
    assert_eq!(status, 202, "{answer}");
    cluster.wait_finished(&job_id.to_string());
    let detail = cluster.get(&format!("/jobs/{job_id}"));
    let p: Vec<i64> = detail["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["parallelism"].as_i64().unwrap())
        .collect();
    assert_eq!(p, [1, 3], "{detail}");
    assert_eq!(detail["vertices"][1]["id"], window.to_string().as_str());
    assert_eq!(sorted_lines(&out), expected);

    // Its subtask metrics, aggregated as Flink's REST API does.
    let ids = cluster.get(&format!(
        "/jobs/{job_id}/vertices/{window}/subtasks/metrics"
    ));
    assert!(
        ids.as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "accumulateBusyTimeMs"),
        "{ids}"
    );
    let m = cluster.get(&format!(
        "/jobs/{job_id}/vertices/{window}/subtasks/metrics?get=numRecordsIn&agg=sum,max"
    ));
    assert_eq!(m[0]["id"], "numRecordsIn", "{m}");
    assert_eq!(m[0]["sum"], 60000.0, "{m}");
    assert!(m[0].get("min").is_none(), "{m}");
    let source = detail["vertices"][0]["id"].as_str().unwrap();
    let ids = cluster.get(&format!(
        "/jobs/{job_id}/vertices/{source}/subtasks/metrics"
    ));
    let produced = ids
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .find(|id| id.starts_with("Source__") && id.ends_with(".numRecordsOut"))
        .unwrap_or_else(|| panic!("no source metric in {ids}"))
        .to_string();
    let m = cluster.get(&format!(
        "/jobs/{job_id}/vertices/{source}/subtasks/metrics?get={produced}&agg=sum"
    ));
    assert_eq!(m[0]["sum"], 60000.0, "{m}");

    // A parallelism that is no parallelism is refused, naming the key.
    let bad = serde_json::json!({
        "script": std::fs::read_to_string(&file).unwrap(),
        "flinkConfiguration": { "pipeline.jobvertex-parallelism-overrides": format!("{window}:0") },
    });
    let (status, answer) = cluster.post("/sql/jobs", &bad);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("pipeline.jobvertex-parallelism-overrides"),
        "{answer}"
    );
}

#[test]
fn a_killed_taskmanager_restarts_the_job_on_a_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let expected = embedded(dir.path());
    let mut cluster = Cluster::start(2);
    let out = dir.path().join("cluster");
    // About 12 s of input: time to kill a TaskManager mid-job.
    let file = job(dir.path(), &out, 5000);
    let id = cluster.submit(
        &file,
        &[
            "-D",
            "restart-strategy.type=fixed-delay",
            "-D",
            "restart-strategy.fixed-delay.attempts=3",
            "-D",
            "restart-strategy.fixed-delay.delay=200 ms",
        ],
    );
    cluster.wait_for(|v| v["status"] == "RUNNING", &format!("/jobs/{id}/status"));
    std::thread::sleep(Duration::from_secs(2));
    // SIGKILL the second TaskManager (the first process is the JobManager).
    let mut victim = cluster.processes.remove(2);
    cluster.metrics_ports.remove(2);
    victim.kill().unwrap();
    victim.wait().unwrap();
    cluster.wait_for(
        |v| v["status"] == "RESTARTING" || v["status"] == "CREATED",
        &format!("/jobs/{id}/status"),
    );
    cluster.spawn("taskmanager");
    cluster.wait_finished(&id);
    assert_eq!(sorted_lines(&out), expected);
    let ex = cluster.get(&format!("/jobs/{id}/exceptions"));
    let entries = ex["exceptionHistory"]["entries"].as_array().unwrap();
    assert!(!entries.is_empty(), "{ex}");
    let m = cluster.get(&format!("/jobs/{id}/metrics?get=numRestarts"));
    assert_eq!(m[0]["id"], "numRestarts");
    assert_eq!(m[0]["value"], "1", "{m}");
}

/// The value of the first sample of `name` whose labels contain `with`.
fn sample(text: &str, name: &str, with: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(with))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The sum of every sample of `name` whose labels contain `with`.
fn sum(text: &str, name: &str, with: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `promtool check metrics` on an exposition. Flink's metric names are
/// camelCase (`numRecordsIn`), which promtool's linter flags (exit code 3)
/// for Flink's own reporter too; those naming notes are the only findings
/// allowed. Without promtool the check is skipped unless
/// `RIFFLE_REQUIRE_PROMTOOL` is set (CI sets it and installs promtool).
fn promtool_check(text: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("RIFFLE_REQUIRE_PROMTOOL").is_none(),
                "promtool is required but cannot run ({e}); install it: apt-get install prometheus"
            );
            eprintln!("promtool not found ({e}); skipping `promtool check metrics`");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 3, "promtool exit {code}: {findings}");
    for line in findings.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("flink_")
                && line.ends_with("metric names should be written in 'snake_case' not 'camelCase'"),
            "promtool found a problem: {line}\n{text}"
        );
    }
}

/// Resident memory of the process behind exposition `text`.
fn rss(text: &str, scope: &str) -> f64 {
    sample(
        text,
        &format!("flink_{scope}_Status_ProcessTree_Memory_RSS"),
        "",
    )
    .unwrap()
}

#[test]
fn a_slow_sink_slows_the_sources_with_bounded_memory_and_metrics_pass_promtool() {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(0);
    // The TaskManagers' standard output is the `print` sink: a pipe this test
    // drains slowly, so the sink blocks on a full pipe like a slow external system.
    let printed = Arc::new(AtomicU64::new(0));
    for _ in 0..2 {
        let child = cluster.spawn_with("taskmanager", Stdio::piped(), Stdio::null());
        let mut out = child.stdout.take().unwrap();
        let printed = Arc::clone(&printed);
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            // About 200 KiB/s per TaskManager.
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let lines = buf[..n].iter().filter(|b| **b == b'\n').count();
                printed.fetch_add(lines as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
    cluster.wait_for(|o| o["taskmanagers"].as_u64() == Some(2), "/overview");
    let sql = "CREATE TABLE src (id BIGINT) WITH (
            'connector' = 'datagen', 'rows-per-second' = '100000000',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
            'fields.id.end' = '1000000000000');
        CREATE TABLE slow (id BIGINT) WITH ('connector' = 'print', 'sink.parallelism' = '1');
        INSERT INTO slow SELECT id FROM src;";
    let file = dir.path().join("slow.sql");
    std::fs::write(&file, sql).unwrap();
    // Four source subtasks over both TaskManagers feed one sink subtask.
    let id = cluster.submit(file.to_str().unwrap(), &[]);
    cluster.wait_for(|v| v["status"] == "RUNNING", &format!("/jobs/{id}/status"));

    // Let the pipeline fill up, then watch it for a while.
    std::thread::sleep(Duration::from_secs(4));
    let source_rows = |c: &Cluster| -> f64 {
        (1..=2)
            .map(|i| {
                sum(
                    &c.scrape(i),
                    "flink_taskmanager_job_task_operator_numRecordsOut",
                    "operator_name=\"Source: src",
                )
            })
            .sum()
    };
    let rss_before: Vec<f64> = (1..=2)
        .map(|i| rss(&cluster.scrape(i), "taskmanager"))
        .collect();
    let (produced_before, printed_before) =
        (source_rows(&cluster), printed.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(6));
    let (produced_after, printed_after) = (source_rows(&cluster), printed.load(Ordering::Relaxed));
    let rss_after: Vec<f64> = (1..=2)
        .map(|i| rss(&cluster.scrape(i), "taskmanager"))
        .collect();

    // The sources ran at the sink's pace, not at their own (millions per second):
    // what they produced beyond what was printed is what the pipeline holds.
    // Bound: the sink subtask's 16-message input queue; per remote channel
    // (two here) a 2-message send queue, 4 credits and one frame in the
    // network thread; one batch in each of the 5 subtasks; that is 35 batches
    // of 8192 rows (287 000 rows), plus two 64 KiB pipes of ~12-byte lines.
    let in_flight = produced_after - printed_after as f64;
    assert!(printed_after > printed_before, "the sink made no progress");
    assert!(
        in_flight < 400_000.0,
        "sources ran ahead: produced {produced_after}, printed {printed_after}"
    );
    let produced_rate = (produced_after - produced_before) / 6.0;
    assert!(
        produced_rate < 1_000_000.0,
        "sources were not slowed down: {produced_rate} rows/s"
    );
    for (b, a) in rss_before.iter().zip(&rss_after) {
        assert!(*a < 512.0 * 1048576.0, "TaskManager RSS {a} bytes");
        assert!(
            a - b < 64.0 * 1048576.0,
            "TaskManager RSS grew from {b} to {a}"
        );
    }
    // Backpressure shows where Flink shows it: on the source vertex.
    let job = cluster.get(&format!("/jobs/{id}"));
    let source_vertex = job["vertices"][0]["id"].as_str().unwrap().to_string();
    let bp = cluster.wait_for(
        |v| v["backpressureLevel"] == "high",
        &format!("/jobs/{id}/vertices/{source_vertex}/backpressure"),
    );
    assert_eq!(bp["status"], "ok", "{bp}");

    // Prometheus: both kinds of process, Flink's names and labels, promtool-clean.
    let jm = cluster.scrape(0);
    promtool_check(&jm);
    assert_eq!(
        sample(&jm, "flink_jobmanager_numRegisteredTaskManagers", ""),
        Some(2.0)
    );
    assert_eq!(
        sample(&jm, "flink_jobmanager_numRunningJobs", ""),
        Some(1.0)
    );
    assert_eq!(
        sample(&jm, "flink_jobmanager_taskSlotsTotal", ""),
        Some(4.0)
    );
    assert_eq!(
        sample(&jm, "flink_jobmanager_taskSlotsAvailable", ""),
        Some(0.0)
    );
    let job_label = format!("job_id=\"{id}\"");
    assert_eq!(
        sample(&jm, "flink_jobmanager_job_numRestarts", &job_label),
        Some(0.0)
    );
    assert!(sample(&jm, "flink_jobmanager_job_uptime", &job_label).unwrap() > 0.0);
    assert!(rss(&jm, "jobmanager") > 0.0);
    for i in 1..=2 {
        let tm = cluster.scrape(i);
        promtool_check(&tm);
        for name in [
            "numRecordsIn",
            "numRecordsOut",
            "numRecordsInPerSecond",
            "numRecordsOutPerSecond",
            "numBytesIn",
            "numBytesOut",
            "numBytesInPerSecond",
            "numBytesOutPerSecond",
            "busyTimeMsPerSecond",
            "backPressuredTimeMsPerSecond",
            "idleTimeMsPerSecond",
            "currentInputWatermark",
            "currentOutputWatermark",
        ] {
            let full = format!("flink_taskmanager_job_task_{name}");
            assert!(
                sample(&tm, &full, &job_label).is_some(),
                "no {full} in\n{tm}"
            );
        }
        let line = tm
            .lines()
            .find(|l| l.starts_with("flink_taskmanager_job_task_numRecordsOut{"))
            .unwrap();
        for label in [
            "job_name=\"insert-into_slow\"",
            "task_name=",
            "subtask_index=",
            "tm_id=",
            "task_attempt_num=\"0\"",
        ] {
            assert!(line.contains(label), "{label} missing: {line}");
        }
        assert!(sample(&tm, "flink_taskmanager_Status_JVM_CPU_Load", "").is_some());
    }
    // The sources are back pressured most of the time.
    let bp: Vec<String> = (1..=2)
        .flat_map(|i| {
            cluster
                .scrape(i)
                .lines()
                .filter(|l| {
                    l.starts_with("flink_taskmanager_job_task_backPressuredTimeMsPerSecond{")
                        && l.contains("task_name=\"Source: src")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(bp.len(), 4, "{bp:?}");
    let worst = bp
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        worst > 500.0,
        "backPressuredTimeMsPerSecond of the sources: {bp:#?}"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["cancel", "-m", &cluster.rest, &id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    cluster.wait_for(|v| v["status"] == "CANCELED", &format!("/jobs/{id}/status"));
}

#[test]
fn json_logs_name_the_job_and_task_on_every_task_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start_with(0, "riffle.log.format: json\n");
    let log = dir.path().join("tm.log");
    let file = std::fs::File::create(&log).unwrap();
    cluster.spawn_with("taskmanager", Stdio::null(), Stdio::from(file));
    cluster.wait_for(|o| o["taskmanagers"].as_u64() == Some(1), "/overview");
    let sql = dir.path().join("small.sql");
    std::fs::write(
        &sql,
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '100');
         CREATE TABLE k (id BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO k SELECT id FROM src;",
    )
    .unwrap();
    let id = cluster.submit_with(sql.to_str().unwrap(), &["-p", "2"]);
    cluster.wait_finished(&id);
    // The FINISHED reports are sent after the log lines are written.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut task_lines = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["target"] == "riffle_runtime::deploy" {
            task_lines += 1;
            let spans = v["spans"].as_array().unwrap();
            assert_eq!(spans[0]["job_id"], id.as_str(), "{line}");
            let task = spans[1]["task"].as_str().unwrap();
            assert!(task.starts_with("Source: src[datagen]"), "{line}");
            assert!(task.ends_with("/2)"), "{line}");
        }
    }
    // RUNNING and FINISHED for each of the two subtasks.
    assert_eq!(task_lines, 4, "{text}");
}

#[test]
fn the_sql_client_submits_inserts_and_streams_query_results() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(1);
    let out = dir.path().join("out");
    let script = format!(
        "CREATE TABLE src (id BIGINT) WITH (
           'connector' = 'datagen', 'number-of-rows' = '50',
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '50');
         CREATE TABLE out_t (id BIGINT) WITH (
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         SHOW TABLES;
         DESCRIBE src;
         SET 'parallelism.default' = '2';
         SELECT id % 3 AS g, COUNT(*) AS n
         FROM src
         GROUP BY id % 3;
         INSERT INTO out_t SELECT id FROM src WHERE id > 45;",
        out.display()
    );
    let file = dir.path().join("client.sql");
    std::fs::write(&file, script).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["sql", "-m", &cluster.rest, "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for expected in [
        "|        src |",
        "|      out_t |",
        "|   id | BIGINT | TRUE |",
        "| op | g | n |",
        "[INFO] SQL update statement has been successfully submitted to the cluster:",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in\n{stdout}");
    }
    // The changelog of the aggregate ends in the final counts.
    let mut last = std::collections::BTreeMap::new();
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("| +I |") || l.starts_with("| +U |"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        last.insert(cells[2].to_string(), cells[3].to_string());
    }
    let expected: std::collections::BTreeMap<String, String> =
        [("0", "16"), ("1", "17"), ("2", "17")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(last, expected, "{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job ID: "))
        .unwrap()
        .to_string();
    cluster.wait_finished(&id);
    assert_eq!(sorted_lines(&out), ["46", "47", "48", "49", "50"]);

    // A mistake names its place and stops the script.
    std::fs::write(&file, "SHOW TABLES;\nSELECT nope FROM src;\nSHOW TABLES;").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["sql", "-m", &cluster.rest, "-f", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("[ERROR] Could not execute SQL statement."),
        "{stdout}"
    );
    assert!(stdout.contains("src"), "{stdout}");

    // An endless query streams until Ctrl-C, which cancels its job.
    std::fs::write(
        &file,
        "CREATE TABLE slow (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20',
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '100000');
         SELECT id FROM slow;
         SHOW TABLES;",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["sql", "-m", &cluster.rest, "-f", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Rows arrive while the job runs.
    let mut seen = 0;
    for line in lines.by_ref() {
        if line.unwrap().starts_with("| +I |") {
            seen += 1;
            if seen == 5 {
                break;
            }
        }
    }
    let running = cluster.get("/jobs/overview");
    let job = running["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["state"] == "RUNNING")
        .unwrap()["jid"]
        .as_str()
        .unwrap()
        .to_string();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success());
    assert!(
        rest.iter().any(|l| l.contains("[INFO] Query cancelled")),
        "{rest:?}"
    );
    // The script went on after the cancelled query.
    assert!(
        rest.iter().any(|l| l.contains("|       slow |")),
        "{rest:?}"
    );
    cluster.wait_for(
        |v| v["status"] == "CANCELED",
        &format!("/jobs/{job}/status"),
    );
}

/// Flink refuses the id of a job that reached a globally terminal state
/// (FINISHED, CANCELED or FAILED) and keeps that job's history.
#[test]
fn an_ended_job_id_is_not_run_again_a_blank_savepoint_target_and_a_big_body_are_refused() {
    let cluster = Cluster::start_with(1, "rest.server.max-content-length: 8192\n");
    // Submitted again under an ended job's id: 409, and the job is unchanged.
    let refused_again = |body: &Value, state: &str| {
        let id = body["jobId"].as_str().unwrap();
        let started = cluster.get(&format!("/jobs/{id}"))["start-time"].clone();
        let (status, answer) = cluster.post("/sql/jobs", body);
        assert_eq!(status, 409, "{state}: {answer}");
        assert!(
            answer
                .to_string()
                .contains(&format!("globally terminal state {state}")),
            "{answer}"
        );
        let job = cluster.get(&format!("/jobs/{id}"));
        assert_eq!(
            (job["state"].clone(), job["start-time"].clone()),
            (state.into(), started)
        );
    };
    let id = "0123456789abcdef0123456789abcdef";
    let bounded = serde_json::json!({
        "jobId": id,
        "script": "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
                   CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
                   INSERT INTO b SELECT k FROM s;",
    });
    // A body over rest.server.max-content-length: a JSON error naming the key.
    let big = serde_json::json!({ "script": format!("SELECT 1; -- {}", "x".repeat(10_000)) });
    let (status, answer) = cluster.post("/sql/jobs", &big);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("rest.server.max-content-length (8192 bytes)")),
        "{answer}"
    );
    let (status, _) = cluster.post("/sql/jobs", &bounded);
    assert_eq!(status, 202);
    cluster.wait_finished(id);
    refused_again(&bounded, "FINISHED");

    // Fails on its first row (no checkpointing: no restarts).
    let failing = serde_json::json!({
        "jobId": "0123456789abcdef0123456789abcde0",
        "script": "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
                   CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
                   INSERT INTO b SELECT k / (k - k) FROM s;",
    });
    let (status, answer) = cluster.post("/sql/jobs", &failing);
    assert_eq!(status, 202, "{answer}");
    cluster.wait_for(
        |v| v["status"] == "FAILED",
        "/jobs/0123456789abcdef0123456789abcde0/status",
    );
    refused_again(&failing, "FAILED");

    let unbounded = serde_json::json!({
        "script": "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');
                   CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
                   INSERT INTO b SELECT k FROM s;",
    });
    let (status, answer) = cluster.post("/sql/jobs", &unbounded);
    assert_eq!(status, 202, "{answer}");
    let running = answer["jobid"].as_str().unwrap().to_string();
    cluster.wait_for(
        |v| v["status"] == "RUNNING",
        &format!("/jobs/{running}/status"),
    );
    for (path, body) in [
        ("savepoints", serde_json::json!({ "target-directory": " " })),
        ("stop", serde_json::json!({ "targetDirectory": "" })),
    ] {
        let (status, answer) = cluster.post(&format!("/jobs/{running}/{path}"), &body);
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer.to_string().contains("target directory is empty"),
            "{answer}"
        );
    }
    assert_eq!(
        cluster.get(&format!("/jobs/{running}/status"))["status"],
        "RUNNING"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["cancel", "-m", &cluster.rest, &running])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    cluster.wait_for(
        |v| v["status"] == "CANCELED",
        &format!("/jobs/{running}/status"),
    );
    let mut cancelled = unbounded;
    cancelled["jobId"] = Value::from(running.as_str());
    refused_again(&cancelled, "CANCELED");
}

/// Waits for a child to exit; its status.
fn exit_status(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the process did not exit after the signal"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Stops the cluster's session JobManager (SIGTERM, exit 0) and returns the
/// command that runs `riffle standalone-job` on its ports: an endless
/// throttled job with the job id derived from `seed`.
fn standalone_job_in_place_of_the_session(
    cluster: &mut Cluster,
    dir: &Path,
    seed: &str,
) -> std::process::Command {
    let mut jm = cluster.processes.remove(0);
    common::signal(&jm, "-TERM");
    assert!(exit_status(&mut jm).success(), "the JobManager's exit");
    let file = dir.join("job.sql");
    std::fs::write(
        &file,
        "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100');
         CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO b SELECT k FROM s;\n",
    )
    .unwrap();
    let rest_port: u16 = cluster.rest.rsplit(':').next().unwrap().parse().unwrap();
    let props = common::properties(cluster.rpc_port, rest_port, free_port()) + &cluster.extra;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_riffle"));
    command
        .args(["standalone-job", "--job-file", file.to_str().unwrap()])
        .args(["--job-id-seed", seed])
        .env("RIFFLE_PROPERTIES", &props)
        .env_remove("RIFFLE_CONF_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// SIGTERM, as the kubelet sends it when it stops a pod: a TaskManager
/// cancels its tasks and leaves the JobManager at once (long before the
/// 60 s heartbeat timeout of this cluster, so only a clean leave explains
/// it), and the JobManager exits 0; a standalone job stopped this way
/// records no result, so its next start resumes instead of being refused.
#[test]
fn sigterm_stops_cluster_processes_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let extra = format!(
        "heartbeat.timeout: 60 s\nexecution.checkpointing.interval: 500 ms\n\
         execution.checkpointing.dir: {}\n",
        ck.display()
    );
    let mut cluster = Cluster::start_with(2, &extra);
    let mut tm = cluster.processes.remove(2);
    cluster.metrics_ports.remove(2);
    common::signal(&tm, "-TERM");
    assert!(exit_status(&mut tm).success(), "the TaskManager's exit");
    cluster.wait_for(|o| o["taskmanagers"].as_u64() == Some(1), "/overview");

    // The session JobManager goes; a standalone job takes its ports.
    let mut standalone =
        standalone_job_in_place_of_the_session(&mut cluster, dir.path(), "terminated");
    let mut job = standalone.spawn().unwrap();
    let id = riffle_rpc::JobId::from_seed("terminated").to_string();
    cluster.wait_for(
        |v| v["counts"]["completed"].as_u64().unwrap_or(0) >= 1,
        &format!("/jobs/{id}/checkpoints"),
    );
    common::signal(&job, "-TERM");
    let status = exit_status(&mut job);
    assert_eq!(
        status.code(),
        Some(143),
        "a stopped job is not a finished one"
    );
    assert!(
        !ck.join("job-result-store")
            .join(format!("{id}.json"))
            .exists()
            && !ck
                .join("job-result-store")
                .join(format!("{id}_DIRTY.json"))
                .exists(),
        "a job stopped from outside has no recorded result"
    );
    let mut job = standalone.spawn().unwrap();
    let stats = cluster.wait_for(
        |v| v["counts"]["restored"].as_u64() == Some(1),
        &format!("/jobs/{id}/checkpoints"),
    );
    assert!(
        stats["latest"]["restored"]["id"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let _ = job.kill();
    let _ = job.wait();
}

/// `stop` on a process that runs one job: the savepoint ends the job, and
/// with it the process, but the client still has to fetch the savepoint's
/// path. The process keeps its REST API until that result was fetched once
/// (Flink's dispatcher does the same), then exits 0.
#[test]
fn a_standalone_job_stopped_with_a_savepoint_waits_for_its_path_to_be_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "execution.checkpointing.interval: 500 ms\nexecution.checkpointing.dir: {}\n",
        dir.path().join("ck").display()
    );
    let mut cluster = Cluster::start_with(1, &extra);
    let mut job = standalone_job_in_place_of_the_session(&mut cluster, dir.path(), "stopped")
        .spawn()
        .unwrap();
    let id = riffle_rpc::JobId::from_seed("stopped").to_string();
    cluster.wait_for(
        |v| v["state"] == "RUNNING" && v["vertices"][0]["status"] == "RUNNING",
        &format!("/jobs/{id}"),
    );
    let target = dir.path().join("savepoints");
    let (status, answer) = cluster.post(
        &format!("/jobs/{id}/stop"),
        &serde_json::json!({ "targetDirectory": target.to_str().unwrap(), "drain": false }),
    );
    assert_eq!(status, 202, "{answer}");
    let trigger = answer["request-id"].as_str().unwrap().to_string();
    cluster.wait_finished(&id);
    // The job ended with the savepoint; nobody has fetched its result yet.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        job.try_wait().unwrap().is_none(),
        "the process exited before the savepoint's path was fetched"
    );
    let result = cluster.get(&format!("/jobs/{id}/savepoints/{trigger}"));
    assert_eq!(result["status"]["id"], "COMPLETED", "{result}");
    let location = result["operation"]["location"].as_str().unwrap();
    assert!(location.contains(target.to_str().unwrap()), "{location}");
    assert!(exit_status(&mut job).success(), "the standalone job's exit");
}

/// A TaskManager's readiness (`GET /readyz` on its metrics port, what the
/// Kubernetes readinessProbe asks): ready while registered at the
/// JobManager, not ready while the JobManager is gone, ready again once a
/// JobManager takes it back.
#[test]
fn a_taskmanager_is_ready_while_registered() {
    let mut cluster = Cluster::start(1);
    let readyz = |cluster: &Cluster| {
        let url = format!("http://127.0.0.1:{}/readyz", cluster.metrics_ports[1]);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.get(&url).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let wait_for_status = |cluster: &Cluster, want: u16| {
        let start = std::time::Instant::now();
        loop {
            let (status, body) = readyz(cluster);
            if status == want {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "readyz stayed {status}: {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let body = wait_for_status(&cluster, 200);
    assert!(body.starts_with("registered at the JobManager"), "{body}");
    let mut jm = cluster.processes.remove(0);
    jm.kill().unwrap();
    jm.wait().unwrap();
    let body = wait_for_status(&cluster, 503);
    assert!(body.contains("not registered"), "{body}");
    // The metrics themselves stay served on the same port.
    assert!(cluster.scrape(1).contains("flink_taskmanager_"));
    cluster.spawn("jobmanager");
    wait_for_status(&cluster, 200);
}
