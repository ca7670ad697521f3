//! The operator API.
//!
//! An operator consumes [`Message`]s from one or two inputs and emits messages
//! into an [`Output`]. Only [`Operator::process`] is required; watermarks and
//! barriers are forwarded by default, so a stateless operator is one method.
//!
//! Rules every operator follows:
//! - `process` may emit any number of chunks; it must not emit watermarks;
//! - `on_watermark(w)` first emits every result the watermark completes (fired
//!   windows, timers with time `<= w`), then forwards `w` (the default does only
//!   the forwarding);
//! - `on_end_of_input` is called once, after the task has delivered
//!   `Watermark::MAX`; it emits remaining results (e.g. processing-time
//!   windows) — the task forwards end-of-input itself;
//! - processing-time timers: the task asks [`Operator::next_processing_timer`]
//!   after each call and invokes [`Operator::on_processing_time`] when due.
//!
//! - a source task whose reader says which split a batch came from (Kafka's
//!   partitions) calls [`Operator::on_source_split`] on every operator of its
//!   chain before the batch enters it; only operators before any exchange
//!   see source batches, and the ones that keep state per split (the
//!   watermark assigner: Flink's per-partition watermarks) use it.
//!
//! Two-input operators (joins) receive `input` 0 or 1 in `process`; the task
//! combines watermarks over all channels of both inputs (the minimum), which is
//! what a two-input operator needs.

use std::fmt::Debug;

use riffle_common::{CheckpointBarrier, Chunk, Message, Watermark};

use crate::Result;
use crate::checkpoint::{OperatorSnapshot, RestoredState};

/// Where a subtask runs and what it may see of the job.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The job's name.
    pub job_name: String,
    /// The vertex's index in the job graph.
    pub vertex_id: usize,
    /// The vertex's name (its chain, as EXPLAIN prints it).
    pub vertex_name: String,
    /// Index of this subtask, `0..parallelism`.
    pub subtask_index: usize,
    /// Parallelism of the vertex.
    pub parallelism: usize,
    /// Number of key groups (`pipeline.max-parallelism`).
    pub max_parallelism: usize,
    /// Offset of `table.local-time-zone` from UTC in ms (for `PROCTIME()` and LTZ values).
    pub local_time_zone_offset_ms: i64,
    /// Whether the job takes periodic checkpoints; sinks then make output
    /// visible only when a checkpoint covering it completes.
    pub checkpointing: bool,
}

/// Where the source batch about to enter a chain came from.
#[derive(Debug, Clone, Copy)]
pub struct SourceSplit<'a> {
    /// The batch's split (an id the reader keeps stable while it holds the split).
    pub split: u32,
    /// Every split the reader holds now: one without records yet holds a
    /// per-split watermark back until it is idle.
    pub assigned: &'a [u32],
    /// `table.exec.source.idle-timeout` in ms (0: a split is never idle).
    pub idle_timeout_ms: i64,
}

/// Collects what an operator emits.
#[derive(Debug, Default)]
pub struct Output {
    messages: Vec<Message>,
}

impl Output {
    /// Emits rows (empty chunks are dropped).
    pub fn emit(&mut self, chunk: Chunk) {
        if chunk.num_rows() > 0 {
            self.messages.push(Message::Data(chunk));
        }
    }

    /// Emits a watermark.
    pub fn watermark(&mut self, wm: Watermark) {
        self.messages.push(Message::Watermark(wm));
    }

    /// Emits a checkpoint barrier.
    pub fn barrier(&mut self, b: CheckpointBarrier) {
        self.messages.push(Message::Barrier(b));
    }

    /// Takes everything emitted so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Message> {
        self.messages.drain(..)
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// A running operator instance (one per subtask).
pub trait Operator: Send {
    /// Handles a chunk of rows arriving on `input` (0, or 1 for the right side
    /// of a two-input operator).
    fn process(&mut self, input: usize, chunk: Chunk, out: &mut Output) -> Result<()>;

    /// Handles the task's combined watermark. Default: forward it.
    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        out.watermark(wm);
        Ok(())
    }

    /// The next source batch comes from `split` (see the module rules).
    /// Default: nothing (row-by-row operators do not care).
    fn on_source_split(&mut self, _split: &SourceSplit<'_>) {}

    /// Handles a checkpoint barrier (aligned over all inputs). Default: forward it.
    fn on_barrier(&mut self, barrier: CheckpointBarrier, out: &mut Output) -> Result<()> {
        out.barrier(barrier);
        Ok(())
    }

    /// All inputs have ended. Default: nothing left to emit.
    fn on_end_of_input(&mut self, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    /// The earliest processing time (epoch ms) at which this operator wants
    /// [`Operator::on_processing_time`] to be called.
    fn next_processing_timer(&self) -> Option<i64> {
        None
    }

    /// Processing time has reached `now_ms`.
    fn on_processing_time(&mut self, _now_ms: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    /// Writes the operator's state for checkpoint `checkpoint_id`; called
    /// when the barrier reaches the operator, before it is forwarded. Only
    /// operators whose factory has a [`OperatorFactory::state_descriptor`]
    /// are asked.
    fn snapshot(&mut self, _checkpoint_id: u64, _snap: &mut OperatorSnapshot) -> Result<()> {
        Ok(())
    }

    /// Loads state written by [`Operator::snapshot`] (possibly by other
    /// subtasks, when the parallelism changed); called once, before any input.
    fn restore(&mut self, _state: RestoredState) -> Result<()> {
        Ok(())
    }

    /// Checkpoint `checkpoint_id` completed on every subtask: make what it
    /// covers visible (two-phase sinks commit here).
    fn notify_checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Whether output waits for a checkpoint to be committed, so the subtask
    /// must stay until the final checkpoint when its input ends.
    fn commits_on_checkpoint(&self) -> bool {
        false
    }
}

/// Builds operator instances for subtasks; lives in the job graph.
pub trait OperatorFactory: Send + Sync + Debug {
    /// Short name, shown in EXPLAIN and in errors (e.g. `Calc`, `WindowAggregate`).
    fn name(&self) -> String;

    /// One-line description of what it computes, for EXPLAIN.
    fn explain(&self) -> String;

    /// Whether the operator's output may contain retractions (`-U`, `-D`).
    fn produces_updates(&self) -> bool {
        false
    }

    /// Creates the instance for one subtask.
    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>>;

    /// For operators with state: a short text naming the shape of that state
    /// (key types, accumulator kinds). A restore compares it with the
    /// checkpoint's, so a query changed incompatibly is refused by name.
    /// `None` (the default) means the operator keeps no state.
    fn state_descriptor(&self) -> Option<String> {
        None
    }
}
