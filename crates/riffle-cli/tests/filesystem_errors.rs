//! Issue 15 on the real binary: bad records in the filesystem source (cases
//! 3, 5 and 15) and two jobs writing one path (case 12). Every check reads
//! the committed output row by row.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// `riffle run --quiet -p <parallelism> [-D setting]... FILE`.
fn run(dir: &Path, name: &str, sql: &str, parallelism: u32, settings: &[&str]) -> Output {
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, sql).unwrap();
    let p = parallelism.to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riffle"));
    cmd.args(["run", "--quiet", "-p", &p]);
    for s in settings {
        cmd.args(["-D", s]);
    }
    cmd.arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .expect("riffle runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON rows of the visible part files in `dir` (hidden files must not
/// be left), with how many files there were.
fn committed(dir: &Path) -> (Vec<serde_json::Value>, usize) {
    let mut rows = Vec::new();
    let mut files = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "a hidden file is left: {name}");
        assert!(name.starts_with("part-"), "{name}");
        files += 1;
        let text = std::fs::read_to_string(e.path()).unwrap();
        rows.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
    }
    (rows, files)
}

/// `id` of each row (NULL as `None`), sorted.
fn ids(rows: &[serde_json::Value]) -> Vec<Option<i64>> {
    let mut ids: Vec<Option<i64>> = rows.iter().map(|r| r["id"].as_i64()).collect();
    ids.sort();
    ids
}

/// 20,000 records with ids 1.., record 10,001 with an id that is not a
/// number; `line` formats one record.
fn twenty_thousand(line: impl Fn(Option<i64>) -> String) -> String {
    (1..=20_000)
        .map(|i| line((i != 10_001).then_some(i)) + "\n")
        .collect()
}

fn copy_job(format: &str, input: &Path, out: &Path, options: &str) -> String {
    format!(
        "CREATE TABLE src (id BIGINT, name STRING) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = '{format}'{options});
         CREATE TABLE out (id BIGINT, name STRING) WITH (
            'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         INSERT INTO out SELECT id, name FROM src;",
        input.display(),
        out.display()
    )
}

/// Cases 3 and 15: with `*.ignore-parse-errors` one bad record made the
/// source skip the rest of its file (8,192 of 20,000 rows) and the job
/// still FINISHED. Now the record is kept with its bad field NULL, every
/// other row is there, and the log names file and line.
#[test]
fn ignore_parse_errors_keeps_every_good_row() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "csv"] {
        let input = dir.path().join(format!("in.{format}"));
        let text = if format == "json" {
            twenty_thousand(|id| match id {
                Some(id) => format!("{{\"id\": {id}, \"name\": \"n{id}\"}}"),
                None => "{\"id\": \"ten thousand and one\", \"name\": \"bad\"}".into(),
            })
        } else {
            twenty_thousand(|id| match id {
                Some(id) => format!("{id},n{id}"),
                None => "ten thousand and one,bad".into(),
            })
        };
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join(format!("out-{format}"));
        let option = format!(", '{format}.ignore-parse-errors' = 'true'");
        let o = run(
            dir.path(),
            format,
            &copy_job(format, &input, &out, &option),
            1,
            &[],
        );
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let (rows, _) = committed(&out);
        let by_name: BTreeMap<String, Option<i64>> = rows
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_string(), r["id"].as_i64()))
            .collect();
        assert_eq!(rows.len(), 20_000, "{format}");
        assert_eq!(by_name.len(), 20_000, "{format}: a duplicate row");
        for i in (1..=20_000).filter(|&i| i != 10_001) {
            assert_eq!(by_name.get(&format!("n{i}")), Some(&Some(i)), "{format}");
        }
        // Kept, with the field that does not parse set to NULL (Flink's rule).
        assert_eq!(by_name.get("bad"), Some(&None), "{format}");
        let log = stderr(&o);
        assert!(
            log.contains("read a record with fields set to NULL")
                && log.contains("line=10001")
                && log.contains(&input.display().to_string()),
            "{format}: {log}"
        );
    }
}

/// Case 15: a line that is not a JSON object is skipped, a record whose
/// field does not convert is kept with NULL, and the lines after both are
/// read (with two subtasks over two files).
#[test]
fn json_lines_that_are_not_objects_are_skipped_and_bad_fields_are_null() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(
        input.join("a.json"),
        "{\"id\": 1, \"name\": \"a\"}\nnot json at all\n[1, 2]\n{\"id\": 2, \"name\": \"b\"}\n",
    )
    .unwrap();
    std::fs::write(
        input.join("b.json"),
        "{\"id\": {\"no\": 1}, \"name\": \"c\"}\n\n{\"id\": 3, \"name\": 4}\n{\"id\": 4\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let option = ", 'json.ignore-parse-errors' = 'true'";
    let o = run(
        dir.path(),
        "job",
        &copy_job("json", &input, &out, option),
        2,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (mut rows, _) = committed(&out);
    rows.sort_by_key(|r| r["name"].to_string());
    let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rows,
        [
            r#"{"id":3,"name":"4"}"#,
            r#"{"id":1,"name":"a"}"#,
            r#"{"id":2,"name":"b"}"#,
            r#"{"id":null,"name":"c"}"#,
        ]
    );
    let log = stderr(&o);
    // One summary per subtask, each reading one file.
    assert!(
        log.contains("0 read with fields set to NULL, 2 skipped")
            && log.contains("1 read with fields set to NULL, 1 skipped"),
        "{log}"
    );
}

/// Case 10 (and 3): without the option the job fails with the table, the
/// file, the line and the field, not with a bare parser message.
#[test]
fn a_parse_error_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        twenty_thousand(|id| match id {
            Some(id) => format!("{{\"id\": {id}, \"name\": \"n\"}}"),
            None => "{\"id\": \"x\", \"name\": \"n\"}".into(),
        }),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run(
        dir.path(),
        "job",
        &copy_job("json", &input, &out, ""),
        1,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "table 'src': cannot read line 10001 of '{}': field 'id': failed to parse \"x\" as Int64",
            input.display()
        )) && err.contains("'json.ignore-parse-errors' = 'true'"),
        "{err}"
    );
}

/// Case 5: `json.fail-on-missing-field` was accepted and ignored. Now a
/// record without a declared field fails the job, naming file, line and
/// field; false (the default) reads NULL; and together with
/// `json.ignore-parse-errors` the job is refused at planning, as in Flink.
#[test]
fn fail_on_missing_field_works_as_in_flink() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": null}\n{\"id\": 3}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let fail = ", 'json.fail-on-missing-field' = 'true'";
    let o = run(
        dir.path(),
        "fail",
        &copy_job("json", &input, &out, fail),
        1,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "table 'src': cannot read line 3 of '{}': field 'name': missing, and \
             'json.fail-on-missing-field' is true",
            input.display()
        )),
        "{err}"
    );

    let o = run(
        dir.path(),
        "null",
        &copy_job("json", &input, &out, ""),
        1,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (rows, _) = committed(&out);
    assert_eq!(ids(&rows), [Some(1), Some(2), Some(3)]);
    assert_eq!(rows.iter().filter(|r| r["name"].is_null()).count(), 2);

    let both = ", 'json.fail-on-missing-field' = 'true', 'json.ignore-parse-errors' = 'true'";
    let other = dir.path().join("other");
    let o = run(
        dir.path(),
        "both",
        &copy_job("json", &input, &other, both),
        1,
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "'json.fail-on-missing-field' and 'json.ignore-parse-errors' cannot both be true"
        ),
        "{err}"
    );
    assert!(!other.exists(), "refused before it ran");
}

/// Case 12: a second job writing the same path overwrote the first one's
/// `part-<subtask>-0` files. Now files are named `part-<uuid>-<subtask>-<n>`
/// and both jobs' rows stay, with and without checkpoints (exactly-once).
#[test]
fn two_jobs_writing_one_path_keep_all_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints");
    let with_checkpoints = [
        "execution.checkpointing.interval=200ms".to_string(),
        format!("execution.checkpointing.dir={}", checkpoints.display()),
    ];
    let runs: [(&str, std::ops::RangeInclusive<i64>, Vec<&str>); 4] = [
        ("first", 1..=600, vec![]),
        ("second", 601..=1000, vec![]),
        (
            "third",
            1001..=1500,
            with_checkpoints.iter().map(String::as_str).collect(),
        ),
        (
            "fourth",
            1501..=2000,
            with_checkpoints.iter().map(String::as_str).collect(),
        ),
    ];
    let out = dir.path().join("out");
    let mut expected: Vec<Option<i64>> = Vec::new();
    let mut files = 0;
    for (name, range, settings) in runs {
        let sql = format!(
            "CREATE TABLE gen (id BIGINT) WITH (
                'connector' = 'datagen', 'number-of-rows' = '{n}',
                'fields.id.kind' = 'sequence', 'fields.id.start' = '{start}',
                'fields.id.end' = '{end}');
             CREATE TABLE out (id BIGINT, run STRING) WITH (
                'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
             INSERT INTO out SELECT id, '{name}' FROM gen;",
            out.display(),
            n = range.end() - range.start() + 1,
            start = range.start(),
            end = range.end(),
        );
        let o = run(dir.path(), name, &sql, 2, &settings);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        expected.extend(range.map(Some));
        let (rows, now) = committed(&out);
        assert!(now > files, "{name} added no file");
        files = now;
        // Every row of every run so far, once.
        assert_eq!(ids(&rows), expected, "after {name}");
    }
    let (rows, _) = committed(&out);
    for r in &rows {
        let id = r["id"].as_i64().unwrap();
        let run = match id {
            1..=600 => "first",
            601..=1000 => "second",
            1001..=1500 => "third",
            _ => "fourth",
        };
        assert_eq!(r["run"], run, "{r}");
    }
}
