//! The local executor: runs a whole job graph inside this process.
//!
//! One OS thread per subtask, bounded channels between them (see
//! [`crate::exchange`] and [`crate::deploy`]). A TaskManager wires its share
//! of a job with the same [`crate::deploy::wire`] and adds network channels
//! for the subtasks placed elsewhere.
//!
//! Failure rule: the first subtask error cancels the job (every task checks the
//! shared flag while blocked), all threads are joined, and that first error is
//! returned — never a cancellation that it caused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::deploy::{Checkpointing, FirstError, NoRemote, Wiring, spawn, wire};
use crate::graph::JobGraph;
use crate::metrics::JobMetrics;
use crate::{Error, Result};

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// Wall time from start to the last subtask's end.
    pub duration: Duration,
    /// Rows produced by all sources.
    pub source_records: u64,
    /// Rows written by all sinks.
    pub sink_records: u64,
}

/// Runs job graphs in this process.
#[derive(Debug, Default, Clone)]
pub struct LocalExecutor {
    cancel: Arc<AtomicBool>,
    metrics: Arc<JobMetrics>,
}

impl LocalExecutor {
    /// A new executor with fresh metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag that cancels the running job when set.
    pub fn cancel_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// The job's live counters.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs the graph to completion.
    pub fn run(&self, graph: &JobGraph) -> Result<JobOutcome> {
        let start = Instant::now();
        let Wiring {
            subtasks, inputs, ..
        } = wire(
            graph,
            &|_| true,
            &NoRemote,
            &self.metrics,
            &self.cancel,
            &Checkpointing::default(),
        )?;
        // Drop our copies of the input senders so receivers see disconnection if all producers die.
        drop(inputs);
        let first_error = Arc::new(FirstError::default());
        let errors = Arc::clone(&first_error);
        let handles = spawn(
            subtasks,
            &self.cancel,
            Arc::new(move |(_, result)| {
                if let Err(e) = result {
                    if !e.is_cancelled() {
                        tracing::error!(error = %e, "subtask failed");
                    }
                    errors.record(e);
                }
            }),
        )?;
        for h in handles {
            if h.join().is_err() {
                self.cancel.store(true, Ordering::Relaxed);
                first_error.record(Error::Internal("a subtask thread panicked".into()));
            }
        }
        if let Some(e) = first_error.take() {
            return Err(e);
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        Ok(JobOutcome {
            duration: start.elapsed(),
            source_records: self.metrics.source_records.load(Ordering::Relaxed),
            sink_records: self.metrics.sink_records.load(Ordering::Relaxed),
        })
    }
}
