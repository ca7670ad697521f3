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

mod sink;
mod source;

use std::sync::Arc;

use arrow::datatypes::DataType;
use riffle_common::config::Configuration;
use riffle_runtime::connector::{SinkFactory, SourceFactory};

use crate::options::{check_keys, get_bool};
use crate::{Connector, Error, Result, TableDescriptor};

const OPTIONS: &[&str] = &[
    "path",
    "format",
    "source.monitor-interval",
    "sink.parallelism",
    "partition.default-name",
];
const PREFIXES: &[&str] = &[
    "json.",
    "csv.",
    "debezium-json.",
    "sink.rolling-policy.",
    "sink.partition-commit.",
    "partition.time-extractor.",
];

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

/// Flink's rolling policy options and their defaults (128 MB, 30 min).
fn rolling_policy(table: &TableDescriptor) -> Result<sink::RollingPolicy> {
    let file_size = match table.options.get("sink.rolling-policy.file-size") {
        Some(v) => memory_size("sink.rolling-policy.file-size", v)?,
        None => 128 << 20,
    };
    let interval = match table.options.get("sink.rolling-policy.rollover-interval") {
        Some(v) => {
            riffle_common::time::parse_duration_ms("sink.rolling-policy.rollover-interval", v)
                .map_err(|e| Error::Options(e.to_string()))?
        }
        None => 30 * 60 * 1000,
    };
    Ok(sink::RollingPolicy {
        file_size: file_size.max(1),
        rollover_interval: std::time::Duration::from_millis(interval.max(1) as u64),
    })
}

impl Connector for FilesystemConnector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        check_keys(&table.name, self.name(), &table.options, OPTIONS, PREFIXES)?;
        path_of(table)?;
        let format = format_of(table)?;
        rolling_policy(table)?;
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
        }))
    }
}
