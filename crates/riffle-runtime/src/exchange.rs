//! Exchanges: how a subtask's output reaches the downstream subtasks.
//!
//! Every downstream subtask owns one bounded channel that all its upstream
//! subtasks send into, each tagging messages with its channel index, so the
//! receiver can track watermarks and end-of-input per channel. Bounded
//! channels give backpressure: a slow consumer blocks its producers, all the
//! way back to the sources. Data is routed by the edge's [`Partitioning`];
//! watermarks, barriers and end-of-input go to every downstream subtask.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, UInt8Array, UInt32Array};
use arrow::compute::take;
use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use datafusion_common::hash_utils::{RandomState, create_hashes};
use riffle_common::keygroup::{key_group_for_hash, subtask_for_key_group};
use riffle_common::{Chunk, Message};

use crate::graph::Partitioning;
use crate::metrics::TaskMetrics;
use crate::{Error, Result};

/// A message tagged with the receiver-side channel index it arrived on.
pub type Envelope = (usize, Message);

/// Sends one edge's output of one upstream subtask.
pub struct EdgeWriter {
    partitioning: Partitioning,
    /// One sender per downstream subtask, with the channel index to tag messages with.
    targets: Vec<(Sender<Envelope>, usize)>,
    /// Index of the upstream subtask (for forward edges).
    subtask_index: usize,
    max_parallelism: usize,
    next_rebalance: usize,
    cancel: Arc<AtomicBool>,
    hashes: Vec<u64>,
    metrics: Arc<TaskMetrics>,
}

impl EdgeWriter {
    /// Creates the writer. `targets[i]` reaches downstream subtask `i`.
    pub fn new(
        partitioning: Partitioning,
        targets: Vec<(Sender<Envelope>, usize)>,
        subtask_index: usize,
        max_parallelism: usize,
        cancel: Arc<AtomicBool>,
        metrics: Arc<TaskMetrics>,
    ) -> Self {
        EdgeWriter {
            metrics,
            partitioning,
            targets,
            next_rebalance: subtask_index,
            subtask_index,
            max_parallelism,
            cancel,
            hashes: Vec::new(),
        }
    }

    fn send_to(&self, target: usize, msg: Message) -> Result<()> {
        let (tx, channel) = self
            .targets
            .get(target)
            .ok_or_else(|| Error::Internal(format!("no downstream subtask {target}")))?;
        let mut env = match tx.try_send((*channel, msg)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => back,
            Err(TrySendError::Disconnected(_)) => return Err(Error::Cancelled),
        };
        // The channel is full: the time until it has room is backpressure.
        let blocked = Instant::now();
        let result = loop {
            match tx.send_timeout(env, Duration::from_millis(100)) {
                Ok(()) => break Ok(()),
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.cancel.load(Ordering::Relaxed) {
                        break Err(Error::Cancelled);
                    }
                    env = back;
                }
                // The receiver is gone: the job is failing or cancelled.
                Err(SendTimeoutError::Disconnected(_)) => break Err(Error::Cancelled),
            }
        };
        self.metrics.add_backpressured(blocked.elapsed());
        result
    }

    /// Routes one message.
    pub fn send(&mut self, msg: Message) -> Result<()> {
        match msg {
            Message::Data(chunk) => self.send_chunk(chunk),
            other => {
                for t in 0..self.targets.len() {
                    self.send_to(t, other.clone())?;
                }
                Ok(())
            }
        }
    }

    fn send_chunk(&mut self, chunk: Chunk) -> Result<()> {
        let n = self.targets.len();
        match &self.partitioning {
            Partitioning::Forward => {
                let t = if n == 1 { 0 } else { self.subtask_index % n };
                self.send_to(t, Message::Data(chunk))
            }
            Partitioning::Single => self.send_to(0, Message::Data(chunk)),
            Partitioning::Rebalance => {
                let t = self.next_rebalance % n;
                self.next_rebalance = self.next_rebalance.wrapping_add(1);
                self.send_to(t, Message::Data(chunk))
            }
            Partitioning::Broadcast => {
                for t in 0..n {
                    self.send_to(t, Message::Data(chunk.clone()))?;
                }
                Ok(())
            }
            Partitioning::Hash(keys) => {
                if n == 1 {
                    return self.send_to(0, Message::Data(chunk));
                }
                let keys = keys.clone();
                let parts =
                    partition_by_key(&chunk, &keys, n, self.max_parallelism, &mut self.hashes)?;
                for (t, part) in parts.into_iter().enumerate() {
                    if let Some(part) = part {
                        self.send_to(t, Message::Data(part))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Hashes the key columns of every row (the same function the keyed operators use).
pub fn hash_keys(columns: &[ArrayRef], num_rows: usize, hashes: &mut Vec<u64>) -> Result<()> {
    hashes.clear();
    hashes.resize(num_rows, 0);
    create_hashes(columns.iter(), &RandomState::with_seed(0), hashes)?;
    Ok(())
}

/// Splits a chunk by the key group of its key expressions; `None` for subtasks that get no rows.
fn partition_by_key(
    chunk: &Chunk,
    keys: &[Arc<dyn datafusion_physical_expr::PhysicalExpr>],
    n: usize,
    max_parallelism: usize,
    hashes: &mut Vec<u64>,
) -> Result<Vec<Option<Chunk>>> {
    let rows = chunk.num_rows();
    let cols = keys
        .iter()
        .map(|k| k.evaluate(&chunk.data).and_then(|v| v.into_array(rows)))
        .collect::<datafusion_common::Result<Vec<_>>>()?;
    hash_keys(&cols, rows, hashes)?;
    let mut idx: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (row, h) in hashes.iter().enumerate() {
        let kg = key_group_for_hash(*h, max_parallelism);
        idx[subtask_for_key_group(kg, max_parallelism, n)].push(row as u32);
    }
    idx.into_iter()
        .map(|rows| {
            if rows.is_empty() {
                return Ok(None);
            }
            take_chunk(chunk, &UInt32Array::from(rows)).map(Some)
        })
        .collect()
}

/// Takes the given rows of a chunk, kinds included.
pub fn take_chunk(chunk: &Chunk, indices: &UInt32Array) -> Result<Chunk> {
    let columns = chunk
        .data
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<arrow::error::Result<Vec<_>>>()?;
    let data = arrow::record_batch::RecordBatch::try_new_with_options(
        chunk.schema(),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(indices.len())),
    )?;
    match &chunk.kinds {
        None => Ok(Chunk::insert_only(data)),
        Some(kinds) => {
            let k = take(kinds.as_ref(), indices, None)?;
            let k = k
                .as_any()
                .downcast_ref::<UInt8Array>()
                .cloned()
                .ok_or_else(|| Error::Internal("change-kind column is not UInt8".into()))?;
            Ok(Chunk::with_kinds(data, k)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    #[test]
    fn take_chunk_changes_the_row_count() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let b =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
        let c = Chunk::with_kinds(b, UInt8Array::from(vec![0, 1, 2])).unwrap();
        let fewer = take_chunk(&c, &UInt32Array::from(vec![2])).unwrap();
        assert_eq!(fewer.num_rows(), 1);
        assert_eq!(fewer.kind(0), riffle_common::RowKind::UpdateAfter);
        let more = take_chunk(&c, &UInt32Array::from(vec![0, 0, 1, 1])).unwrap();
        assert_eq!(more.num_rows(), 4);
    }
}
