//! Per-vertex rates from a job's accumulated counters.
//!
//! The JobManager reports counters that only grow (busy milliseconds per
//! subtask, records in and out per vertex) and, for sources that know it,
//! the backlog still to be read. Two observations a window apart give rates
//! over that window; rates from counters are exact averages, which per-second
//! gauges sampled now and then are not.

use std::collections::VecDeque;

use crate::autoscaler::settings::Aggregator;

/// One vertex's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexCounters {
    /// The vertex's id.
    pub id: String,
    /// Its name (for reports).
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Its max parallelism (key groups), the upper bound of a rescale.
    pub max_parallelism: u32,
    /// The vertices it reads from.
    pub inputs: Vec<String>,
    /// Accumulated busy milliseconds, per subtask.
    pub busy_ms: Vec<u64>,
    /// Records read (produced, for a source), accumulated.
    pub records_in: u64,
    /// Records written, accumulated.
    pub records_out: u64,
    /// Records a source has yet to read, when it knows.
    pub pending: Option<u64>,
}

/// A job's vertices at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When, epoch milliseconds.
    pub at_ms: i64,
    /// The job it is of.
    pub job_id: String,
    /// Its vertices.
    pub vertices: Vec<VertexCounters>,
}

impl Observation {
    /// Whether two observations can be compared: the same job with the same
    /// vertices at the same parallelisms.
    fn comparable(&self, other: &Observation) -> bool {
        self.job_id == other.job_id
            && self.vertices.len() == other.vertices.len()
            && self
                .vertices
                .iter()
                .zip(&other.vertices)
                .all(|(a, b)| a.id == b.id && a.parallelism == b.parallelism)
    }
}

/// A vertex's rates over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexRates {
    /// The vertex's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Its max parallelism.
    pub max_parallelism: u32,
    /// The vertices it reads from.
    pub inputs: Vec<String>,
    /// Busy share, 0–1, its subtasks' combined by the aggregator.
    pub load: f64,
    /// Records read per second (produced, for a source).
    pub input_rate: f64,
    /// Records written per second.
    pub output_rate: f64,
    /// A source's backlog at the window's end.
    pub backlog: Option<f64>,
    /// How fast that backlog grew, records per second (negative: shrank).
    pub backlog_growth: f64,
}

/// The rates between two comparable observations.
pub fn rates(first: &Observation, last: &Observation, agg: Aggregator) -> Vec<VertexRates> {
    let secs = ((last.at_ms - first.at_ms) as f64 / 1000.0).max(f64::MIN_POSITIVE);
    first
        .vertices
        .iter()
        .zip(&last.vertices)
        .map(|(a, b)| {
            let shares = a
                .busy_ms
                .iter()
                .zip(&b.busy_ms)
                .map(|(x, y)| (y.saturating_sub(*x) as f64 / 1000.0 / secs).clamp(0.0, 1.0));
            let load = match agg {
                Aggregator::Max => shares.fold(0.0, f64::max),
                Aggregator::Min => shares.fold(1.0, f64::min),
                Aggregator::Avg => {
                    let v: Vec<f64> = shares.collect();
                    v.iter().sum::<f64>() / (v.len().max(1) as f64)
                }
            };
            let per_sec = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
            let backlog_growth = match (a.pending, b.pending) {
                (Some(x), Some(y)) => (y as f64 - x as f64) / secs,
                _ => 0.0,
            };
            VertexRates {
                id: b.id.clone(),
                name: b.name.clone(),
                parallelism: b.parallelism,
                max_parallelism: b.max_parallelism,
                inputs: b.inputs.clone(),
                load,
                input_rate: per_sec(a.records_in, b.records_in),
                output_rate: per_sec(a.records_out, b.records_out),
                backlog: b.pending.map(|p| p as f64),
                backlog_growth,
            }
        })
        .collect()
}

/// The observations of one job kept for a decision: those within the
/// window, from the end of the stabilization interval on.
#[derive(Debug, Clone, Default)]
pub struct Window {
    observations: VecDeque<Observation>,
}

impl Window {
    /// Adds an observation, forgetting those beyond `window_ms` before it
    /// (one is kept at or beyond the window's start, so a full window can be
    /// measured), and all of them if the job or its parallelisms changed.
    pub fn push(&mut self, o: Observation, window_ms: i64) {
        if self
            .observations
            .back()
            .is_some_and(|last| !last.comparable(&o))
        {
            self.observations.clear();
        }
        let start = o.at_ms - window_ms;
        while self.observations.len() >= 2 && self.observations[1].at_ms <= start {
            self.observations.pop_front();
        }
        self.observations.push_back(o);
    }

    /// The rates over the window, once it spans `window_ms`.
    pub fn full(&self, window_ms: i64, agg: Aggregator) -> Option<Vec<VertexRates>> {
        let first = self.observations.front()?;
        let last = self.observations.back()?;
        (last.at_ms - first.at_ms >= window_ms).then(|| rates(first, last, agg))
    }

    /// How long the observations span, ms.
    pub fn span_ms(&self) -> i64 {
        match (self.observations.front(), self.observations.back()) {
            (Some(a), Some(b)) => b.at_ms - a.at_ms,
            _ => 0,
        }
    }

    /// Forgets everything (after a rescale).
    pub fn clear(&mut self) {
        self.observations.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn counters(id: &str, p: u32, busy: &[u64], rin: u64, rout: u64) -> VertexCounters {
        VertexCounters {
            id: id.into(),
            name: id.into(),
            parallelism: p,
            max_parallelism: 128,
            inputs: Vec::new(),
            busy_ms: busy.to_vec(),
            records_in: rin,
            records_out: rout,
            pending: None,
        }
    }

    fn obs(at: i64, v: Vec<VertexCounters>) -> Observation {
        Observation {
            at_ms: at,
            job_id: "j".into(),
            vertices: v,
        }
    }

    #[test]
    fn rates_are_averages_over_the_window_and_busy_combines_by_the_aggregator() {
        let a = obs(0, vec![counters("v", 2, &[0, 0], 0, 0)]);
        let b = obs(
            10_000,
            vec![counters("v", 2, &[8_000, 2_000], 50_000, 25_000)],
        );
        let max = rates(&a, &b, Aggregator::Max);
        assert_eq!(max[0].load, 0.8);
        assert_eq!(max[0].input_rate, 5_000.0);
        assert_eq!(max[0].output_rate, 2_500.0);
        assert_eq!(rates(&a, &b, Aggregator::Avg)[0].load, 0.5);
        assert_eq!(rates(&a, &b, Aggregator::Min)[0].load, 0.2);
    }

    #[test]
    fn a_window_is_full_once_it_spans_its_length_and_restarts_on_a_rescale() {
        let mut w = Window::default();
        for t in [0, 5_000, 10_000] {
            w.push(
                obs(t, vec![counters("v", 1, &[t as u64 / 2], 0, 0)]),
                10_000,
            );
        }
        assert_eq!(
            w.full(10_000, Aggregator::Max).map(|r| r[0].load),
            Some(0.5)
        );
        w.push(obs(15_000, vec![counters("v", 1, &[7_500], 0, 0)]), 10_000);
        assert_eq!(w.span_ms(), 10_000, "the oldest one beyond the window went");
        w.push(obs(20_000, vec![counters("v", 2, &[0, 0], 0, 0)]), 10_000);
        assert!(
            w.full(10_000, Aggregator::Max).is_none(),
            "a new parallelism starts over"
        );
    }
}
