//! Configuration as a user meets it through the real binary: the precedence
//! of its sources (file < FLINK_PROPERTIES < RIFFLE_PROPERTIES < -D < SET),
//! the origin of every value, errors that point at the line, unknown keys
//! with a suggestion, and the generated key reference.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

/// `riffle ARGS` with the configuration directory `conf` and the two
/// properties variables (only those given are set).
fn riffle(args: &[&str], conf: Option<&Path>, flink: Option<&str>, riffle: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riffle"));
    c.args(args)
        .env("NO_COLOR", "1")
        .env_remove("RIFFLE_CONF_DIR")
        .env_remove("FLINK_CONF_DIR")
        .env_remove("RIFFLE_PROPERTIES")
        .env_remove("FLINK_PROPERTIES")
        .env_remove("RIFFLE_LOG");
    if let Some(dir) = conf {
        c.env("FLINK_CONF_DIR", dir);
    }
    if let Some(p) = flink {
        c.env("FLINK_PROPERTIES", p);
    }
    if let Some(p) = riffle {
        c.env("RIFFLE_PROPERTIES", p);
    }
    c.output().expect("riffle runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The line of `key` in `riffle config` output.
fn line_of<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{out}"))
}

#[test]
fn each_source_overrides_the_one_before_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "# cluster file\n\
         parallelism.default: 1\n\
         pipeline.max-parallelism: 64\n\
         table.exec.source.idle-timeout: 1 s\n\
         pipeline.auto-watermark-interval: 100 ms\n\
         execution.checkpointing.min-pause: 1 ms\n",
    )
    .unwrap();
    let sql = dir.path().join("job.sql");
    std::fs::write(
        &sql,
        "SET 'pipeline.auto-watermark-interval' = '50 ms';\n\
         SET 'state.checkpoints.dir' = 'file:///tmp/chk';\n",
    )
    .unwrap();
    let o = riffle(
        &[
            "config",
            "-D",
            "table.exec.source.idle-timeout=3 s",
            "-D",
            "pipeline.auto-watermark-interval=75 ms",
            sql.to_str().unwrap(),
        ],
        Some(dir.path()),
        Some("pipeline.max-parallelism: 96\nexecution.checkpointing.min-pause: 2 ms"),
        Some("execution.checkpointing.min-pause: 3 ms\ntable.exec.source.idle-timeout: 2 s"),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let file = dir.path().join("config.yaml").display().to_string();
    let cases = [
        ("parallelism.default", "1", format!("# {file}:2")),
        (
            "pipeline.max-parallelism",
            "96",
            "# FLINK_PROPERTIES line 1".into(),
        ),
        (
            "execution.checkpointing.min-pause",
            "3 ms",
            "# RIFFLE_PROPERTIES line 1".into(),
        ),
        ("table.exec.source.idle-timeout", "3 s", "# -D".into()),
        (
            "pipeline.auto-watermark-interval",
            "50 ms",
            "# SET at line 1, column 1".into(),
        ),
        // An older key name set by SET shows under the current name.
        (
            "execution.checkpointing.dir",
            "file:///tmp/chk",
            "# SET at line 2, column 1".into(),
        ),
        (
            "execution.checkpointing.timeout",
            "10 min",
            "# default".into(),
        ),
    ];
    for (key, value, origin) in cases {
        let line = line_of(&out, key);
        assert!(
            line.starts_with(&format!("{key}: {value} ")) && line.ends_with(&origin),
            "{key}: want {value} {origin}, got {line:?}"
        );
    }
}

#[test]
fn a_bad_value_names_key_value_form_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "rest:\n  port: 8081\nheartbeat:\n  interval: 10 parsecs\n",
    )
    .unwrap();
    let o = riffle(&["config"], Some(dir.path()), None, None);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    let file = dir.path().join("config.yaml").display().to_string();
    for part in [
        "heartbeat.interval",
        "\"10 parsecs\"",
        "unknown time unit 'parsecs'",
        &format!("from {file}:4"),
    ] {
        assert!(err.contains(part), "{part} missing in: {err}");
    }
    // A SET with a bad value names the statement's position.
    let sql = dir.path().join("bad.sql");
    std::fs::write(&sql, "\n  SET 'parallelism.default' = 'many';\n").unwrap();
    let o = riffle(&["config", sql.to_str().unwrap()], None, None, None);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("parallelism.default") && err.contains("SET at line 2, column 3"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_warned_about_with_the_closest_key() {
    let o = riffle(
        &["config", "-D", "execution.checkpointing.intervall=1 s"],
        None,
        None,
        Some("taskmanager.numberOfTaskslots: 2"),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("'execution.checkpointing.intervall' (-D) is not used by Riffle; did you mean 'execution.checkpointing.interval'?"),
        "{err}"
    );
    assert!(
        err.contains("did you mean 'taskmanager.numberOfTaskSlots'?"),
        "{err}"
    );
    // Unknown keys still show, with their origin.
    assert!(line_of(&out, "execution.checkpointing.intervall").ends_with("# -D"));
}

#[test]
fn secrets_are_masked() {
    let o = riffle(&["config", "-D", "s3.secret-key=hunter2"], None, None, None);
    let (out, _) = text(&o);
    assert!(
        out.contains("s3.secret-key: ******") && !out.contains("hunter2"),
        "{out}"
    );
}

#[test]
fn the_reference_command_prints_docs_config_md() {
    let o = riffle(&["config", "--reference"], None, None, None);
    let (out, _) = text(&o);
    let want =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md"))
            .unwrap();
    assert_eq!(out, want);
}
