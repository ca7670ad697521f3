//! Counters of a running job: job-wide totals and one set per subtask.
//!
//! Updated with relaxed atomics on the hot path (once per batch, never per
//! row). The progress line and the final summary read the job totals; the
//! TaskManager's metric reporters read the per-subtask [`TaskMetrics`] and turn
//! them into Flink's metric names (rates are computed by the reader from two
//! samples, so the hot path only ever adds).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counters of one running job.
#[derive(Debug, Default)]
pub struct JobMetrics {
    /// Rows produced by all sources.
    pub source_records: AtomicU64,
    /// Rows written by all sinks.
    pub sink_records: AtomicU64,
    watermarks: Mutex<Vec<Arc<AtomicI64>>>,
    tasks: Mutex<Vec<Arc<TaskMetrics>>>,
}

impl JobMetrics {
    /// Registers a watermark gauge (one per sink subtask); starts at `i64::MIN`.
    pub fn watermark_gauge(&self) -> Arc<AtomicI64> {
        let g = Arc::new(AtomicI64::new(i64::MIN));
        if let Ok(mut w) = self.watermarks.lock() {
            w.push(Arc::clone(&g));
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

    /// Registers the counters of one subtask.
    pub fn register_task(
        &self,
        vertex: usize,
        vertex_name: &str,
        subtask: usize,
    ) -> Arc<TaskMetrics> {
        let t = Arc::new(TaskMetrics::new(vertex, vertex_name, subtask));
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(Arc::clone(&t));
        }
        t
    }

    /// The counters of every registered subtask.
    pub fn tasks(&self) -> Vec<Arc<TaskMetrics>> {
        self.tasks.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Counters of one subtask, with Flink's meanings.
#[derive(Debug)]
pub struct TaskMetrics {
    /// Vertex index in the job graph.
    pub vertex: usize,
    /// Vertex name (the chain).
    pub vertex_name: String,
    /// Subtask index.
    pub subtask: usize,
    /// When the subtask was created.
    pub started: Instant,
    /// `numRecordsIn`: rows received from upstream tasks (zero for sources, as in Flink).
    pub records_in: AtomicU64,
    /// `numRecordsOut`: rows sent downstream (sinks: rows written).
    pub records_out: AtomicU64,
    /// `numBytesIn`: in-memory size of the received batches.
    pub bytes_in: AtomicU64,
    /// `numBytesOut`: in-memory size of the sent batches.
    pub bytes_out: AtomicU64,
    /// Rows the chain's source produced (the source operator's `numRecordsOut`).
    pub source_out: AtomicU64,
    /// `numRecordsInErrors`, Flink's standard source metric: records the
    /// chain's source could not read as they are (a file source skips
    /// them, or reads them with NULL fields, under `*.ignore-parse-errors`).
    pub records_in_errors: AtomicU64,
    /// Rows that entered the chain's last operator (its `numRecordsIn`).
    pub tail_in: AtomicU64,
    /// Time spent waiting for input, in ns.
    pub idle_ns: AtomicU64,
    /// Time spent blocked on a full downstream channel, in ns.
    pub backpressured_ns: AtomicU64,
    /// `currentInputWatermark` (`i64::MIN` before the first).
    pub input_watermark: AtomicI64,
    /// `currentOutputWatermark` (`i64::MIN` before the first).
    pub output_watermark: AtomicI64,
    /// `pendingRecords` of the chain's source: records it is behind (a
    /// paced source behind its schedule); -1 when it does not know.
    pub pending_records: AtomicI64,
}

impl TaskMetrics {
    /// Fresh counters.
    pub fn new(vertex: usize, vertex_name: &str, subtask: usize) -> Self {
        TaskMetrics {
            vertex,
            vertex_name: vertex_name.to_string(),
            subtask,
            started: Instant::now(),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            source_out: AtomicU64::new(0),
            records_in_errors: AtomicU64::new(0),
            tail_in: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            input_watermark: AtomicI64::new(i64::MIN),
            output_watermark: AtomicI64::new(i64::MIN),
            pending_records: AtomicI64::new(-1),
        }
    }

    /// Sets the source's `pendingRecords`.
    pub fn set_pending_records(&self, records: u64) {
        self.pending_records.store(
            i64::try_from(records).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Adds received rows and bytes.
    pub fn add_in(&self, rows: usize, bytes: usize) {
        self.records_in.fetch_add(rows as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Adds sent rows and bytes.
    pub fn add_out(&self, rows: usize, bytes: usize) {
        self.records_out.fetch_add(rows as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Adds rows produced by the chain's source.
    pub fn add_source_out(&self, rows: usize) {
        self.source_out.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Adds records the chain's source could not read as they are.
    pub fn add_records_in_errors(&self, records: usize) {
        self.records_in_errors
            .fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Adds rows that entered the chain's last operator.
    pub fn add_tail_in(&self, rows: usize) {
        self.tail_in.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Adds time spent waiting for input.
    pub fn add_idle(&self, d: Duration) {
        self.idle_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds time spent blocked by backpressure.
    pub fn add_backpressured(&self, d: Duration) {
        self.backpressured_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A consistent-enough copy of the counters, for reporters.
    pub fn sample(&self) -> TaskSample {
        let elapsed_ns = self.started.elapsed().as_nanos() as u64;
        let idle_ns = self.idle_ns.load(Ordering::Relaxed);
        let backpressured_ns = self.backpressured_ns.load(Ordering::Relaxed);
        TaskSample {
            at: Instant::now(),
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            source_out: self.source_out.load(Ordering::Relaxed),
            records_in_errors: self.records_in_errors.load(Ordering::Relaxed),
            tail_in: self.tail_in.load(Ordering::Relaxed),
            idle_ns,
            backpressured_ns,
            busy_ns: elapsed_ns.saturating_sub(idle_ns + backpressured_ns),
            input_watermark: self.input_watermark.load(Ordering::Relaxed),
            output_watermark: self.output_watermark.load(Ordering::Relaxed),
            pending_records: u64::try_from(self.pending_records.load(Ordering::Relaxed)).ok(),
        }
    }
}

/// Counter values at one instant.
#[derive(Debug, Clone, Copy)]
pub struct TaskSample {
    /// When the sample was taken.
    pub at: Instant,
    /// Rows in.
    pub records_in: u64,
    /// Rows out.
    pub records_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Rows the chain's source produced.
    pub source_out: u64,
    /// `numRecordsInErrors` of the chain's source.
    pub records_in_errors: u64,
    /// Rows that entered the chain's last operator.
    pub tail_in: u64,
    /// Accumulated idle time.
    pub idle_ns: u64,
    /// Accumulated backpressured time.
    pub backpressured_ns: u64,
    /// Accumulated busy time (lifetime minus idle and backpressured).
    pub busy_ns: u64,
    /// Input watermark.
    pub input_watermark: i64,
    /// Output watermark.
    pub output_watermark: i64,
    /// The source's `pendingRecords`, when it knows.
    pub pending_records: Option<u64>,
}

/// Per-second rates between two samples (Flink's `...PerSecond` metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskRates {
    /// `numRecordsInPerSecond`.
    pub records_in: f64,
    /// `numRecordsOutPerSecond`.
    pub records_out: f64,
    /// `numBytesInPerSecond`.
    pub bytes_in: f64,
    /// `numBytesOutPerSecond`.
    pub bytes_out: f64,
    /// The source operator's `numRecordsOutPerSecond`.
    pub source_out: f64,
    /// The last operator's `numRecordsInPerSecond`.
    pub tail_in: f64,
    /// `busyTimeMsPerSecond`.
    pub busy_ms: f64,
    /// `idleTimeMsPerSecond`.
    pub idle_ms: f64,
    /// `backPressuredTimeMsPerSecond`.
    pub backpressured_ms: f64,
}

impl TaskRates {
    /// Rates from `old` to `new`; zero when no time passed.
    pub fn between(old: &TaskSample, new: &TaskSample) -> TaskRates {
        let secs = new.at.saturating_duration_since(old.at).as_secs_f64();
        if secs <= 0.0 {
            return TaskRates::default();
        }
        let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        let ms = |a: u64, b: u64| (b.saturating_sub(a) as f64 / 1e6 / secs).min(1000.0);
        TaskRates {
            records_in: per(old.records_in, new.records_in),
            records_out: per(old.records_out, new.records_out),
            bytes_in: per(old.bytes_in, new.bytes_in),
            bytes_out: per(old.bytes_out, new.bytes_out),
            source_out: per(old.source_out, new.source_out),
            tail_in: per(old.tail_in, new.tail_in),
            busy_ms: ms(old.busy_ns, new.busy_ns),
            idle_ms: ms(old.idle_ns, new.idle_ns),
            backpressured_ms: ms(old.backpressured_ns, new.backpressured_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_samples() {
        let t = TaskMetrics::new(0, "v", 0);
        let a = t.sample();
        t.add_in(1000, 8000);
        t.add_idle(Duration::from_millis(5));
        let mut b = t.sample();
        b.at = a.at + Duration::from_secs(2);
        let r = TaskRates::between(&a, &b);
        assert_eq!(r.records_in, 500.0);
        assert_eq!(r.bytes_in, 4000.0);
        assert!((r.idle_ms - 2.5).abs() < 1e-9);
        assert_eq!(TaskRates::between(&b, &b), TaskRates::default());
    }

    #[test]
    fn tasks_are_registered() {
        let m = JobMetrics::default();
        m.register_task(1, "Sink", 0).add_out(3, 10);
        m.register_task(0, "Source: t", 0).add_records_in_errors(2);
        assert_eq!(m.tasks().len(), 2);
        assert_eq!(m.tasks()[0].sample().records_out, 3);
        assert_eq!(m.tasks()[1].sample().records_in_errors, 2);
    }
}
