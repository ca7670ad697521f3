//! A real cluster on 127.0.0.1: a JobManager and TaskManagers as separate
//! `riffle` processes, jobs submitted through the REST API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills its processes when dropped, so a failed test leaves nothing behind.
struct Cluster {
    processes: Vec<Child>,
    rest: String,
    rpc_port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn properties(rpc_port: u16, rest_port: u16) -> String {
    format!(
        "jobmanager.rpc.address: 127.0.0.1\njobmanager.rpc.port: {rpc_port}\n\
         rest.address: 127.0.0.1\nrest.bind-address: 127.0.0.1\nrest.port: {rest_port}\n\
         taskmanager.bind-host: 127.0.0.1\ntaskmanager.host: 127.0.0.1\n\
         taskmanager.numberOfTaskSlots: 2\nheartbeat.interval: 500 ms\nheartbeat.timeout: 5 s\n"
    )
}

impl Cluster {
    fn start(taskmanagers: usize) -> Cluster {
        let (rpc_port, rest_port) = (free_port(), free_port());
        let mut c = Cluster {
            processes: Vec::new(),
            rest: format!("127.0.0.1:{rest_port}"),
            rpc_port,
        };
        c.spawn("jobmanager");
        for _ in 0..taskmanagers {
            c.spawn("taskmanager");
        }
        c.wait_for(
            |o| o["taskmanagers"].as_u64() == Some(taskmanagers as u64),
            "/overview",
        );
        c
    }

    fn spawn(&mut self, role: &str) {
        let rest_port: u16 = self.rest.rsplit(':').next().unwrap().parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .arg(role)
            .env("RIFFLE_PROPERTIES", properties(self.rpc_port, rest_port))
            .env_remove("RIFFLE_CONF_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.processes.push(child);
    }

    fn get(&self, path: &str) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        match agent.get(format!("http://{}/v1{path}", self.rest)).call() {
            Ok(mut r) => r.body_mut().read_json().unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    fn wait_for(&self, ok: impl Fn(&Value) -> bool, path: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.get(path);
            if ok(&v) {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting on {path}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn submit(&self, file: &str, extra: &[&str]) -> String {
        let mut args = vec!["run", "-m", &self.rest, "-d", "-p", "4"];
        args.extend_from_slice(extra);
        args.push(file);
        let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout.trim().rsplit(' ').next().unwrap().to_string()
    }

    fn wait_finished(&self, id: &str) {
        self.wait_for(
            |v| {
                let s = v["status"].as_str().unwrap_or("");
                assert!(s != "FAILED" && s != "CANCELED", "job ended {s}");
                s == "FINISHED"
            },
            &format!("/jobs/{id}/status"),
        );
    }
}

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
