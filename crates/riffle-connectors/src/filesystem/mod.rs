//! The `filesystem` connector: bounded sources over files and append-only
//! sinks into a directory, in Flink's `json` and `csv` formats.
//!
//! Source: `path` names a file or a directory (read recursively, skipping
//! names starting with `.` or `_`, as Flink does). Each file is one split,
//! assigned to subtask `i % parallelism`, so a single file is read in order by
//! one subtask, like Flink's file source. The job ends when all files are read.
//!
//! Sink: each subtask writes `part-<subtask>-0` into the `path` directory,
//! first as a hidden in-progress file that is renamed when the input ends, so
//! a failed job never leaves a half-written visible file. The sink cannot take
//! updates; the planner rejects updating queries before the job starts.

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
}

/// The connector.
#[derive(Debug)]
pub struct FilesystemConnector;

fn format_of(table: &TableDescriptor) -> Result<Format> {
    match table.options.get("format").map(String::as_str) {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(Error::Options(format!(
            "unsupported format '{other}' for table '{}'; supported formats: 'json', 'csv'",
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

/// Strips a `file://` scheme; other schemes need object storage (not yet).
fn local_path(path: &str) -> Result<std::path::PathBuf> {
    if let Some(p) = path.strip_prefix("file://") {
        return Ok(p.into());
    }
    if path.contains("://") {
        return Err(Error::Unsupported(format!(
            "path '{path}': only local paths and file:// are supported by the filesystem connector so far"
        )));
    }
    Ok(path.into())
}

impl Connector for FilesystemConnector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        check_keys(&table.name, self.name(), &table.options, OPTIONS, PREFIXES)?;
        path_of(table)?;
        let format = format_of(table)?;
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
        _config: &Configuration,
    ) -> Result<Arc<dyn SinkFactory>> {
        self.validate(table)?;
        Ok(Arc::new(sink::FileSink {
            dir: local_path(&path_of(table)?)?,
            format: format_of(table)?,
        }))
    }
}
