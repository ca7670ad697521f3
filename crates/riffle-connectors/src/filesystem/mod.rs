//! The `filesystem` connector: bounded sources over files and append-only
//! sinks into a directory, in Flink's `json` and `csv` formats.
//!
//! Source: `path` names a file or a directory (read recursively, skipping
//! names starting with `.` or `_`, as Flink does). Each file is one split,
//! assigned to subtask `i % parallelism`, so a single file is read in order by
//! one subtask, like Flink's file source. The job ends when all files are read.
//! Records that do not parse fail the job with their file, line and field, or
//! follow Flink's `json.ignore-parse-errors` / `csv.ignore-parse-errors` and
//! `json.fail-on-missing-field` (see [`crate::format::records`]), counted in
//! `numRecordsInErrors`.
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
//! Options are parsed once, at planning time, into [`options`]'s typed
//! settings, which the source and the sink take as they are.

mod commit;
mod options;
mod partition;
mod sink;
mod source;

use std::sync::Arc;

use riffle_common::config::JobConfig;
use riffle_runtime::connector::{SinkFactory, SourceFactory};

use crate::{Connector, Error, Result, TableDescriptor};
use options::FilesystemOptions;

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

impl Connector for FilesystemConnector {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn supports_partitioning(&self) -> bool {
        true
    }

    fn validate(&self, table: &TableDescriptor) -> Result<()> {
        FilesystemOptions::parse(table).map(drop)
    }

    fn source(
        &self,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
        _config: &JobConfig,
    ) -> Result<Arc<dyn SourceFactory>> {
        let options = FilesystemOptions::parse(table)?;
        if options.partitioning.is_some() {
            return Err(Error::Unsupported(format!(
                "table '{}': the filesystem source cannot read a PARTITIONED BY table yet \
                 (partition values live in directory names); it can only be written",
                table.name
            )));
        }
        if options.format == Format::DebeziumJson {
            return Err(Error::Unsupported(format!(
                "table '{}': the filesystem source cannot read 'debezium-json' yet; it is a sink format",
                table.name
            )));
        }
        let errors = options.parse_errors(&table.name)?;
        Ok(Arc::new(source::FileSource::try_new(
            table,
            local_path(&options.path)?,
            options.format,
            errors,
            projection,
        )?))
    }

    fn sink(&self, table: &TableDescriptor, config: &JobConfig) -> Result<Arc<dyn SinkFactory>> {
        let options = FilesystemOptions::parse(table)?;
        let storage = riffle_storage::Storage::open(&options.path, &config.storage)
            .map_err(|e| Error::Options(format!("table '{}': {e}", table.name)))?;
        Ok(Arc::new(sink::FileSink {
            storage,
            format: options.format,
            rolling: options.rolling,
            partitioning: options.partitioning.map(Arc::new),
            clock: sink::Clock::System,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn table(options: &[(&str, &str)], partition_keys: &[&str]) -> TableDescriptor {
        TableDescriptor {
            name: "files".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("dt", DataType::Utf8, true),
            ])),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partition_keys: partition_keys.iter().map(|k| k.to_string()).collect(),
            metadata: Vec::new(),
        }
    }

    fn source_error(t: &TableDescriptor) -> String {
        let config = JobConfig::resolve(&riffle_common::Configuration::new()).unwrap();
        FilesystemConnector
            .source(t, None, &config)
            .map(drop)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_source_refuses_what_it_cannot_read() {
        let options = [
            ("connector", "filesystem"),
            ("path", "/tmp"),
            ("format", "csv"),
        ];
        let e = source_error(&table(&options, &["dt"]));
        assert!(e.contains("PARTITIONED BY"), "{e}");
        let debezium = [
            ("connector", "filesystem"),
            ("path", "/tmp"),
            ("format", "debezium-json"),
        ];
        let e = source_error(&table(&debezium, &[]));
        assert!(e.contains("'debezium-json'"), "{e}");
        let e = source_error(&table(&[("path", "s3://b/k"), ("format", "json")], &[]));
        assert!(e.contains("local paths"), "{e}");
    }
}
