//! The `filesystem` connector's `WITH (...)` options, parsed once.
//!
//! Flink's keys are listed one by one (`sink.rolling-policy.*`,
//! `sink.partition-commit.*`, `partition.time-extractor.*`), so a misspelt
//! key is an error, and every value is parsed here, at planning time, into
//! [`FilesystemOptions`]; the source and the sink take their settings from
//! that struct and never read the option map again. Values are checked even
//! where they have no effect (partition commit on a table without
//! partitions, `source.monitor-interval` on a bounded read), as in Flink, so
//! a typo does not wait for the day the option starts to matter.

use arrow::datatypes::DataType;
use riffle_common::config::parse::{self, BadValue, Parsed};

use super::Format;
use super::commit::{self, PartitionCommit, Trigger};
use super::partition::{self, Partitioning, TimeExtractor, TimestampFormatter};
use super::sink::RollingPolicy;
use crate::format::records::ParseErrors;
use crate::options::{OptionReader, check_keys};
use crate::{Error, Result, TableDescriptor};

/// Every key the connector accepts, besides `connector` and [`PREFIXES`].
const OPTIONS: &[&str] = &[
    "path",
    "format",
    "source.monitor-interval",
    "sink.parallelism",
    "partition.default-name",
    "sink.rolling-policy.file-size",
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.check-interval",
    "sink.rolling-policy.inactivity-interval",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.watermark-time-zone",
    "sink.partition-commit.policy.kind",
    "sink.partition-commit.policy.class",
    "sink.partition-commit.policy.class.parameters",
    "sink.partition-commit.success-file.name",
    "partition.time-extractor.kind",
    "partition.time-extractor.class",
    "partition.time-extractor.timestamp-pattern",
    "partition.time-extractor.timestamp-formatter",
];

/// The format options (`json.*`, `csv.*`, `debezium-json.*`).
const PREFIXES: &[&str] = &["json.", "csv.", "debezium-json."];

/// The options of a `filesystem` table.
#[derive(Debug, Clone)]
pub(super) struct FilesystemOptions {
    /// `path`: a file or directory, local, `file://` or (sink) an object store.
    pub path: String,
    /// `format`.
    pub format: Format,
    /// `json.ignore-parse-errors` or `csv.ignore-parse-errors`, whichever
    /// belongs to `format`: the source reads fields that do not parse as
    /// NULL and skips records that are not records at all.
    pub ignore_parse_errors: bool,
    /// `json.fail-on-missing-field` (`json` only): the source fails on a
    /// record that lacks a declared field instead of reading NULL.
    pub fail_on_missing_field: bool,
    /// `sink.rolling-policy.*`.
    pub rolling: RollingPolicy,
    /// The `PARTITIONED BY` columns with `partition.default-name` and the
    /// partition commit (`None` for a table without partitions).
    pub partitioning: Option<Partitioning>,
}

impl FilesystemOptions {
    /// How the source treats records that do not parse; refuses
    /// `json.fail-on-missing-field` together with `json.ignore-parse-errors`,
    /// as Flink's JSON format does when it creates a source (a sink takes
    /// both: they only concern reading).
    pub(super) fn parse_errors(&self, table: &str) -> Result<ParseErrors> {
        if self.fail_on_missing_field && self.ignore_parse_errors {
            return Err(Error::Options(format!(
                "table '{table}': 'json.fail-on-missing-field' and 'json.ignore-parse-errors' \
                 cannot both be true (Flink refuses them together too); set one of them to \
                 'false'"
            )));
        }
        Ok(ParseErrors {
            ignore: self.ignore_parse_errors,
            fail_on_missing_field: self.fail_on_missing_field,
        })
    }

    /// Checks the keys and parses every value of `table`'s options, and
    /// checks the partition columns and the format against the columns.
    pub(super) fn parse(table: &TableDescriptor) -> Result<Self> {
        check_keys(&table.name, "filesystem", &table.options, OPTIONS, PREFIXES)?;
        let r = OptionReader::new(table);
        let path = r.raw("path").map(str::to_string).ok_or_else(|| {
            Error::Options(format!("table '{}' needs a 'path' option", table.name))
        })?;
        let format = r.get("format", format)?.ok_or_else(|| {
            Error::Options(format!(
                "table '{}' needs a 'format' option ('json' or 'csv')",
                table.name
            ))
        })?;
        let json_ignore = r.boolean("json.ignore-parse-errors", false)?;
        let csv_ignore = r.boolean("csv.ignore-parse-errors", false)?;
        let fail_on_missing_field = r.boolean("json.fail-on-missing-field", false)?;
        // Checked only: the source reads its files once, and the planner
        // reads the parallelism.
        r.get("source.monitor-interval", parse::duration)?;
        r.parallelism("sink.parallelism")?;
        let rolling = rolling_policy(&r)?;
        let commit = partition_commit(&r, table)?;
        let default_name = r.get_or(
            "partition.default-name",
            partition::DEFAULT_PARTITION_NAME.to_string(),
            |v| {
                if v.is_empty() {
                    return Err(BadValue("expected a name that is not empty".into()));
                }
                Ok(v.to_string())
            },
        )?;
        let partitioning = partitioning(table, &default_name, commit)?;
        if format == Format::Csv {
            check_csv_columns(table)?;
        }
        Ok(FilesystemOptions {
            path,
            format,
            ignore_parse_errors: match format {
                Format::Json | Format::DebeziumJson => json_ignore,
                Format::Csv => csv_ignore,
            },
            fail_on_missing_field: format == Format::Json && fail_on_missing_field,
            rolling,
            partitioning,
        })
    }
}

/// `format`.
fn format(value: &str) -> Parsed<Format> {
    match parse::enumeration(value, &["json", "csv", "debezium-json"]) {
        Ok("csv") => Ok(Format::Csv),
        Ok("debezium-json") => Ok(Format::DebeziumJson),
        Ok(_) => Ok(Format::Json),
        Err(e) => Err(BadValue(format!("{e} (debezium-json for sinks only)"))),
    }
}

/// A duration above zero, in milliseconds.
fn positive_ms(value: &str) -> Parsed<i64> {
    let d = parse::duration(value)?;
    match i64::try_from(d.as_millis()) {
        Ok(0) => Err(BadValue(
            "expected a positive duration such as '1 min'".into(),
        )),
        Ok(ms) => Ok(ms),
        // `duration` keeps milliseconds within i64.
        Err(_) => Ok(i64::MAX),
    }
}

/// Flink's rolling policy options and their defaults (128 MB, 30 min,
/// checked every minute, 30 min without writes).
fn rolling_policy(r: &OptionReader<'_>) -> Result<RollingPolicy> {
    let file_size = r.get_or(
        "sink.rolling-policy.file-size",
        128 << 20,
        parse::memory_size,
    )?;
    Ok(RollingPolicy {
        file_size: file_size.max(1),
        rollover_interval_ms: r.get_or(
            "sink.rolling-policy.rollover-interval",
            30 * 60 * 1000,
            positive_ms,
        )?,
        check_interval_ms: r.get_or(
            "sink.rolling-policy.check-interval",
            60 * 1000,
            positive_ms,
        )?,
        inactivity_interval_ms: r.get_or(
            "sink.rolling-policy.inactivity-interval",
            30 * 60 * 1000,
            positive_ms,
        )?,
    })
}

/// A file name for the success file: not empty, no directory.
fn file_name(value: &str) -> Parsed<String> {
    if value.is_empty() || value.contains('/') || value == "." || value == ".." {
        return Err(BadValue(
            "expected a file name (not empty, without '/', not '.' or '..')".into(),
        ));
    }
    Ok(value.to_string())
}

/// Flink's `sink.partition-commit.*` and `partition.time-extractor.*`
/// options; `None` when no `sink.partition-commit.policy.kind` is set
/// (Flink commits no partitions then). Values are checked even for a table
/// without partitions, where they do nothing, as in Flink.
fn partition_commit(
    r: &OptionReader<'_>,
    table: &TableDescriptor,
) -> Result<Option<PartitionCommit>> {
    let trigger = r.get_or(
        "sink.partition-commit.trigger",
        Trigger::ProcessTime,
        Trigger::parse,
    )?;
    let delay_ms = r.get_or("sink.partition-commit.delay", 0, |v| {
        // `duration` keeps milliseconds within i64.
        parse::duration(v).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })?;
    let zone_offset_ms = r.get_or(
        "sink.partition-commit.watermark-time-zone",
        0,
        parse::time_zone_offset_ms,
    )?;
    let kind = r.get("partition.time-extractor.kind", |v| {
        parse::enumeration(v, &["default", "custom"])
    })?;
    if kind == Some("custom") {
        return Err(Error::Unsupported(
            "option 'partition.time-extractor.kind': 'custom' extractors are Java classes, \
             which Riffle cannot load; use 'default' with \
             'partition.time-extractor.timestamp-pattern'"
                .into(),
        ));
    }
    let formatter = r.get(
        "partition.time-extractor.timestamp-formatter",
        TimestampFormatter::compile,
    )?;
    let pattern = r.get("partition.time-extractor.timestamp-pattern", |v| {
        if v.trim().is_empty() {
            return Err(BadValue(
                "expected a pattern such as '$dt $hm:00'; leave the option out to use the \
                 first partition column"
                    .into(),
            ));
        }
        Ok(v.to_string())
    })?;
    let success_file = r.get_or(
        "sink.partition-commit.success-file.name",
        "_SUCCESS".to_string(),
        file_name,
    )?;
    let Some(kind) = r.raw("sink.partition-commit.policy.kind") else {
        return Ok(None);
    };
    commit::check_policy_kind(&table.name, kind)?;
    Ok(Some(PartitionCommit {
        trigger,
        delay_ms,
        zone_offset_ms,
        extractor: TimeExtractor::new(table.partition_keys.clone(), pattern, formatter),
        success_file,
    }))
}

/// The table's partitioning (`None` without `PARTITIONED BY`).
fn partitioning(
    table: &TableDescriptor,
    default_name: &str,
    commit: Option<PartitionCommit>,
) -> Result<Option<Partitioning>> {
    if table.partition_keys.is_empty() {
        return Ok(None);
    }
    let columns: Vec<&str> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let mut indices = Vec::new();
    for key in &table.partition_keys {
        let Some(i) = columns.iter().position(|c| c == key) else {
            return Err(Error::Options(format!(
                "partition column '{key}' is not a column of table '{}'; columns: {}",
                table.name,
                columns.join(", ")
            )));
        };
        let t = table.schema.field(i).data_type();
        if !partition::is_partition_type(t) {
            return Err(Error::Options(format!(
                "table '{}': cannot partition by column '{key}' of type {t}; the filesystem \
                 sink partitions by string, integer, BOOLEAN, DECIMAL, DATE and TIMESTAMP \
                 columns",
                table.name
            )));
        }
        indices.push(i);
    }
    if indices.len() == columns.len() {
        return Err(Error::Options(format!(
            "table '{}': every column is a partition column, so the files would hold nothing; \
             keep at least one column out of PARTITIONED BY",
            table.name
        )));
    }
    Ok(Some(Partitioning::new(
        table.partition_keys.clone(),
        indices,
        columns.len(),
        default_name,
        commit,
    )))
}

/// The csv format holds flat columns only.
fn check_csv_columns(table: &TableDescriptor) -> Result<()> {
    for f in table.schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Struct(_) | DataType::List(_) | DataType::Map(_, _)
        ) {
            return Err(Error::Options(format!(
                "the csv format cannot hold column '{}' of type {} (table '{}'); use 'json'",
                f.name(),
                f.data_type(),
                table.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// q10's sink table with `extra` options on top of q10's own.
    fn q10(extra: &[(&str, &str)]) -> TableDescriptor {
        let mut options: BTreeMap<String, String> = [
            ("connector", "filesystem"),
            ("path", "file:///tmp/bid/"),
            ("format", "csv"),
            ("sink.partition-commit.trigger", "partition-time"),
            ("sink.partition-commit.delay", "1 min"),
            ("sink.partition-commit.policy.kind", "success-file"),
            ("partition.time-extractor.timestamp-pattern", "$dt $hm:00"),
            ("sink.rolling-policy.rollover-interval", "1min"),
            ("sink.rolling-policy.check-interval", "1min"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            options.insert(k.to_string(), v.to_string());
        }
        TableDescriptor {
            name: "nexmark_q10".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("auction", DataType::Int64, true),
                Field::new("extra", DataType::Utf8, true),
                Field::new("dt", DataType::Utf8, true),
                Field::new("hm", DataType::Utf8, true),
            ])),
            options,
            partition_keys: vec!["dt".into(), "hm".into()],
            metadata: Vec::new(),
        }
    }

    fn error(t: &TableDescriptor) -> String {
        FilesystemOptions::parse(t)
            .map(drop)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn q10_parses_into_the_struct() -> Result<()> {
        let o = FilesystemOptions::parse(&q10(&[
            ("csv.ignore-parse-errors", "true"),
            ("sink.rolling-policy.file-size", "1 kb"),
            ("sink.partition-commit.watermark-time-zone", "GMT+08:00"),
            ("partition.default-name", "none"),
        ]))?;
        assert_eq!(
            (o.path.as_str(), o.format, o.ignore_parse_errors),
            ("file:///tmp/bid/", Format::Csv, true)
        );
        let r = o.rolling;
        assert_eq!(r.file_size, 1024);
        assert_eq!(
            (r.rollover_interval_ms, r.check_interval_ms),
            (60_000, 60_000)
        );
        assert_eq!(r.inactivity_interval_ms, 30 * 60_000);
        let p = o
            .partitioning
            .ok_or_else(|| Error::Options("no partitions".into()))?;
        assert_eq!(
            (p.key_indices.clone(), p.data_indices.clone()),
            (vec![2, 3], vec![0, 1])
        );
        let c = p.commit.ok_or_else(|| Error::Options("no commit".into()))?;
        assert_eq!(
            (c.trigger, c.delay_ms, c.zone_offset_ms),
            (Trigger::PartitionTime, 60_000, 8 * 3_600_000)
        );
        assert_eq!(c.success_file, "_SUCCESS");
        // Without a policy kind nothing is committed (as in Flink).
        let mut none = q10(&[]);
        none.options.remove("sink.partition-commit.policy.kind");
        assert!(
            FilesystemOptions::parse(&none)?
                .partitioning
                .is_some_and(|p| p.commit.is_none())
        );
        // The json options apply to the json formats.
        let json = FilesystemOptions::parse(&q10(&[
            ("format", "debezium-json"),
            ("csv.ignore-parse-errors", "true"),
        ]))?;
        assert_eq!(
            (json.format, json.ignore_parse_errors),
            (Format::DebeziumJson, false)
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        for (key, value, form) in [
            ("format", "avro", "expected one of json, csv, debezium-json"),
            (
                "sink.partition-commit.trigger",
                "watermark",
                "expected one of process-time, partition-time",
            ),
            ("sink.partition-commit.delay", "soon", "expected a duration"),
            (
                "sink.partition-commit.watermark-time-zone",
                "Europe/Berlin",
                "expected UTC or a fixed offset such as GMT+08:00",
            ),
            (
                "sink.partition-commit.success-file.name",
                "a/b",
                "expected a file name",
            ),
            (
                "partition.time-extractor.kind",
                "hourly",
                "expected one of default, custom",
            ),
            (
                "partition.time-extractor.timestamp-formatter",
                "yyyy-MM-dd[ HH]",
                "supported pattern letters",
            ),
            (
                "partition.time-extractor.timestamp-pattern",
                " ",
                "expected a pattern",
            ),
            (
                "sink.rolling-policy.inactivity-interval",
                "0 s",
                "expected a positive duration",
            ),
            (
                "sink.rolling-policy.check-interval",
                "often",
                "expected a duration",
            ),
            (
                "sink.rolling-policy.file-size",
                "big",
                "expected a memory size",
            ),
            (
                "partition.default-name",
                "",
                "expected a name that is not empty",
            ),
            (
                "json.ignore-parse-errors",
                "maybe",
                "expected true or false",
            ),
            ("source.monitor-interval", "-1 s", "expected a duration"),
            ("sink.parallelism", "0", "expected an integer between 1 and"),
        ] {
            let e = error(&q10(&[(key, value)]));
            assert!(
                e.starts_with(&format!(
                    "invalid value {value:?} for option '{key}' of table 'nexmark_q10': "
                )) && e.contains(form),
                "{key} = {value}: {e}"
            );
        }
    }

    #[test]
    fn unsupported_and_unknown_options() {
        for (key, value, says) in [
            (
                "sink.partition-commit.policy.kind",
                "metastore",
                "'success-file'",
            ),
            ("partition.time-extractor.kind", "custom", "'default'"),
            // A misspelt key is unknown, not silently ignored.
            (
                "sink.partition-commit.trigerr",
                "x",
                "'sink.partition-commit.trigger'",
            ),
        ] {
            let e = error(&q10(&[(key, value)]));
            assert!(e.contains(says), "{key} = {value}: {e}");
        }
        let mut t = q10(&[]);
        t.options.remove("format");
        assert!(error(&t).contains("needs a 'format' option"));
        t.options.remove("path");
        assert!(error(&t).contains("needs a 'path' option"));
    }

    /// Issue 15, case 5: `json.fail-on-missing-field` was accepted and
    /// ignored; Flink refuses it together with `json.ignore-parse-errors`.
    #[test]
    fn fail_on_missing_field_is_read_and_refused_with_ignore_parse_errors() -> Result<()> {
        let json = |extra: &[(&str, &str)]| {
            let mut t = q10(extra);
            t.options.insert("format".into(), "json".into());
            t.partition_keys.clear();
            FilesystemOptions::parse(&t)
        };
        let o = json(&[("json.fail-on-missing-field", "true")])?;
        assert_eq!(
            o.parse_errors("t")?,
            ParseErrors {
                ignore: false,
                fail_on_missing_field: true
            }
        );
        let both = json(&[
            ("json.fail-on-missing-field", "true"),
            ("json.ignore-parse-errors", "true"),
        ])?;
        let e = both.parse_errors("t").unwrap_err().to_string();
        assert!(
            e.contains(
                "'json.fail-on-missing-field' and 'json.ignore-parse-errors' cannot both be true"
            ),
            "{e}"
        );
        // A json option does nothing for csv.
        let csv = FilesystemOptions::parse(&q10(&[("json.fail-on-missing-field", "true")]))?;
        assert!(!csv.parse_errors("t")?.fail_on_missing_field);
        Ok(())
    }

    #[test]
    fn partition_columns_are_checked() {
        let mut t = q10(&[]);
        t.partition_keys = vec!["nope".into()];
        let e = error(&t);
        assert!(
            e.contains("'nope'") && e.contains("auction, extra, dt, hm"),
            "{e}"
        );
        t.partition_keys = vec!["auction".into(), "extra".into(), "dt".into(), "hm".into()];
        assert!(error(&t).contains("every column is a partition column"));
        let mut nested = q10(&[]);
        nested.schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("dt", DataType::Float64, true),
            Field::new("hm", DataType::Utf8, true),
        ]));
        let e = error(&nested);
        assert!(e.contains("column 'dt' of type Float64"), "{e}");
    }
}
