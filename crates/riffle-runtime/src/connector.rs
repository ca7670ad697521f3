//! The seams between the runtime and the connectors.
//!
//! The planner resolves a table's `connector` option to factories from
//! `riffle-connectors` and stores them in the job graph; each subtask calls the
//! factory to get its own reader or writer. Sources are pulled by their task
//! (`poll`), so one thread drives source, chained operators and output without
//! any hand-off.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use riffle_common::Chunk;

use crate::metrics::TaskMetrics;
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
///
/// A reader's position is a list of splits (Flink's source model): each
/// split is an independent part of the input with its own progress (a
/// generator range and how far it got, a file and the rows read). On
/// restore the splits are dealt to the new subtasks, so a job can resume
/// with another parallelism and every record is still read exactly once.
pub trait SourceReader: Send {
    /// Returns the next batch, `Pending`, or `End`.
    fn poll(&mut self) -> Result<SourcePoll>;

    /// The position after the last batch returned, one entry per split
    /// still holding input (a finished reader returns none), for checkpoint
    /// `checkpoint_id`.
    fn snapshot_splits(&mut self, checkpoint_id: u64) -> Result<Vec<Vec<u8>>>;

    /// The split the batch last returned by `poll` came from, for sources
    /// whose batches each come from one split and whose splits advance
    /// event time on their own (Kafka's partitions: per-partition
    /// watermarks). `None` (the default): batches mix splits.
    fn batch_split(&self) -> Option<u32> {
        None
    }

    /// The splits this reader holds now (ids as in [`SourceReader::batch_split`]).
    fn assigned_splits(&self) -> Vec<u32> {
        Vec::new()
    }

    /// Checkpoint `checkpoint_id` completed: its splits are durable. A
    /// reader may tell its system how far it got (Kafka commits the
    /// offsets to the consumer group, for monitoring).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Gives the reader its subtask's counters, once, before the first
    /// `poll` (Flink hands a source reader its metric group the same way): a
    /// reader that skips or repairs records counts them in
    /// [`TaskMetrics::records_in_errors`] (`numRecordsInErrors`).
    fn bind_metrics(&mut self, _metrics: Arc<TaskMetrics>) {}
}

/// Creates readers; lives in the job graph.
pub trait SourceFactory: Send + Sync + Debug {
    /// The connector name (Flink's `connector` option value).
    fn connector(&self) -> &str;
    /// The schema of the batches the readers return (after projection).
    fn schema(&self) -> SchemaRef;
    /// Whether the source ends by itself.
    fn is_bounded(&self) -> bool;
    /// Creates the reader for one subtask. `batch_size` is the preferred
    /// number of rows per batch. `restored` holds the splits dealt to this
    /// subtask when the job resumes from a checkpoint (possibly none: then
    /// the reader ends at once); `None` starts from the beginning.
    fn create_reader(
        &self,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<Vec<u8>>>,
    ) -> Result<Box<dyn SourceReader>>;

    /// Whether a restored subtask gets every split of the checkpoint (and
    /// keeps those it owns by the source's own rule) instead of a
    /// round-robin share. Flink's union list state: a source whose readers
    /// also find new parts by themselves (Kafka's partition discovery)
    /// needs to know every part the checkpoint holds.
    fn restores_union(&self) -> bool {
        false
    }

    /// Names the format of this source's splits (see
    /// [`crate::OperatorFactory::state_descriptor`]).
    fn state_descriptor(&self) -> String {
        format!("{} splits v1", self.connector())
    }
}

/// One subtask's writer.
///
/// A sink that commits in two phases (exactly-once output) prepares its
/// output at each checkpoint ([`SinkWriter::pre_commit`]: close what is in
/// progress, return what still needs committing as state) and makes it
/// visible when the checkpoint completes ([`SinkWriter::commit`]). After a
/// failure, [`SinkWriter::recover`] commits what the restored checkpoint
/// had prepared; what was written after it is never made visible.
pub trait SinkWriter: Send {
    /// Writes rows with their change kinds.
    fn write(&mut self, chunk: &Chunk) -> Result<()>;
    /// The watermark reaching the sink advanced to `watermark_ms` (sinks
    /// that commit by event time, such as partition commit, track it).
    fn on_watermark(&mut self, _watermark_ms: i64) -> Result<()> {
        Ok(())
    }
    /// Input has ended: flush and close. With checkpointing, a committing
    /// sink only prepares here; the final checkpoint commits.
    fn finish(&mut self) -> Result<()>;
    /// Prepares everything written so far for commit at checkpoint
    /// `checkpoint_id`; returns the pending commits to keep as state.
    fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }
    /// Checkpoint `checkpoint_id` completed: commit what was prepared up to it.
    fn commit(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
    /// Restored pending commits (from [`SinkWriter::pre_commit`] of the
    /// checkpoint the job resumes from): commit them, idempotently.
    fn recover(&mut self, _pending: Vec<Vec<u8>>) -> Result<()> {
        Ok(())
    }
    /// Whether this writer commits on checkpoints.
    fn is_transactional(&self) -> bool {
        false
    }
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
