//! Job-level counters shared by all subtasks of a local run.
//!
//! Updated with relaxed atomics on the hot path (once per batch, never per
//! row) and read by the progress line and the final summary.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters of one running job.
#[derive(Debug, Default)]
pub struct JobMetrics {
    /// Rows produced by all sources.
    pub source_records: AtomicU64,
    /// Rows written by all sinks.
    pub sink_records: AtomicU64,
    watermarks: Mutex<Vec<std::sync::Arc<AtomicI64>>>,
}

impl JobMetrics {
    /// Registers a watermark gauge (one per sink subtask); starts at `i64::MIN`.
    pub fn watermark_gauge(&self) -> std::sync::Arc<AtomicI64> {
        let g = std::sync::Arc::new(AtomicI64::new(i64::MIN));
        if let Ok(mut w) = self.watermarks.lock() {
            w.push(std::sync::Arc::clone(&g));
        }
        g
    }

    /// The minimum watermark over all registered gauges, if any has one.
    pub fn current_watermark(&self) -> Option<i64> {
        let w = self.watermarks.lock().ok()?;
        let min = w.iter().map(|g| g.load(Ordering::Relaxed)).min()?;
        (min != i64::MIN).then_some(min)
    }

    /// Adds source rows.
    pub fn add_source_records(&self, n: usize) {
        self.source_records.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds sink rows.
    pub fn add_sink_records(&self, n: usize) {
        self.sink_records.fetch_add(n as u64, Ordering::Relaxed);
    }
}
