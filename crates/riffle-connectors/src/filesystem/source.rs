//! Reading files: one split per file, decoded a chunk of records at a time
//! (see [`crate::format::records`]).
//!
//! A split's position is the file and the number of records read from it
//! (blank lines are not records; a record that was skipped because it does
//! not parse counts as read). A restored reader passes over that many
//! records without decoding them. Before records were counted this was the
//! number of rows returned, which is the same number for a file without
//! blank lines or bad records, so older checkpoints restore as they did.
//!
//! Records that do not parse are handled by the format (Flink's
//! `<format>.ignore-parse-errors` and `json.fail-on-missing-field` rules):
//! the first one fails the job with table, file, line and field, or, when
//! parse errors are ignored, it is kept with NULL fields or skipped. Those
//! are counted in the subtask's `numRecordsInErrors`, and the first
//! [`LOGGED_BAD_RECORDS`] of each subtask are logged with file and line;
//! when the subtask's input ends, one more line gives the totals.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use riffle_runtime::TaskInfo;
use riffle_runtime::checkpoint::{Decoder, Encoder};
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};
use riffle_runtime::metrics::TaskMetrics;

use super::Format;
use crate::format::csv::CsvDecoder;
use crate::format::json::JsonDecoder;
use crate::format::records::{
    BadRecord, ChunkError, ParseErrors, RecordFormat, RecordReader, decode_chunk,
};
use crate::{Error, Result, TableDescriptor};

/// How many records that do not parse each subtask logs one by one.
pub const LOGGED_BAD_RECORDS: u64 = 10;

/// The source factory of one table.
#[derive(Debug)]
pub struct FileSource {
    table: String,
    path: PathBuf,
    format: Format,
    /// Schema of the whole table (what the file holds).
    full_schema: SchemaRef,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    /// What records that do not parse do.
    errors: ParseErrors,
}

impl FileSource {
    /// Checks the path exists; `errors` says what records that do not parse
    /// do.
    pub fn try_new(
        table: &TableDescriptor,
        path: PathBuf,
        format: Format,
        errors: ParseErrors,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Io(format!(
                "path '{}' of table '{}' does not exist",
                path.display(),
                table.name
            )));
        }
        let schema = match &projection {
            Some(p) => Arc::new(
                table
                    .schema
                    .project(p)
                    .map_err(|e| Error::Options(e.to_string()))?,
            ),
            None => Arc::clone(&table.schema),
        };
        Ok(FileSource {
            table: table.name.clone(),
            path,
            format,
            full_schema: Arc::clone(&table.schema),
            projection,
            schema,
            errors,
        })
    }
}

/// Lists the data files under `path`, sorted, skipping hidden ones.
fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl SourceFactory for FileSource {
    fn connector(&self) -> &str {
        "filesystem"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(
        &self,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<Vec<u8>>>,
    ) -> riffle_runtime::Result<Box<dyn SourceReader>> {
        // A split is one file and the records already read from it.
        let files: Vec<(PathBuf, u64)> = match restored {
            None => list_files(&self.path)
                .map_err(|e| Error::Io(format!("cannot list '{}': {e}", self.path.display())))?
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % task.parallelism == task.subtask_index)
                .map(|(_, f)| (f, 0))
                .collect(),
            Some(items) => items
                .iter()
                .map(|item| {
                    let mut d = Decoder::new(item);
                    let path = PathBuf::from(d.str()?);
                    Ok((path, d.u64()?))
                })
                .collect::<riffle_runtime::Result<_>>()?,
        };
        let schema = Arc::clone(&self.full_schema);
        let decoder: Box<dyn RecordFormat> = match self.format {
            Format::Csv => Box::new(CsvDecoder::new(schema, self.errors)),
            // The factory refuses to read debezium-json.
            Format::Json | Format::DebeziumJson => Box::new(JsonDecoder::new(schema, self.errors)),
        };
        Ok(Box::new(FileReader {
            table: self.table.clone(),
            files,
            decoder,
            ignore_option: match self.format {
                Format::Csv => "csv.ignore-parse-errors",
                Format::Json | Format::DebeziumJson => "json.ignore-parse-errors",
            },
            projection: self.projection.clone(),
            batch_size: batch_size.max(1),
            current: None,
            bad: Vec::new(),
            log: BadRecordLog::default(),
            metrics: None,
        }))
    }
}

/// The file being read.
struct OpenFile {
    path: PathBuf,
    records: RecordReader<File>,
    /// Records read from it (the split's position).
    consumed: u64,
}

struct FileReader {
    table: String,
    /// Files still to read, with the records to pass over (read before a
    /// restore).
    files: Vec<(PathBuf, u64)>,
    /// The format's decoder, with the rules for records that do not parse.
    decoder: Box<dyn RecordFormat>,
    /// The option that makes bad records NULL or skipped (for messages).
    ignore_option: &'static str,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    current: Option<OpenFile>,
    /// The bad records of the chunk just decoded (reused).
    bad: Vec<BadRecord>,
    log: BadRecordLog,
    /// The subtask's counters (`numRecordsInErrors`), once bound.
    metrics: Option<Arc<TaskMetrics>>,
}

/// How many of one subtask's records did not parse, for its log lines (the
/// metric is counted apart, as the runtime reads it).
#[derive(Debug, Default)]
struct BadRecordLog {
    /// Kept with NULL fields.
    kept: u64,
    /// Skipped.
    skipped: u64,
}

impl BadRecordLog {
    /// Counts `bad` (read from `file` of `table`) and logs it if it is one
    /// of the first [`LOGGED_BAD_RECORDS`].
    fn note(&mut self, table: &str, file: &Path, bad: &BadRecord) {
        let seen = self.kept + self.skipped;
        if bad.kept {
            self.kept += 1;
        } else {
            self.skipped += 1;
        }
        if seen >= LOGGED_BAD_RECORDS {
            return;
        }
        let last = if seen + 1 == LOGGED_BAD_RECORDS {
            " (further records that do not parse are counted in numRecordsInErrors, not logged)"
        } else {
            ""
        };
        if bad.kept {
            tracing::warn!(
                table = %table,
                file = %file.display(),
                line = bad.line,
                fields = %bad.fields.join(", "),
                "read a record with fields set to NULL: {}{last}",
                bad.reason
            );
        } else {
            tracing::warn!(
                table = %table,
                file = %file.display(),
                line = bad.line,
                "skipped a record: {}{last}",
                bad.reason
            );
        }
    }

    /// Logs the totals once the subtask's input ended.
    fn summarize(&self, table: &str) {
        if self.kept + self.skipped == 0 {
            return;
        }
        tracing::warn!(
            table = %table,
            kept_with_nulls = self.kept,
            skipped = self.skipped,
            "{} records of the table's files did not parse: {} read with fields set to NULL, {} skipped",
            self.kept + self.skipped,
            self.kept,
            self.skipped
        );
    }
}

impl FileReader {
    /// Opens `path` and passes over the `skip` records read before a restore.
    fn open(&self, path: PathBuf, skip: u64) -> Result<OpenFile> {
        let file = File::open(&path)
            .map_err(|e| Error::Io(format!("cannot open '{}': {e}", path.display())))?;
        let mut records = RecordReader::new(file, self.decoder.framing());
        let skipped = records
            .skip(skip, self.batch_size)
            .map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))?;
        Ok(OpenFile {
            path,
            records,
            consumed: skipped,
        })
    }

    /// The error for a record that does not parse while parse errors are
    /// not ignored.
    fn parse_error(&self, path: &Path, bad: &BadRecord) -> Error {
        let (remedy, field) = if bad.fields.is_empty() {
            ("skip such records", String::new())
        } else {
            (
                "read such fields as NULL",
                format!(": field '{}'", bad.fields.join("', '")),
            )
        };
        let hint = if bad.reason.contains("json.fail-on-missing-field") {
            String::new()
        } else {
            format!(" (set '{}' = 'true' to {remedy})", self.ignore_option)
        };
        Error::Data(format!(
            "table '{}': cannot read line {} of '{}'{field}: {}{hint}",
            self.table,
            bad.line,
            path.display(),
            bad.reason
        ))
    }

    fn project(&self, batch: RecordBatch) -> riffle_runtime::Result<RecordBatch> {
        Ok(match &self.projection {
            Some(p) => batch.project(p)?,
            None => batch,
        })
    }
}

impl SourceReader for FileReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        loop {
            let mut current = match self.current.take() {
                Some(c) => c,
                None => {
                    if self.files.is_empty() {
                        // Once, however often the end is polled.
                        std::mem::take(&mut self.log).summarize(&self.table);
                        return Ok(SourcePoll::End);
                    }
                    let (path, skip) = self.files.remove(0);
                    self.open(path, skip)?
                }
            };
            let records = current
                .records
                .fill(self.batch_size)
                .map_err(|e| Error::Io(format!("cannot read '{}': {e}", current.path.display())))?;
            if records == 0 {
                // The file is done; `current` stays empty.
                continue;
            }
            self.bad.clear();
            let decoded = decode_chunk(
                self.decoder.as_mut(),
                current.records.buf(),
                current.records.spans(),
                &mut self.bad,
            );
            current.consumed += records as u64;
            if !self.bad.is_empty() {
                for bad in &self.bad {
                    self.log.note(&self.table, &current.path, bad);
                }
                if let Some(m) = &self.metrics {
                    m.add_records_in_errors(self.bad.len());
                }
            }
            let decoded = match decoded {
                Ok(d) => d,
                Err(ChunkError::Record(bad)) => {
                    return Err(self.parse_error(&current.path, &bad).into());
                }
                Err(ChunkError::Internal(e)) => {
                    return Err(riffle_runtime::Error::Internal(format!(
                        "table '{}': cannot put the rows of '{}' together: {e}",
                        self.table,
                        current.path.display()
                    )));
                }
            };
            self.current = Some(current);
            if let Some(batch) = decoded {
                return Ok(SourcePoll::Batch(self.project(batch)?));
            }
        }
    }

    fn snapshot_splits(&mut self, _checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        let split = |path: &PathBuf, records: u64| {
            let mut e = Encoder::new();
            e.str(&path.to_string_lossy());
            e.u64(records);
            e.into_bytes()
        };
        let mut out = Vec::new();
        if let Some(f) = &self.current {
            out.push(split(&f.path, f.consumed));
        }
        out.extend(self.files.iter().map(|(p, skip)| split(p, *skip)));
        Ok(out)
    }

    fn bind_metrics(&mut self, metrics: Arc<TaskMetrics>) {
        self.metrics = Some(metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn table() -> TableDescriptor {
        TableDescriptor {
            name: "src".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            options: Default::default(),
            partition_keys: Vec::new(),
            metadata: Vec::new(),
        }
    }

    fn task() -> TaskInfo {
        TaskInfo {
            job_name: "j".into(),
            vertex_id: 0,
            vertex_name: "Source: src".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
            checkpointing: false,
        }
    }

    /// `lines` JSON lines with ids 1.., line `bad` holding a string id.
    fn json_file(dir: &Path, lines: u64, bad: u64) -> PathBuf {
        let mut text = String::new();
        for i in 1..=lines {
            if i == bad {
                text.push_str("{\"id\": \"abc\", \"name\": \"n\"}\n");
            } else {
                text.push_str(&format!("{{\"id\": {i}, \"name\": \"n\"}}\n"));
            }
        }
        let path = dir.join("data.json");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn source(path: &Path, ignore: bool) -> FileSource {
        let errors = ParseErrors {
            ignore,
            fail_on_missing_field: false,
        };
        FileSource::try_new(&table(), path.to_path_buf(), Format::Json, errors, None).unwrap()
    }

    /// Polls `reader` for up to `batches` batches (all if `None`); the ids
    /// read, NULL as -1.
    fn ids(
        reader: &mut dyn SourceReader,
        batches: Option<usize>,
    ) -> riffle_runtime::Result<Vec<i64>> {
        let mut out = Vec::new();
        let mut polled = 0;
        while batches.is_none_or(|b| polled < b) {
            match reader.poll()? {
                SourcePoll::Batch(b) => {
                    let ids = b.column(0).as_primitive::<Int64Type>();
                    out.extend(ids.iter().map(|v| v.unwrap_or(-1)));
                    polled += 1;
                }
                SourcePoll::Pending => {}
                SourcePoll::End => break,
            }
        }
        Ok(out)
    }

    /// Issue 15, case 3: 20,000 lines with one bad line at 10,001 gave
    /// 8,192 rows and only a log line.
    #[test]
    fn a_bad_record_is_counted_and_the_file_is_read_to_the_end() -> riffle_runtime::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = json_file(dir.path(), 20_000, 10_001);
        let mut reader = source(&path, true).create_reader(&task(), 8192, None)?;
        let metrics = Arc::new(TaskMetrics::new(0, "Source: src", 0));
        reader.bind_metrics(Arc::clone(&metrics));
        let ids = ids(reader.as_mut(), None)?;
        assert_eq!(ids.len(), 20_000);
        assert_eq!(ids[10_000], -1, "kept, with the id NULL");
        assert_eq!(ids[10_001], 10_002);
        assert_eq!(metrics.sample().records_in_errors, 1);
        Ok(())
    }

    #[test]
    fn a_parse_error_names_table_file_line_and_field() -> riffle_runtime::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = json_file(dir.path(), 100, 42);
        let mut reader = source(&path, false).create_reader(&task(), 8192, None)?;
        let e = ids(reader.as_mut(), None).unwrap_err();
        assert!(matches!(e, riffle_runtime::Error::User(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "table 'src': cannot read line 42 of '{}': field 'id': failed to parse \"abc\" \
                 as Int64 (set 'json.ignore-parse-errors' = 'true' to read such fields as NULL)",
                path.display()
            )
        );
        Ok(())
    }

    #[test]
    fn a_restored_reader_goes_on_after_the_records_it_had_read() -> riffle_runtime::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = json_file(dir.path(), 100, 5);
        std::fs::write(
            &path,
            std::fs::read_to_string(&path)?.replace("\"id\": 7,", "\n\nnot json\n"),
        )?;
        let s = source(&path, true);
        let mut first = s.create_reader(&task(), 10, None)?;
        let before = ids(first.as_mut(), Some(2))?;
        let splits = first.snapshot_splits(1)?;
        let mut again = s.create_reader(&task(), 10, Some(splits))?;
        let after = ids(again.as_mut(), None)?;
        let mut all: Vec<i64> = before.iter().chain(&after).copied().collect();
        assert_eq!(all.iter().filter(|&&i| i == -1).count(), 1, "line 5, once");
        all.retain(|&i| i != -1);
        let expected: Vec<i64> = (1..=100).filter(|&i| i != 5 && i != 7).collect();
        assert_eq!(all, expected);
        Ok(())
    }

    #[test]
    fn rows_keep_the_projection() -> riffle_runtime::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = json_file(dir.path(), 3, 0);
        let s = FileSource::try_new(
            &table(),
            path,
            Format::Json,
            ParseErrors::default(),
            Some(vec![1, 0]),
        )?;
        let mut reader = s.create_reader(&task(), 8192, None)?;
        let SourcePoll::Batch(b) = reader.poll()? else {
            panic!("no batch");
        };
        assert_eq!(b.schema().field(0).name(), "name");
        assert_eq!(
            b.column(1).as_primitive::<Int64Type>(),
            &Int64Array::from(vec![1, 2, 3])
        );
        Ok(())
    }
}
