//! The `filesystem` connector: bounded sources over files and append-only
//! sinks into a directory, in Flink's `json` and `csv` formats.
//!
//! Source: `path` names a file or a directory (read recursively, skipping
//! names starting with `.` or `_`, as Flink does). Each file is one split,
//! assigned to subtask `i % parallelism`, so a single file is read in order by
//! one subtask, like Flink's file source. The job ends when all files are read.
//!
//! Sink: see [`sink`]; without checkpoints one file per subtask appears when
//! the input ends, with checkpoints files roll and commit exactly once per
//! checkpoint. `path` may be local or an object store (`s3://...`). The
//! `json` and `csv` formats take append-only input (the planner rejects
//! updating queries before the job starts); `debezium-json` writes a
//! changelog (`{"before":..., "after":..., "op":"c"|"d"}`), as Flink does.
//!
//! A `PARTITIONED BY` table is written into `key=value/` directories without
//! its partition columns (`partition.rs`), and with
//! `sink.partition-commit.policy.kind` = `success-file` each complete
//! partition gets a `_SUCCESS` file (`commit.rs`). The source cannot read
//! partitioned tables yet.
//!
//! Options are checked by name (Flink's `sink.rolling-policy.*`,
//! `sink.partition-commit.*` and `partition.time-extractor.*` keys are
//! listed one by one, so a misspelt key is an error) and by value, here,
//! at planning time; the sink gets them as typed settings.

mod commit;
mod partition;
mod sink;
mod source;

use std::sync::Arc;

use arrow::datatypes::DataType;
use riffle_common::config::Configuration;
use riffle_runtime::connector::{SinkFactory, SourceFactory};

use crate::options::{check_keys, get_bool};
use crate::{Connector, Error, Result, TableDescriptor};
use commit::{PartitionCommit, Trigger};
use partition::{Partitioning, TimeExtractor, TimestampFormatter};

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
const PREFIXES: &[&str] = &["json.", "csv.", "debezium-json."];

/// The file formats the connector reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Comma-separated values.
    Csv,
    /// A changelog in Debezium's JSON envelope (sink only).
    DebeziumJson,
}

/// The connector.
#[derive(Debug)]
pub struct FilesystemConnector;

fn format_of(table: &TableDescriptor) -> Result<Format> {
    match table.options.get("format").map(String::as_str) {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some("debezium-json") => Ok(Format::DebeziumJson),
        Some(other) => Err(Error::Options(format!(
            "unsupported format '{other}' for table '{}'; supported formats: 'json', 'csv', \
             'debezium-json' (sink only)",
            table.name
        ))),
        None => Err(Error::Options(format!(
            "table '{}' needs a 'format' option ('json' or 'csv')",
            table.name
        ))),
    }
}

fn path_of(table: &TableDescriptor) -> Result<String> {
    table
        .options
        .get("path")
        .cloned()
        .ok_or_else(|| Error::Options(format!("table '{}' needs a 'path' option", table.name)))
}

/// Strips a `file://` scheme; reading from object stores is not supported yet.
fn local_path(path: &str) -> Result<std::path::PathBuf> {
    if let Some(p) = path.strip_prefix("file://") {
        return Ok(p.into());
    }
    if path.contains("://") {
        return Err(Error::Unsupported(format!(
            "path '{path}': the filesystem source reads local paths and file:// only so far \
             (the sink also writes to s3://, gs:// and abfs://)"
        )));
    }
    Ok(path.into())
}

/// Parses a memory size (`128 mb`, `1kb`, `1048576`) into bytes.
fn memory_size(key: &str, value: &str) -> Result<u64> {
    let v = value.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        Error::Options(format!(
            "option '{key}': '{value}' is not a memory size such as '128 mb' or '1024 kb'"
        ))
    })?;
    let factor: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        other => {
            return Err(Error::Options(format!(
                "option '{key}': unknown memory unit '{other}'; use b, kb, mb, gb or tb"
            )));
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| Error::Options(format!("option '{key}': '{value}' is too large")))
}

/// A duration option in milliseconds, at least 1.
fn duration_ms(table: &TableDescriptor, key: &str, default_ms: i64) -> Result<i64> {
    match table.options.get(key) {
        None => Ok(default_ms),
        Some(v) => {
            let ms = riffle_common::time::parse_duration_ms(key, v)
                .map_err(|e| Error::Options(e.to_string()))?;
            if ms <= 0 {
                return Err(Error::Options(format!(
                    "option '{key}' must be a positive duration such as '1 min', got '{v}'"
                )));
            }
            Ok(ms)
        }
    }
}

/// Flink's rolling policy options and their defaults (128 MB, 30 min,
/// checked every minute, 30 min without writes).
fn rolling_policy(table: &TableDescriptor) -> Result<sink::RollingPolicy> {
    let file_size = match table.options.get("sink.rolling-policy.file-size") {
        Some(v) => memory_size("sink.rolling-policy.file-size", v)?,
        None => 128 << 20,
    };
    Ok(sink::RollingPolicy {
        file_size: file_size.max(1),
        rollover_interval_ms: duration_ms(
            table,
            "sink.rolling-policy.rollover-interval",
            30 * 60 * 1000,
        )?,
        check_interval_ms: duration_ms(table, "sink.rolling-policy.check-interval", 60 * 1000)?,
        inactivity_interval_ms: duration_ms(
            table,
            "sink.rolling-policy.inactivity-interval",
            30 * 60 * 1000,
        )?,
    })
}

/// Flink's `sink.partition-commit.*` and `partition.time-extractor.*`
/// options; `None` when no `sink.partition-commit.policy.kind` is set
/// (Flink commits no partitions then). Values are checked even for a table
/// without partitions, where they do nothing, as in Flink.
fn partition_commit(table: &TableDescriptor) -> Result<Option<PartitionCommit>> {
    let opt = |k: &str| table.options.get(k).map(String::as_str);
    let trigger = match opt("sink.partition-commit.trigger") {
        Some(v) => Trigger::parse(v)?,
        None => Trigger::ProcessTime,
    };
    let delay_ms = match opt("sink.partition-commit.delay") {
        Some(v) => {
            let ms = riffle_common::time::parse_duration_ms("sink.partition-commit.delay", v)
                .map_err(|e| Error::Options(e.to_string()))?;
            if ms < 0 {
                return Err(Error::Options(format!(
                    "option 'sink.partition-commit.delay' must not be negative, got '{v}'"
                )));
            }
            ms
        }
        None => 0,
    };
    let zone_offset_ms = match opt("sink.partition-commit.watermark-time-zone") {
        Some(v) => partition::parse_time_zone(v)?,
        None => 0,
    };
    match opt("partition.time-extractor.kind").map(str::trim) {
        None | Some("default") => {}
        Some("custom") => {
            return Err(Error::Unsupported(
                "option 'partition.time-extractor.kind': 'custom' extractors are Java classes, \
                 which Riffle cannot load; use 'default' with \
                 'partition.time-extractor.timestamp-pattern'"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(Error::Options(format!(
                "option 'partition.time-extractor.kind': unknown kind '{other}'; use 'default'"
            )));
        }
    }
    let formatter = opt("partition.time-extractor.timestamp-formatter")
        .map(TimestampFormatter::compile)
        .transpose()?;
    let pattern = opt("partition.time-extractor.timestamp-pattern").map(str::to_string);
    if pattern.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(Error::Options(
            "option 'partition.time-extractor.timestamp-pattern' must not be empty; \
             leave it out to use the first partition column"
                .into(),
        ));
    }
    let success_file = opt("sink.partition-commit.success-file.name")
        .unwrap_or("_SUCCESS")
        .to_string();
    if success_file.is_empty()
        || success_file.contains('/')
        || success_file == "."
        || success_file == ".."
    {
        return Err(Error::Options(format!(
            "option 'sink.partition-commit.success-file.name' must be a file name, got '{success_file}'"
        )));
    }
    let Some(kind) = opt("sink.partition-commit.policy.kind") else {
        return Ok(None);
    };
    commit::check_policy_kind(kind)?;
    Ok(Some(PartitionCommit {
        trigger,
        delay_ms,
        zone_offset_ms,
        extractor: TimeExtractor::new(table.partition_keys.clone(), pattern, formatter),
        success_file,
    }))
}

/// The table's partitioning (`None` without `PARTITIONED BY`).
fn partitioning(table: &TableDescriptor) -> Result<Option<Partitioning>> {
    let commit = partition_commit(table)?;
    let default_name = table
        .options
        .get("partition.default-name")
        .map(String::as_str)
        .unwrap_or(partition::DEFAULT_PARTITION_NAME);
    if default_name.is_empty() {
        return Err(Error::Options(
            "option 'partition.default-name' must not be empty".into(),
        ));
    }
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

impl Connector for FilesystemConnector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn supports_partitioning(&self) -> bool {
        true
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        check_keys(&table.name, self.name(), &table.options, OPTIONS, PREFIXES)?;
        path_of(table)?;
        let format = format_of(table)?;
        rolling_policy(table)?;
        partitioning(table)?;
        for key in [
            "json.fail-on-missing-field",
            "json.ignore-parse-errors",
            "csv.ignore-parse-errors",
        ] {
            get_bool(&table.options, key, false)?;
        }
        if format == Format::Csv {
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
        }
        Ok(())
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &Configuration,
    ) -> Result<Arc<dyn SourceFactory>> {
        self.validate(table)?;
        if !table.partition_keys.is_empty() {
            return Err(Error::Unsupported(format!(
                "table '{}': the filesystem source cannot read a PARTITIONED BY table yet \
                 (partition values live in directory names); it can only be written",
                table.name
            )));
        }
        if format_of(table)? == Format::DebeziumJson {
            return Err(Error::Unsupported(format!(
                "table '{}': the filesystem source cannot read 'debezium-json' yet; it is a sink format",
                table.name
            )));
        }
        Ok(Arc::new(source::FileSource::try_new(
            table,
            local_path(&path_of(table)?)?,
            format_of(table)?,
            projection,
        )?))
    }

    fn sink(
        &self,
        table: &TableDescriptor,
        config: &Configuration,
    ) -> Result<Arc<dyn SinkFactory>> {
        self.validate(table)?;
        let path = path_of(table)?;
        let storage = riffle_storage::Storage::open(&path, config)
            .map_err(|e| Error::Options(format!("table '{}': {e}", table.name)))?;
        Ok(Arc::new(sink::FileSink {
            storage,
            format: format_of(table)?,
            rolling: rolling_policy(table)?,
            partitioning: partitioning(table)?.map(Arc::new),
            clock: sink::Clock::System,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::collections::BTreeMap;

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
        }
    }

    fn error(t: &TableDescriptor) -> String {
        FilesystemConnector.validate(t).unwrap_err().to_string()
    }

    #[test]
    fn q10_validates() -> Result<()> {
        let t = q10(&[]);
        FilesystemConnector.validate(&t)?;
        let p = partitioning(&t)?.ok_or_else(|| Error::Options("no partitions".into()))?;
        assert_eq!(
            (p.key_indices.clone(), p.data_indices.clone()),
            (vec![2, 3], vec![0, 1])
        );
        let c = p.commit.ok_or_else(|| Error::Options("no commit".into()))?;
        assert_eq!((c.trigger, c.delay_ms), (Trigger::PartitionTime, 60_000));
        let r = rolling_policy(&t)?;
        assert_eq!(
            (r.rollover_interval_ms, r.check_interval_ms),
            (60_000, 60_000)
        );
        assert_eq!(r.inactivity_interval_ms, 30 * 60_000);
        // Without a policy kind nothing is committed (as in Flink).
        let mut none = q10(&[]);
        none.options.remove("sink.partition-commit.policy.kind");
        assert!(partitioning(&none)?.is_some_and(|p| p.commit.is_none()));
        Ok(())
    }

    #[test]
    fn bad_values_name_the_allowed_ones() {
        for (key, value, says) in [
            (
                "sink.partition-commit.trigger",
                "watermark",
                "'partition-time'",
            ),
            (
                "sink.partition-commit.policy.kind",
                "metastore",
                "'success-file'",
            ),
            ("sink.partition-commit.delay", "soon", "'1 min'"),
            (
                "sink.partition-commit.watermark-time-zone",
                "Europe/Berlin",
                "'GMT+08:00'",
            ),
            (
                "sink.partition-commit.success-file.name",
                "a/b",
                "must be a file name",
            ),
            ("partition.time-extractor.kind", "custom", "'default'"),
            (
                "partition.time-extractor.timestamp-formatter",
                "yyyy-MM-dd[ HH]",
                "supported",
            ),
            (
                "sink.rolling-policy.inactivity-interval",
                "0 s",
                "positive duration",
            ),
            ("sink.rolling-policy.check-interval", "often", "'1 min'"),
            ("sink.rolling-policy.file-size", "big", "'128 mb'"),
            ("partition.default-name", "", "must not be empty"),
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

    #[test]
    fn the_source_refuses_partitioned_tables() {
        let e = FilesystemConnector
            .source(&q10(&[]), None, &Configuration::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("PARTITIONED BY"), "{e}");
    }
}
