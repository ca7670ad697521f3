//! Deeply nested SQL (issue 15, case 1): no statement may overflow a stack,
//! neither the CLI's nor a session JobManager's (and with it every job on
//! the cluster), nor a task thread's when the expression is evaluated.
//! Long `AND`/`OR` lists plan and run; other expressions deeper than the
//! planner's limit are refused with a SQL error naming the limit and the
//! place.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Cluster;
use serde_json::Value;

/// The planner's limit on expression nesting (`riffle_sql::depth`).
const LIMIT: usize = 250;

fn riffle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("riffle runs")
}

/// `ids` rows 1, 2, ... written (as JSON) to `out` through `select ... where`.
fn script(ids: u64, select: &str, filter: &str, out: &Path) -> String {
    format!(
        "CREATE TABLE src (id BIGINT) WITH (
            'connector' = 'datagen', 'number-of-rows' = '{ids}',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ids}');
        CREATE TABLE k (v BIGINT) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
        INSERT INTO k SELECT {select} FROM src WHERE {filter};",
        out.display()
    )
}

/// The `v` column of every row written under `dir`, sorted.
fn values(dir: &Path) -> Vec<i64> {
    let mut v = Vec::new();
    if dir.exists() {
        for e in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for line in text.lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                v.push(row["v"].as_i64().unwrap());
            }
        }
    }
    v.sort_unstable();
    v
}

/// `id = a OR id = a + step OR ...`, `terms` terms.
fn or_chain(first: u64, step: u64, terms: u64) -> String {
    (0..terms)
        .map(|i| format!("id = {}", first + i * step))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// `id + id + ...`, `terms` terms.
fn sum_chain(terms: usize) -> String {
    vec!["id"; terms].join(" + ")
}

fn run_embedded(dir: &Path, name: &str, sql: &str) -> Output {
    let file = dir.join(name);
    std::fs::write(&file, sql).unwrap();
    riffle(&["run", "--quiet", file.to_str().unwrap()])
}

#[test]
fn a_5000_term_or_chain_runs_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Every third id of 1..=15000 matches; the source has 20 rows.
    let sql = script(20, "id", &or_chain(3, 3, 5000), &out);
    let o = run_embedded(dir.path(), "or.sql", &sql);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(values(&out), vec![3, 6, 9, 12, 15, 18]);
}

#[test]
fn a_3000_term_sum_is_a_sql_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sql = script(20, &format!("\n       {}", sum_chain(3000)), "id > 0", &out);
    let o = run_embedded(dir.path(), "sum.sql", &sql);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "SQL validation error at 7:8: expression nests deeper than {LIMIT} levels \
             (the planner's limit)"
        )),
        "{err}"
    );
}

/// An expression at the limit plans, and evaluates on the task threads.
#[test]
fn an_expression_at_the_limit_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sql = script(5, &sum_chain(LIMIT), "id > 0", &out);
    let o = run_embedded(dir.path(), "limit.sql", &sql);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let limit = LIMIT as i64;
    assert_eq!(
        values(&out),
        vec![limit, 2 * limit, 3 * limit, 4 * limit, 5 * limit]
    );
    // One level more is refused.
    let sql = script(5, &sum_chain(LIMIT + 1), "id > 0", &out);
    let o = run_embedded(dir.path(), "over.sql", &sql);
    assert_eq!(o.status.code(), Some(1));
}

/// Parentheses nested past the parser's limit: a parse error at the place,
/// never at "0:0".
#[test]
fn nesting_past_the_parser_limit_names_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let nested = format!("{}id{}", "(".repeat(60), ")".repeat(60));
    let sql = script(5, &nested, "id > 0", &out);
    let o = run_embedded(dir.path(), "parens.sql", &sql);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("SQL parse error at 6:"), "{err}");
    assert!(err.contains("deeper than 50 levels"), "{err}");
    assert!(!err.contains("0:0"), "{err}");
}

/// The JobManager of a session cluster survives 100,000-term chains
/// submitted over REST, and the job already running on it keeps running:
/// a sum is refused with the SQL error, an `OR` list plans and runs.
#[test]
fn a_session_cluster_survives_100k_term_chains() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(1);
    let endless = serde_json::json!({
        "script": "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10');
                   CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
                   INSERT INTO b SELECT k FROM s;",
        "parallelism": 1,
    });
    let (status, answer) = cluster.post("/sql/jobs", &endless);
    assert_eq!(status, 202, "{answer}");
    let running = answer["jobid"].as_str().unwrap().to_string();
    let running_status = format!("/jobs/{running}/status");
    cluster.wait_for(|v| v["status"] == "RUNNING", &running_status);

    let out = dir.path().join("sum");
    let sum = serde_json::json!({
        "script": script(20, &sum_chain(100_000), "id > 0", &out),
        "parallelism": 1,
    });
    let (status, answer) = cluster.post("/sql/jobs", &sum);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]
            .as_str()
            .unwrap()
            .contains(&format!("nests deeper than {LIMIT} levels")),
        "{answer}"
    );

    let out = dir.path().join("or");
    let or = serde_json::json!({
        "script": script(20, "id", &or_chain(2, 2, 100_000), &out),
        "parallelism": 1,
    });
    let (status, answer) = cluster.post("/sql/jobs", &or);
    assert_eq!(status, 202, "{answer}");
    cluster.wait_finished(answer["jobid"].as_str().unwrap());
    assert_eq!(values(&out), (1..=10).map(|i| i * 2).collect::<Vec<_>>());

    // An expression at the limit runs on the cluster too, and its plan
    // (which prints the expression) is served over REST.
    let out = dir.path().join("limit");
    let limit = serde_json::json!({
        "script": script(3, &sum_chain(LIMIT), "id > 0", &out),
        "parallelism": 1,
    });
    let (status, answer) = cluster.post("/sql/jobs", &limit);
    assert_eq!(status, 202, "{answer}");
    let id = answer["jobid"].as_str().unwrap();
    cluster.wait_finished(id);
    let plan = cluster.get(&format!("/jobs/{id}/plan"));
    assert!(plan["plan"]["nodes"].is_array(), "{plan}");
    let l = LIMIT as i64;
    assert_eq!(values(&out), vec![l, 2 * l, 3 * l]);

    // Nothing crashed, and the first job never stopped.
    for p in &mut cluster.processes {
        assert!(p.try_wait().unwrap().is_none(), "a cluster process exited");
    }
    assert_eq!(cluster.get(&running_status)["status"], "RUNNING");
    assert_eq!(cluster.get("/overview")["jobs-running"], 1);
}
