//! The collect sink: query results held for a client to fetch.
//!
//! When the SQL client runs a `SELECT` on a cluster, the query's rows are
//! not printed on a TaskManager but written into a [`CollectBuffer`] of the
//! job attempt; the JobManager pulls them from there whenever the client
//! asks for more. The buffer is bounded: when the client reads slowly the
//! sink blocks, and backpressure slows the sources, so memory stays bounded
//! however long the query runs. Values are rendered as text the way the
//! `print` connector renders them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use riffle_common::{Chunk, RowKind};
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::format::{Style, write_value};

/// One result row: its change kind and its values as text (`None` for NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedRow {
    /// The change kind.
    pub kind: RowKind,
    /// The values, rendered as `print` renders them.
    pub fields: Vec<Option<String>>,
}

/// Rows of one job attempt waiting to be fetched.
#[derive(Debug)]
pub struct CollectBuffer {
    rows: Mutex<VecDeque<CollectedRow>>,
    not_full: Condvar,
    capacity: usize,
    closed: AtomicBool,
}

impl CollectBuffer {
    /// A buffer that holds up to `capacity` rows (a chunk larger than that
    /// is still accepted whole once the buffer is empty).
    pub fn new(capacity: usize) -> Self {
        CollectBuffer {
            rows: Mutex::new(VecDeque::new()),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Adds rows, waiting while the buffer is full. Fails with
    /// `Cancelled` once the buffer is closed.
    pub fn push(&self, rows: Vec<CollectedRow>) -> riffle_runtime::Result<()> {
        let mut guard = self
            .rows
            .lock()
            .map_err(|_| riffle_runtime::Error::Internal("collect buffer poisoned".into()))?;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(riffle_runtime::Error::Cancelled);
            }
            if guard.is_empty() || guard.len() + rows.len() <= self.capacity {
                guard.extend(rows);
                return Ok(());
            }
            guard = self
                .not_full
                .wait_timeout(guard, Duration::from_millis(100))
                .map_err(|_| riffle_runtime::Error::Internal("collect buffer poisoned".into()))?
                .0;
        }
    }

    /// Takes up to `max` rows, oldest first.
    pub fn take(&self, max: usize) -> Vec<CollectedRow> {
        let Ok(mut guard) = self.rows.lock() else {
            return Vec::new();
        };
        let n = max.min(guard.len());
        let out: Vec<CollectedRow> = guard.drain(..n).collect();
        self.not_full.notify_all();
        out
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.rows.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// Whether no rows wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes and fails blocked writers (the attempt is cancelled).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.not_full.notify_all();
    }
}

/// Sink factory writing into a [`CollectBuffer`].
#[derive(Debug)]
pub struct CollectSink {
    buffer: Arc<CollectBuffer>,
}

impl CollectSink {
    /// A sink feeding `buffer`.
    pub fn new(buffer: Arc<CollectBuffer>) -> Self {
        CollectSink { buffer }
    }
}

impl SinkFactory for CollectSink {
    fn connector(&self) -> &str {
        "collect"
    }

    fn accepts_updates(&self) -> bool {
        true
    }

    fn create_writer(&self, _task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        Ok(Box::new(CollectWriter {
            buffer: Arc::clone(&self.buffer),
        }))
    }
}

struct CollectWriter {
    buffer: Arc<CollectBuffer>,
}

impl SinkWriter for CollectWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        let mut rows = Vec::with_capacity(chunk.num_rows());
        for row in 0..chunk.num_rows() {
            let fields = chunk
                .data
                .columns()
                .iter()
                .map(|col| {
                    (!col.is_null(row)).then(|| {
                        let mut s = String::new();
                        write_value(col.as_ref(), row, Style::Print, &mut s);
                        s
                    })
                })
                .collect();
            rows.push(CollectedRow {
                kind: chunk.kind(row),
                fields,
            });
        }
        self.buffer.push(rows)
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> CollectedRow {
        CollectedRow {
            kind: RowKind::Insert,
            fields: vec![Some(i.to_string()), None],
        }
    }

    #[test]
    fn a_full_buffer_blocks_until_rows_are_taken() {
        let b = Arc::new(CollectBuffer::new(2));
        b.push(vec![row(1), row(2)]).unwrap();
        let writer = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.push(vec![row(3)]))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(b.len(), 2, "the third row waits for room");
        assert_eq!(b.take(1), vec![row(1)]);
        writer.join().unwrap().unwrap();
        assert_eq!(b.take(10), vec![row(2), row(3)]);
    }

    #[test]
    fn closing_fails_blocked_writers() {
        let b = Arc::new(CollectBuffer::new(1));
        b.push(vec![row(1)]).unwrap();
        let writer = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.push(vec![row(2)]))
        };
        b.close();
        assert!(writer.join().unwrap().unwrap_err().is_cancelled());
    }
}
