//! In-band messages: data and the control messages that travel with it.
//!
//! Ordering rules (the same as Flink's):
//! - a [`Watermark`] `w` promises that no later record on the same channel has an
//!   event time `<= w`; a task's watermark is the minimum over its input
//!   channels, and an operator forwards a watermark only after it has emitted
//!   everything the watermark completes (fired windows);
//! - a [`CheckpointBarrier`] separates the records before a checkpoint from the
//!   ones after it; every operator forwards it after handling all records before
//!   it (alignment over several inputs is the task's job);
//! - [`Message::Idle`] marks a channel whose source has produced nothing for the idle
//!   timeout; the receiver leaves it out of the watermark minimum until it is active again;
//! - [`Message::EndOfInput`] is the last message on a channel. Bounded sources
//!   send a watermark of `i64::MAX` first, so end of input flushes all windows.

use crate::Chunk;

/// An event-time watermark in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark(pub i64);

impl Watermark {
    /// The watermark that completes all event time: sent at end of input.
    pub const MAX: Watermark = Watermark(i64::MAX);
    /// No watermark seen yet.
    pub const MIN: Watermark = Watermark(i64::MIN);
}

/// A checkpoint barrier (Chandy–Lamport marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckpointBarrier {
    /// Checkpoint id, increasing per job.
    pub checkpoint_id: u64,
    /// When the coordinator triggered it (epoch milliseconds).
    pub timestamp_ms: i64,
    /// True for a savepoint.
    pub is_savepoint: bool,
    /// Stop with savepoint: after this barrier nothing more is produced and
    /// every task ends without flushing once the savepoint completed.
    pub stop: bool,
}

/// What flows on a channel between tasks and between chained operators.
#[derive(Debug, Clone)]
pub enum Message {
    /// Rows.
    Data(Chunk),
    /// Event-time progress.
    Watermark(Watermark),
    /// A checkpoint barrier.
    Barrier(CheckpointBarrier),
    /// The sender has become idle (`true`: no data for `table.exec.source.idle-timeout`,
    /// its watermark must not hold others back) or active again (`false`).
    Idle(bool),
    /// The channel is finished.
    EndOfInput,
}
