//! Reading files: one split per file, decoded in batches.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use riffle_runtime::TaskInfo;
use riffle_runtime::checkpoint::{Decoder, Encoder};
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};

use super::Format;
use crate::{Error, Result, TableDescriptor};

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
    ignore_parse_errors: bool,
}

impl FileSource {
    /// Checks the path exists; `ignore_parse_errors` skips records that do
    /// not parse.
    pub fn try_new(
        table: &TableDescriptor,
        path: PathBuf,
        format: Format,
        ignore_parse_errors: bool,
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
            ignore_parse_errors,
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
        // A split is one file and the rows already read from it.
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
        Ok(Box::new(FileReader {
            table: self.table.clone(),
            files,
            format: self.format,
            full_schema: Arc::clone(&self.full_schema),
            projection: self.projection.clone(),
            batch_size,
            current: None,
            ignore_parse_errors: self.ignore_parse_errors,
        }))
    }
}

type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + Send>;

struct FileReader {
    table: String,
    /// Files still to read, with the rows to skip (read before a restore).
    files: Vec<(PathBuf, u64)>,
    format: Format,
    full_schema: SchemaRef,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    /// The file being read, its batches and the rows consumed from it.
    current: Option<(PathBuf, BatchIter, u64)>,
    ignore_parse_errors: bool,
}

impl FileReader {
    fn open(&self, path: &Path) -> Result<BatchIter> {
        let file = File::open(path)
            .map_err(|e| Error::Io(format!("cannot open '{}': {e}", path.display())))?;
        let reader = BufReader::with_capacity(1 << 20, file);
        let schema: SchemaRef = Arc::new(Schema::new(self.full_schema.fields().clone()));
        let err = |e: arrow::error::ArrowError| {
            Error::Io(format!("cannot read '{}': {e}", path.display()))
        };
        Ok(match self.format {
            Format::Json | Format::DebeziumJson => Box::new(
                arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(self.batch_size)
                    .with_strict_mode(false)
                    .build(reader)
                    .map_err(err)?,
            ),
            Format::Csv => Box::new(
                arrow::csv::ReaderBuilder::new(schema)
                    .with_batch_size(self.batch_size)
                    .with_header(false)
                    .build(reader)
                    .map_err(err)?,
            ),
        })
    }
}

impl SourceReader for FileReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        loop {
            if self.current.is_none() {
                if self.files.is_empty() {
                    return Ok(SourcePoll::End);
                }
                let (path, skip) = self.files.remove(0);
                let iter = self.open(&path)?;
                let mut current = (path, iter, 0u64);
                // Rows read before a restore are passed over.
                while current.2 < skip {
                    match current.1.next() {
                        Some(Ok(b)) => {
                            let n = b.num_rows() as u64;
                            if current.2 + n > skip {
                                let keep = (skip - current.2) as usize;
                                let rest = b.slice(keep, b.num_rows() - keep);
                                current.2 = skip;
                                let rest = self.project(rest)?;
                                current.2 += rest.num_rows() as u64;
                                self.current = Some(current);
                                return Ok(SourcePoll::Batch(rest));
                            }
                            current.2 += n;
                        }
                        _ => break,
                    }
                }
                self.current = Some(current);
            }
            let Some((path, iter, consumed)) = self.current.as_mut() else {
                continue;
            };
            match iter.next() {
                None => self.current = None,
                Some(Ok(batch)) => {
                    *consumed += batch.num_rows() as u64;
                    return Ok(SourcePoll::Batch(self.project(batch)?));
                }
                Some(Err(e)) => {
                    if self.ignore_parse_errors {
                        tracing::warn!(table = %self.table, file = %path.display(), error = %e, "skipping unparsable data");
                        self.current = None;
                        continue;
                    }
                    return Err(riffle_runtime::Error::User(format!(
                        "table '{}': cannot parse '{}': {e} (set the format's 'ignore-parse-errors' option to skip bad records)",
                        self.table,
                        path.display()
                    )));
                }
            }
        }
    }

    fn snapshot_splits(&mut self) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        let split = |path: &PathBuf, rows: u64| {
            let mut e = Encoder::new();
            e.str(&path.to_string_lossy());
            e.u64(rows);
            e.into_bytes()
        };
        let mut out = Vec::new();
        if let Some((path, _, consumed)) = &self.current {
            out.push(split(path, *consumed));
        }
        out.extend(self.files.iter().map(|(p, skip)| split(p, *skip)));
        Ok(out)
    }
}

impl FileReader {
    fn project(&self, batch: RecordBatch) -> riffle_runtime::Result<RecordBatch> {
        Ok(match &self.projection {
            Some(p) => batch.project(p)?,
            None => batch,
        })
    }
}
