//! The seams between the runtime and the connectors.
//!
//! The planner resolves a table's `connector` option to factories from
//! `riffle-connectors` and stores them in the job graph; each subtask calls the
//! factory to get its own reader or writer. Sources are pulled by their task
//! (`poll`), so one thread drives source, chained operators and output without
//! any hand-off.

use std::fmt::Debug;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use riffle_common::Chunk;

use crate::{Result, TaskInfo};

/// What a source returns when polled.
#[derive(Debug)]
pub enum SourcePoll {
    /// A batch of new rows (all `+I`).
    Batch(RecordBatch),
    /// Nothing right now; poll again later (unbounded or paced sources).
    Pending,
    /// This subtask's part of the source is exhausted.
    End,
}

/// One subtask's reader.
pub trait SourceReader: Send {
    /// Returns the next batch, `Pending`, or `End`.
    fn poll(&mut self) -> Result<SourcePoll>;
}

/// Creates readers; lives in the job graph.
pub trait SourceFactory: Send + Sync + Debug {
    /// The connector name (Flink's `connector` option value).
    fn connector(&self) -> &str;
    /// The schema of the batches the readers return (after projection).
    fn schema(&self) -> SchemaRef;
    /// Whether the source ends by itself.
    fn is_bounded(&self) -> bool;
    /// Creates the reader for one subtask. `batch_size` is the preferred number of rows per batch.
    fn create_reader(&self, task: &TaskInfo, batch_size: usize) -> Result<Box<dyn SourceReader>>;
}

/// One subtask's writer.
pub trait SinkWriter: Send {
    /// Writes rows with their change kinds.
    fn write(&mut self, chunk: &Chunk) -> Result<()>;
    /// Input has ended: flush and close.
    fn finish(&mut self) -> Result<()>;
}

/// Creates writers; lives in the job graph.
pub trait SinkFactory: Send + Sync + Debug {
    /// The connector name.
    fn connector(&self) -> &str;
    /// Whether the sink accepts retractions (`-U`, `-D`).
    fn accepts_updates(&self) -> bool;
    /// Creates the writer for one subtask.
    fn create_writer(&self, task: &TaskInfo) -> Result<Box<dyn SinkWriter>>;
}
