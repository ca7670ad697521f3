//! Fault tolerance on a real cluster: TaskManagers killed with SIGKILL while a
//! checkpointed job writes through the exactly-once filesystem sink (on a
//! local disk and on a real S3 server), stop-with-savepoint and a restore
//! with another parallelism, and a corrupt checkpoint that recovery steps
//! over. Every check compares the committed output with a failure-free run
//! of the same query: no row lost, none duplicated.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, free_port};
use serde_json::Value;

/// Events per second of event time (and of wall-clock time when paced).
const RATE: u64 = 150_000;

/// A bounded Nexmark job with an unbounded aggregation (a changelog written
/// as debezium-json) and a tumbling-window aggregation (append-only json),
/// both into the filesystem sink under `out` (a path or an s3:// URL).
/// Events carry the times of `RATE` events per second; `paced` emits them at
/// that rate on the wall clock, else as fast as possible (same events).
fn nexmark_job(dir: &Path, out: &str, events: u64, paced: bool) -> String {
    let pacing = format!(
        "'max-emit-speed' = '{}', 'first-event.rate' = '{RATE}'",
        !paced
    );
    let sql = format!(
        "CREATE TABLE datagen (
            event_type INT,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS bid.`dateTime`,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', {pacing});
        CREATE VIEW bids AS SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, `dateTime`
            FROM datagen WHERE event_type = 2;
        CREATE TABLE per_auction (auction BIGINT, n BIGINT, total BIGINT, top BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{out}/per_auction', 'format' = 'debezium-json',
            'sink.rolling-policy.file-size' = '256kb');
        CREATE TABLE per_second (auction BIGINT, window_start TIMESTAMP(3), n BIGINT, bidders BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{out}/per_second', 'format' = 'json',
            'sink.rolling-policy.file-size' = '256kb');
        INSERT INTO per_auction SELECT auction, COUNT(*), SUM(price), MAX(price) FROM bids GROUP BY auction;
        INSERT INTO per_second
            SELECT auction, window_start, COUNT(*), COUNT(DISTINCT bidder)
            FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND))
            GROUP BY auction, window_start, window_end;\n"
    );
    let file = dir.join(format!("job-{paced}-{}.sql", out.len()));
    std::fs::write(&file, sql).unwrap();
    file.to_string_lossy().into_owned()
}

/// The committed output under `root`: the window rows (sorted) and the
/// changelog folded into its final rows. Folding fails on a duplicate
/// insertion or a retraction of a row that is not there, so a duplicated
/// or lost change cannot hide behind an equal end result. Files are read in
/// the order they were written (a key's changes are in one subtask's files,
/// one after the other).
fn committed(root: &Path) -> (Vec<String>, BTreeMap<i64, Value>) {
    let visible = |dir: PathBuf| -> Vec<String> {
        let mut files = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        for e in entries {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().starts_with("part-") {
                let modified = e.metadata().unwrap().modified().unwrap();
                files.push((modified, e.path()));
            }
        }
        files.sort();
        let mut lines = Vec::new();
        for (_, path) in files {
            let text = std::fs::read_to_string(path).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
        lines
    };
    let mut windows = visible(root.join("per_second"));
    windows.sort();
    let mut folded: BTreeMap<i64, Value> = BTreeMap::new();
    for line in visible(root.join("per_auction")) {
        let v: Value = serde_json::from_str(&line).unwrap();
        match v["op"].as_str().unwrap() {
            "c" => {
                let row = &v["after"];
                let key = row["auction"].as_i64().unwrap();
                let prev = folded.insert(key, row.clone());
                assert!(prev.is_none(), "auction {key} inserted twice: {line}");
            }
            "d" => {
                let row = &v["before"];
                let key = row["auction"].as_i64().unwrap();
                let prev = folded.remove(&key);
                assert_eq!(
                    prev.as_ref(),
                    Some(row),
                    "retraction of a row not in the result: {line}"
                );
            }
            other => panic!("unknown op {other}"),
        }
    }
    (windows, folded)
}

/// The failure-free result: the same query run embedded, unpaced, without checkpoints.
fn expected(dir: &Path, events: u64) -> (Vec<String>, BTreeMap<i64, Value>) {
    let out = dir.join("expected");
    let file = nexmark_job(dir, out.to_str().unwrap(), events, false);
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["run", "--quiet", "-p", "2", &file])
        .env_remove("RIFFLE_CONF_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = committed(&out);
    assert!(r.0.len() > 1000 && r.1.len() > 100, "too little output");
    r
}

fn checkpointing(dir: &str) -> String {
    format!(
        "execution.checkpointing.interval: 1 s\nexecution.checkpointing.dir: {dir}\n\
         execution.checkpointing.num-retained: 2\n\
         restart-strategy.type: fixed-delay\nrestart-strategy.fixed-delay.attempts: 50\n\
         restart-strategy.fixed-delay.delay: 200 ms\n"
    )
}

/// A small deterministic random sequence (the test's own, so runs repeat).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Kills a random TaskManager `kills` times at random moments while job `id`
/// runs, starting a replacement each time; returns the number of kills made.
fn kill_taskmanagers(cluster: &mut Cluster, id: &str, kills: usize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut made = 0;
    let status = format!("/jobs/{id}/status");
    for _ in 0..kills {
        cluster.wait_for(
            |v| v["status"] == "RUNNING" || v["status"] == "FINISHED",
            &status,
        );
        std::thread::sleep(Duration::from_millis(700 + rng.below(1500)));
        if cluster.get(&status)["status"] == "FINISHED" {
            break;
        }
        // Process 0 is the JobManager.
        let victim = 1 + rng.below(cluster.processes.len() as u64 - 1) as usize;
        let mut p = cluster.processes.remove(victim);
        cluster.metrics_ports.remove(victim);
        p.kill().unwrap();
        p.wait().unwrap();
        made += 1;
        cluster.spawn("taskmanager");
    }
    made
}

fn wait_finished(cluster: &Cluster, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = cluster.get(&format!("/jobs/{id}/status"));
        match v["status"].as_str().unwrap_or("") {
            "FINISHED" => return v,
            s @ ("FAILED" | "CANCELED") => {
                let ex = cluster.get(&format!("/jobs/{id}/exceptions"));
                panic!("job ended {s}: {ex}");
            }
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "job did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn restarts(cluster: &Cluster, id: &str) -> u64 {
    let m = cluster.get(&format!("/jobs/{id}/metrics?get=numRestarts"));
    m[0]["value"].as_str().unwrap().parse().unwrap()
}

#[test]
fn exactly_once_output_survives_five_taskmanager_kills() {
    let dir = tempfile::tempdir().unwrap();
    let events = 3_000_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let mut cluster = Cluster::start_with(2, &checkpointing(ck.to_str().unwrap()));
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    let kills = kill_taskmanagers(&mut cluster, &id, 5, 7);
    assert_eq!(kills, 5, "the job ended before five kills");
    wait_finished(&cluster, &id);
    assert!(restarts(&cluster, &id) >= 5);
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert!(
        stats["counts"]["completed"].as_u64().unwrap() >= 3,
        "{}",
        stats["counts"]
    );
    assert!(stats["counts"]["restored"].as_u64().unwrap() >= 1);
    let got = committed(&out);
    assert_eq!(got.0.len(), want.0.len(), "window rows");
    assert!(got.0 == want.0, "window rows differ");
    assert!(got.1 == want.1, "aggregate results differ");
}

/// A running s3s-fs (an S3 API over a local directory); killed on drop.
struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts s3s-fs with bucket `riffle`; `None` (saying why) when the
    /// binary is missing, unless `RIFFLE_REQUIRE_S3=1`.
    fn start() -> Option<S3Server> {
        let bin = std::env::var_os("RIFFLE_S3S_FS")
            .map(PathBuf::from)
            .or_else(|| {
                let home = std::env::var_os("HOME")?;
                Some(PathBuf::from(home).join(".cache/riffle/s3s/bin/s3s-fs"))
            })
            .filter(|p| p.exists());
        let Some(bin) = bin else {
            assert!(
                std::env::var("RIFFLE_REQUIRE_S3").as_deref() != Ok("1"),
                "s3s-fs not found and RIFFLE_REQUIRE_S3=1 (run .ci/install-s3s.sh)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "skipped: s3s-fs not found (set RIFFLE_S3S_FS or run .ci/install-s3s.sh)"
            );
            return None;
        };
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("riffle")).unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                "riffle-key",
                "--secret-key",
                "riffle-secret",
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(S3Server { child, port, root })
    }

    fn config(&self) -> String {
        format!(
            "s3.endpoint: http://127.0.0.1:{}\ns3.path.style.access: true\n\
             s3.access-key: riffle-key\ns3.secret-key: riffle-secret\n",
            self.port
        )
    }
}

#[test]
fn exactly_once_output_on_s3_survives_taskmanager_kills() {
    let Some(s3) = S3Server::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let events = 2_000_000;
    let want = expected(dir.path(), events);
    let extra = checkpointing("s3://riffle/ck") + &s3.config();
    let mut cluster = Cluster::start_with(2, &extra);
    let file = nexmark_job(dir.path(), "s3://riffle/out", events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    let kills = kill_taskmanagers(&mut cluster, &id, 5, 11);
    assert_eq!(kills, 5, "the job ended before five kills");
    wait_finished(&cluster, &id);
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    assert!(stats["counts"]["completed"].as_u64().unwrap() >= 3);
    let path = stats["latest"]["completed"]["external_path"]
        .as_str()
        .unwrap();
    assert!(path.starts_with("s3://riffle/ck/"), "{path}");
    // s3s-fs keeps objects as files under its root.
    let got = committed(&s3.root.path().join("riffle/out"));
    assert!(got.0 == want.0, "window rows differ");
    assert!(got.1 == want.1, "aggregate results differ");
}

/// `riffle stop -p DIR` of job `id`; the savepoint's path.
fn riffle(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env_remove("RIFFLE_CONF_DIR")
        .output()
        .unwrap()
}

#[test]
fn stop_with_savepoint_then_restore_with_another_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let events = 1_500_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let sp = dir.path().join("savepoints");
    let out = dir.path().join("out");
    let cluster = Cluster::start_with(2, &checkpointing(ck.to_str().unwrap()));
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    cluster.wait_for(|v| v["status"] == "RUNNING", &format!("/jobs/{id}/status"));
    std::thread::sleep(Duration::from_secs(3));
    // A savepoint while running, then stop with one.
    let o = riffle(&["savepoint", "-m", &cluster.rest, &id, sp.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("Savepoint completed. Path: "), "{text}");
    std::thread::sleep(Duration::from_secs(1));
    let savepoint = common::stop_with_savepoint(&cluster, &id, &sp);
    assert!(Path::new(&savepoint).join("_metadata").exists());
    wait_finished(&cluster, &id);
    let partial = committed(&out);
    assert!(partial.0.len() < want.0.len(), "the job was stopped early");
    // Moved elsewhere: savepoints are self-contained.
    let moved = dir.path().join("moved-savepoint");
    std::fs::rename(&savepoint, &moved).unwrap();
    let moved = moved.to_str().unwrap();
    // A different query cannot take the state without --allowNonRestoredState.
    let other = dir.path().join("other.sql");
    std::fs::write(
        &other,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("MAX(price)", "MIN(price)")
            .replace("GROUP BY auction;", "GROUP BY auction HAVING COUNT(*) > 0;"),
    )
    .unwrap();
    let o = riffle(&[
        "run",
        "-m",
        &cluster.rest,
        "-d",
        "-s",
        moved,
        other.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("--allowNonRestoredState") || err.contains("cannot follow"),
        "{err}"
    );
    // Resume the same query from the savepoint with parallelism 3.
    let o = riffle(&[
        "run",
        "-m",
        &cluster.rest,
        "-d",
        "-p",
        "3",
        "-s",
        moved,
        &file,
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let id2 = text.trim().rsplit(' ').next().unwrap().to_string();
    wait_finished(&cluster, &id2);
    let stats = cluster.get(&format!("/jobs/{id2}/checkpoints"));
    assert_eq!(stats["latest"]["restored"]["is_savepoint"], true, "{stats}");
    let got = committed(&out);
    assert!(
        got.0 == want.0,
        "window rows differ after the rescaled restore"
    );
    assert!(
        got.1 == want.1,
        "aggregate results differ after the rescaled restore"
    );
    // Disposing the savepoint deletes it.
    let o = riffle(&["savepoint", "-m", &cluster.rest, "-d", moved]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!Path::new(moved).exists());
}

#[test]
fn a_corrupt_checkpoint_falls_back_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let events = 1_500_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let extra = checkpointing(ck.to_str().unwrap()).replace("delay: 200 ms", "delay: 3 s");
    let mut cluster = Cluster::start_with(1, &extra);
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    cluster.wait_for(
        |v| v["counts"]["completed"].as_u64().unwrap_or(0) >= 3,
        &format!("/jobs/{id}/checkpoints"),
    );
    // Kill the only TaskManager; while the job waits to restart, damage
    // every state file of the latest checkpoint.
    let mut tm = cluster.processes.remove(1);
    cluster.metrics_ports.remove(1);
    tm.kill().unwrap();
    tm.wait().unwrap();
    cluster.wait_for(
        |v| v["status"] == "RESTARTING",
        &format!("/jobs/{id}/status"),
    );
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    let latest = stats["latest"]["completed"]["external_path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut damaged = 0;
    for e in std::fs::read_dir(&latest).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "_metadata" {
            let mut bytes = std::fs::read(&p).unwrap();
            let n = bytes.len() / 2;
            bytes[n] ^= 0xFF;
            std::fs::write(&p, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0);
    cluster.spawn("taskmanager");
    wait_finished(&cluster, &id);
    let ex = cluster.get(&format!("/jobs/{id}/exceptions"));
    assert!(ex.to_string().contains("checksum"), "{ex}");
    let stats = cluster.get(&format!("/jobs/{id}/checkpoints"));
    let restored = stats["latest"]["restored"]["external_path"]
        .as_str()
        .unwrap();
    assert_ne!(restored, latest, "restored from the damaged checkpoint");
    // The damaged checkpoint's output was committed before it broke, so the
    // older one replays some of it again (exactly-once holds only for the
    // latest checkpoint, as in Flink); but nothing may be missing.
    let got = visible_rows(&out.join("per_second"));
    let mut missing = want.0.clone();
    for row in &got {
        if let Ok(i) = missing.binary_search(row) {
            missing.remove(i);
        }
    }
    assert!(missing.is_empty(), "{} window rows lost", missing.len());
}

/// The rows of the visible part files under `dir`, sorted.
fn visible_rows(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

#[test]
fn a_restarted_jobmanager_resumes_the_job_from_its_latest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let events = 2_000_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    // An application cluster: the JobManager runs one job with a seeded id.
    let mut cluster = Cluster::start_with(1, &checkpointing(ck.to_str().unwrap()));
    let standalone = |cluster: &mut Cluster| {
        let rest_port: u16 = cluster.rest.rsplit(':').next().unwrap().parse().unwrap();
        let props = common::properties(cluster.rpc_port, rest_port, free_port()) + &cluster.extra;
        Command::new(env!("CARGO_BIN_EXE_riffle"))
            .args([
                "standalone-job",
                "--job-file",
                &file,
                "--job-id-seed",
                "resume-me",
            ])
            .args(["-D", "parallelism.default=2"])
            .env("RIFFLE_PROPERTIES", props)
            .env_remove("RIFFLE_CONF_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Replace the session JobManager the helper started.
    let mut jm = cluster.processes.remove(0);
    jm.kill().unwrap();
    jm.wait().unwrap();
    let mut jm = standalone(&mut cluster);
    let id = cluster.wait_for(|v| v["jobs"][0]["status"] == "RUNNING", "/jobs")["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.wait_for(
        |v| v["counts"]["completed"].as_u64().unwrap_or(0) >= 2,
        &format!("/jobs/{id}/checkpoints"),
    );
    // The JobManager dies; a new one with the same seed takes over.
    jm.kill().unwrap();
    jm.wait().unwrap();
    let mut jm = standalone(&mut cluster);
    cluster.wait_for(|v| v["jobs"][0]["id"] == id.as_str(), "/jobs");
    let stats = cluster.wait_for(
        |v| v["counts"]["restored"].as_u64() == Some(1),
        &format!("/jobs/{id}/checkpoints"),
    );
    assert!(
        stats["latest"]["restored"]["id"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    let status = jm.wait().unwrap();
    assert!(status.success(), "the standalone job failed: {status}");
    let got = committed(&out);
    assert!(got.0 == want.0, "window rows differ");
    assert!(got.1 == want.1, "aggregate results differ");
    // The checkpoint the second JobManager restored is its own: nothing of
    // the job is left in the checkpoint directory, and its end is recorded.
    assert!(
        !ck.join(&id).exists(),
        "checkpoints of the ended job are left"
    );
    assert!(
        ck.join("job-result-store")
            .join(format!("{id}.json"))
            .exists()
    );
    // Started once more, as a restarted pod would be: the recorded result is
    // reported and nothing runs, so the committed output is unchanged.
    let status = standalone(&mut cluster).wait().unwrap();
    assert!(status.success(), "a finished job's second start: {status}");
    let again = committed(&out);
    assert!(again.0 == want.0, "window rows changed by a second start");
    assert!(
        again.1 == want.1,
        "aggregate results changed by a second start"
    );
}

/// An undisturbed standalone job started again after it finished reports
/// its recorded result instead of running (no duplicate row); `--rerun`
/// runs it anew on purpose; a damaged record is an error, not a rerun.
#[test]
fn a_finished_standalone_job_is_not_run_again_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let file = dir.path().join("job.sql");
    std::fs::write(
        &file,
        format!(
            "CREATE TABLE src (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3000',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '3000');
             CREATE TABLE snk (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
             INSERT INTO snk SELECT id FROM src;\n",
            out.display()
        ),
    )
    .unwrap();
    let mut cluster = Cluster::start_with(1, &checkpointing(ck.to_str().unwrap()));
    let mut jm = cluster.processes.remove(0);
    jm.kill().unwrap();
    jm.wait().unwrap();
    let run = |cluster: &Cluster, extra: &[&str]| {
        // The TaskManagers know the JobManager by its RPC port only; the REST
        // port is a fresh one each time (the killed JobManager's, reused, could
        // meanwhile be another test's).
        let props = common::properties(cluster.rpc_port, free_port(), free_port()) + &cluster.extra;
        Command::new(env!("CARGO_BIN_EXE_riffle"))
            .args(["standalone-job", "--job-file", file.to_str().unwrap()])
            .args(["--job-id-seed", "once"])
            .args(extra)
            .env("RIFFLE_PROPERTIES", props)
            .env_remove("RIFFLE_CONF_DIR")
            .output()
            .unwrap()
    };
    let first = run(&cluster, &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let want: Vec<String> = {
        let mut v: Vec<String> = (1..=3000).map(|i| format!("{{\"id\":{i}}}")).collect();
        v.sort();
        v
    };
    assert_eq!(visible_rows(&out), want);

    let second = run(&cluster, &[]);
    let log = String::from_utf8_lossy(&second.stderr).into_owned()
        + &String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{log}");
    assert!(
        log.contains("already ended") && log.contains("FINISHED"),
        "{log}"
    );
    assert!(
        log.contains("--rerun"),
        "the way to run it anew is named: {log}"
    );
    assert_eq!(visible_rows(&out), want, "a second start wrote rows");

    let third = run(&cluster, &["--rerun"]);
    assert!(
        third.status.success(),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
    let mut twice: Vec<String> = want.iter().chain(want.iter()).cloned().collect();
    twice.sort();
    assert_eq!(visible_rows(&out), twice, "--rerun runs the job once more");

    let id = riffle_rpc::JobId::from_seed("once");
    let entry = ck.join("job-result-store").join(format!("{id}.json"));
    std::fs::write(&entry, b"{damaged").unwrap();
    let fourth = run(&cluster, &[]);
    let err = String::from_utf8_lossy(&fourth.stderr);
    assert!(
        !fourth.status.success(),
        "a damaged record must not run the job"
    );
    assert!(
        err.contains("damaged") && err.contains(&format!("{id}.json")),
        "{err}"
    );
    assert_eq!(visible_rows(&out), twice);
}

/// `nexmark_job` with `SET` statements in front of it.
fn with_sets(file: &str, sets: &[(&str, &str)]) -> String {
    let mut sql: String = sets
        .iter()
        .map(|(k, v)| format!("SET '{k}' = '{v}';\n"))
        .collect();
    sql.push_str(&std::fs::read_to_string(file).unwrap());
    let out = format!("{file}.set.sql");
    std::fs::write(&out, sql).unwrap();
    out
}

/// Checkpointing enabled only by the script's `SET`, no restart strategy
/// anywhere: as in Flink 2, the job restarts with exponential delay after a
/// TaskManager is killed, and its output equals an undisturbed run's.
#[test]
fn checkpointing_set_in_the_script_makes_a_killed_job_restart() {
    let dir = tempfile::tempdir().unwrap();
    let events = 1_000_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let mut cluster = Cluster::start(2);
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    let file = with_sets(
        &file,
        &[
            ("execution.checkpointing.interval", "1s"),
            ("execution.checkpointing.dir", ck.to_str().unwrap()),
        ],
    );
    let id = cluster.submit_with(&file, &["-p", "2"]);
    let kills = kill_taskmanagers(&mut cluster, &id, 1, 3);
    assert_eq!(kills, 1, "the job ended before the kill");
    wait_finished(&cluster, &id);
    assert!(restarts(&cluster, &id) >= 1);
    let config = cluster.get(&format!("/jobs/{id}/config"));
    assert!(
        config["execution-config"]["restart-strategy"]
            .as_str()
            .unwrap()
            .starts_with("exponential-delay"),
        "{config}"
    );
    // The job's resolved configuration shows the script's value; the
    // cluster's does not have it.
    let entry = |list: &Value, key: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["value"].clone())
    };
    let job_conf = cluster.get(&format!("/jobs/{id}/jobmanager/config"));
    assert_eq!(
        entry(&job_conf, "execution.checkpointing.interval"),
        Some(Value::from("1s"))
    );
    let cluster_conf = cluster.get("/jobmanager/config");
    assert_eq!(
        entry(&cluster_conf, "execution.checkpointing.interval"),
        None
    );
    assert_eq!(
        entry(&cluster_conf, "heartbeat.interval"),
        Some(Value::from("500 ms"))
    );
    let got = committed(&out);
    assert!(got.0 == want.0, "window rows differ");
    assert!(got.1 == want.1, "aggregate results differ");
}

/// An explicit `restart-strategy.type: none` still wins over the default
/// that checkpointing brings: the first TaskManager loss fails the job.
#[test]
fn an_explicit_no_restart_strategy_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let mut cluster = Cluster::start(2);
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), 1_000_000, true);
    let file = with_sets(
        &file,
        &[
            ("execution.checkpointing.interval", "1s"),
            ("execution.checkpointing.dir", ck.to_str().unwrap()),
            ("restart-strategy.type", "none"),
        ],
    );
    let id = cluster.submit_with(&file, &["-p", "2"]);
    assert_eq!(kill_taskmanagers(&mut cluster, &id, 1, 3), 1);
    let status = cluster.wait_for(
        |v| v["status"] == "FAILED" || v["status"] == "FINISHED",
        &format!("/jobs/{id}/status"),
    );
    assert_eq!(status["status"], "FAILED");
    assert_eq!(restarts(&cluster, &id), 0, "restarted despite 'none'");
    let config = cluster.get(&format!("/jobs/{id}/config"));
    assert_eq!(config["execution-config"]["restart-strategy"], "none");
}

/// The number of TaskManagers the JobManager has registered.
fn registered_taskmanagers(cluster: &Cluster) -> usize {
    cluster.get("/taskmanagers")["taskmanagers"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A TaskManager frozen (SIGSTOP) for twice `heartbeat.timeout` is dropped
/// by the JobManager; once it resumes it is told so, cancels its stale
/// tasks and registers again within two heartbeat intervals; the job runs
/// on its slots again, and the committed output equals an undisturbed
/// run's (no file of the stale tasks becomes visible).
#[test]
fn a_taskmanager_paused_past_the_heartbeat_timeout_rejoins_and_nothing_stale_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let events = 4_000_000;
    let want = expected(dir.path(), events);
    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let (interval_ms, timeout_ms) = (1000u64, 4000u64);
    let extra = checkpointing(ck.to_str().unwrap())
        + &format!("heartbeat.interval: {interval_ms} ms\nheartbeat.timeout: {timeout_ms} ms\n");
    let cluster = Cluster::start_with(1, &extra);
    let file = nexmark_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    cluster.wait_for(
        |v| v["counts"]["completed"].as_u64().unwrap_or(0) >= 1,
        &format!("/jobs/{id}/checkpoints"),
    );
    // Process 1 is the only TaskManager.
    common::signal(&cluster.processes[1], "-STOP");
    let paused = Instant::now();
    let start = Instant::now();
    while registered_taskmanagers(&cluster) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the TaskManager was never dropped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2 * timeout_ms).saturating_sub(paused.elapsed()));
    common::signal(&cluster.processes[1], "-CONT");
    let resumed = Instant::now();
    while registered_taskmanagers(&cluster) == 0 {
        assert!(
            resumed.elapsed() < Duration::from_secs(60),
            "the TaskManager never rejoined"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rejoined = resumed.elapsed();
    eprintln!("rejoined {} ms after resuming", rejoined.as_millis());
    assert!(
        rejoined <= Duration::from_millis(2 * interval_ms),
        "rejoined only after {rejoined:?}"
    );
    wait_finished(&cluster, &id);
    assert!(restarts(&cluster, &id) >= 1);
    let got = committed(&out);
    assert_eq!(got.0.len(), want.0.len(), "window rows");
    assert!(got.0 == want.0, "window rows differ");
    assert!(got.1 == want.1, "aggregate results differ");
}

/// A bounded Nexmark job with an outer join of auctions and a bid-count
/// aggregate (an updating input) into a debezium-json changelog under `out`.
fn join_job(dir: &Path, out: &str, events: u64, paced: bool) -> String {
    let sql = format!(
        "CREATE TABLE datagen (
            event_type INT,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', 'max-emit-speed' = '{}',
                'first-event.rate' = '{RATE}');
        CREATE VIEW auctions AS SELECT auction.id AS id, auction.seller AS seller FROM datagen WHERE event_type = 1;
        CREATE VIEW bids AS SELECT bid.auction AS auction, bid.price AS price FROM datagen WHERE event_type = 2;
        CREATE TABLE joined (id BIGINT, seller BIGINT, n BIGINT, top BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{out}', 'format' = 'debezium-json',
            'sink.rolling-policy.file-size' = '256kb');
        INSERT INTO joined
            SELECT A.id, A.seller, C.n, C.top
            FROM auctions AS A
            LEFT JOIN (SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bids GROUP BY auction) AS C
            ON A.id = C.auction;\n",
        !paced
    );
    let file = dir.join(format!("join-{paced}-{}.sql", out.len()));
    std::fs::write(&file, sql).unwrap();
    file.to_string_lossy().into_owned()
}

/// The committed changelog under `root` folded by `id` (one row per
/// auction at any time); a duplicated or lost change fails the fold.
fn folded_by_id(root: &Path) -> BTreeMap<i64, Value> {
    let mut files: Vec<_> = std::fs::read_dir(root)
        .map(|d| d.map(|e| e.unwrap()).collect())
        .unwrap_or_default();
    files.retain(|e: &std::fs::DirEntry| e.file_name().to_string_lossy().starts_with("part-"));
    files.sort_by_key(|e| e.metadata().unwrap().modified().unwrap());
    let mut folded: BTreeMap<i64, Value> = BTreeMap::new();
    for e in files {
        for line in std::fs::read_to_string(e.path()).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            match v["op"].as_str().unwrap() {
                "c" => {
                    let key = v["after"]["id"].as_i64().unwrap();
                    let prev = folded.insert(key, v["after"].clone());
                    assert!(prev.is_none(), "auction {key} inserted twice: {line}");
                }
                "d" => {
                    let key = v["before"]["id"].as_i64().unwrap();
                    let prev = folded.remove(&key);
                    assert_eq!(
                        prev.as_ref(),
                        Some(&v["before"]),
                        "not in the result: {line}"
                    );
                }
                other => panic!("unknown op {other}"),
            }
        }
    }
    folded
}

#[test]
fn a_join_resumes_from_a_savepoint_at_another_parallelism_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let events = 1_500_000;
    let expected_out = dir.path().join("expected");
    let file = join_job(dir.path(), expected_out.to_str().unwrap(), events, false);
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["run", "--quiet", "-p", "2", &file])
        .env_remove("RIFFLE_CONF_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = folded_by_id(&expected_out);
    let with_bids = want.values().filter(|r| !r["n"].is_null()).count();
    assert!(want.len() > 1000 && with_bids > 100, "too little output");
    assert!(
        with_bids < want.len(),
        "some auctions must stay without bids"
    );

    let ck = dir.path().join("ck");
    let sp = dir.path().join("savepoints");
    let out = dir.path().join("out");
    let cluster = Cluster::start_with(2, &checkpointing(ck.to_str().unwrap()));
    let file = join_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    cluster.wait_for(|v| v["status"] == "RUNNING", &format!("/jobs/{id}/status"));
    std::thread::sleep(Duration::from_secs(4));
    let savepoint = common::stop_with_savepoint(&cluster, &id, &sp);
    wait_finished(&cluster, &id);
    assert!(
        folded_by_id(&out).len() < want.len(),
        "the job was stopped early"
    );
    let o = riffle(&[
        "run",
        "-m",
        &cluster.rest,
        "-d",
        "-p",
        "3",
        "-s",
        &savepoint,
        &file,
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let id2 = text.trim().rsplit(' ').next().unwrap().to_string();
    wait_finished(&cluster, &id2);
    let got = folded_by_id(&out);
    assert_eq!(
        got.len(),
        want.len(),
        "auctions differ after the rescaled restore"
    );
    assert!(
        got == want,
        "join results differ after the rescaled restore"
    );
}

/// A job with a regular LEFT join over a group aggregate and an event-time
/// OVER aggregate, both into exactly-once filesystem sinks under `out`.
fn join_and_over_job(dir: &Path, out: &str, events: u64, paced: bool) -> String {
    let sql = format!(
        "CREATE TABLE datagen (
            event_type INT,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '{events}', 'max-emit-speed' = '{}',
                'first-event.rate' = '{RATE}');
        CREATE VIEW auctions AS SELECT auction.id AS id, auction.seller AS seller FROM datagen WHERE event_type = 1;
        CREATE VIEW bids AS SELECT bid.auction AS auction, bid.price AS price, `dateTime` FROM datagen WHERE event_type = 2;
        CREATE TABLE joined (id BIGINT, seller BIGINT, n BIGINT, top BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{out}/joined', 'format' = 'debezium-json',
            'sink.rolling-policy.file-size' = '256kb');
        CREATE TABLE over_sums (auction BIGINT, price BIGINT, last_second BIGINT, bids BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{out}/over_sums', 'format' = 'json',
            'sink.rolling-policy.file-size' = '256kb');
        INSERT INTO joined
            SELECT A.id, A.seller, C.n, C.top
            FROM auctions AS A
            LEFT JOIN (SELECT auction, COUNT(*) AS n, MAX(price) AS top FROM bids GROUP BY auction) AS C
            ON A.id = C.auction;
        INSERT INTO over_sums
            SELECT auction, price,
                   SUM(price) OVER w, COUNT(*) OVER w
            FROM bids
            WHERE MOD(auction, 10) = 0
            WINDOW w AS (PARTITION BY auction ORDER BY `dateTime`
                         RANGE BETWEEN INTERVAL '1' SECOND PRECEDING AND CURRENT ROW);\n",
        !paced
    );
    let file = dir.join(format!("join-over-{paced}-{}.sql", out.len()));
    std::fs::write(&file, sql).unwrap();
    file.to_string_lossy().into_owned()
}

/// The committed lines of an append-only sink directory, sorted.
fn appended_rows(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("part-") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
    }
    lines.sort();
    lines
}

#[test]
fn join_and_over_output_survives_taskmanager_kills_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let events = 1_500_000;
    let expected_out = dir.path().join("expected");
    let file = join_and_over_job(dir.path(), expected_out.to_str().unwrap(), events, false);
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(["run", "--quiet", "-p", "2", &file])
        .env_remove("RIFFLE_CONF_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want_join = folded_by_id(&expected_out.join("joined"));
    let want_over = appended_rows(&expected_out.join("over_sums"));
    assert!(
        want_join.len() > 1000 && want_over.len() > 1000,
        "too little output"
    );

    let ck = dir.path().join("ck");
    let out = dir.path().join("out");
    let mut cluster = Cluster::start_with(2, &checkpointing(ck.to_str().unwrap()));
    let file = join_and_over_job(dir.path(), out.to_str().unwrap(), events, true);
    let id = cluster.submit_with(&file, &["-p", "2"]);
    let kills = kill_taskmanagers(&mut cluster, &id, 2, 11);
    assert_eq!(kills, 2, "the job ended before two kills");
    wait_finished(&cluster, &id);
    assert!(restarts(&cluster, &id) >= 2);
    let got_join = folded_by_id(&out.join("joined"));
    assert_eq!(got_join.len(), want_join.len(), "joined auctions");
    assert!(got_join == want_join, "join results differ after the kills");
    let got_over = appended_rows(&out.join("over_sums"));
    assert_eq!(got_over.len(), want_over.len(), "OVER rows");
    assert!(got_over == want_over, "OVER results differ after the kills");
}
