//! What each vertex can do and what it must: the second step.
//!
//! - A vertex's *true processing rate* is what it would process were it
//!   busy all the time at its parallelism: records in per second divided by
//!   its busy share. A vertex that is never busy has no bound (infinite).
//! - Its *target rate* is what it must process to keep up: a source's rate
//!   plus the growth of its backlog; downstream, the sum over its inputs of
//!   their target rate times their output ratio (records out per record in).
//! - Its *catch-up rate* is what working off the backlog within
//!   `job.autoscaler.catch-up.duration` adds, carried downstream the same way.

use std::collections::HashMap;

use crate::autoscaler::metrics::VertexRates;

/// A vertex, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexEvaluation {
    /// The vertex's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Its max parallelism.
    pub max_parallelism: u32,
    /// Its busy share.
    pub load: f64,
    /// Records per second it could process at full load.
    pub true_processing_rate: f64,
    /// Records per second it must process.
    pub target_rate: f64,
    /// Records per second more to work off the backlog in time.
    pub catch_up_rate: f64,
}

/// Evaluates the vertices (in the order given; inputs that come later or
/// are missing count as nothing).
pub fn evaluate(rates: &[VertexRates], catch_up_secs: f64) -> Vec<VertexEvaluation> {
    // (target, catch-up) rate each vertex passes on, per record it reads.
    let mut passed: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut out = Vec::with_capacity(rates.len());
    for v in rates {
        let (target, catch_up) = if v.inputs.is_empty() {
            let target = (v.input_rate + v.backlog_growth).max(0.0);
            let catch_up = v.backlog.map_or(0.0, |b| b / catch_up_secs.max(1.0));
            (target, catch_up)
        } else {
            v.inputs
                .iter()
                .filter_map(|i| passed.get(i.as_str()))
                .fold((0.0, 0.0), |(t, c), (it, ic)| (t + it, c + ic))
        };
        let ratio = if v.input_rate > 0.0 {
            v.output_rate / v.input_rate
        } else {
            0.0
        };
        passed.insert(v.id.as_str(), (target * ratio, catch_up * ratio));
        let true_processing_rate = if v.load > 0.0 {
            v.input_rate / v.load
        } else {
            f64::INFINITY
        };
        out.push(VertexEvaluation {
            id: v.id.clone(),
            name: v.name.clone(),
            parallelism: v.parallelism,
            max_parallelism: v.max_parallelism,
            load: v.load,
            true_processing_rate,
            target_rate: target,
            catch_up_rate: catch_up,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(id: &str, inputs: &[&str], load: f64, rin: f64, rout: f64) -> VertexRates {
        VertexRates {
            id: id.into(),
            name: id.into(),
            parallelism: 1,
            max_parallelism: 128,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            load,
            input_rate: rin,
            output_rate: rout,
            backlog: None,
            backlog_growth: 0.0,
        }
    }

    #[test]
    fn targets_follow_the_sources_through_output_ratios() {
        let mut source = rates("src", &[], 0.1, 10_000.0, 10_000.0);
        source.backlog = Some(600_000.0);
        source.backlog_growth = 1_000.0;
        let filter = rates("filter", &["src"], 0.5, 10_000.0, 2_500.0);
        let agg = rates("agg", &["filter"], 0.9, 2_500.0, 10.0);
        let e = evaluate(&[source, filter, agg], 600.0);
        // The source must do what it produces plus what its backlog grows by.
        assert_eq!(e[0].target_rate, 11_000.0);
        assert_eq!(e[0].catch_up_rate, 1_000.0);
        assert_eq!(e[0].true_processing_rate, 100_000.0);
        // The filter passes a quarter on.
        assert_eq!(e[1].target_rate, 11_000.0);
        assert_eq!(e[2].target_rate, 2_750.0);
        assert_eq!(e[2].catch_up_rate, 250.0);
        assert!((e[2].true_processing_rate - 2_777.78).abs() < 0.01);
    }

    #[test]
    fn an_idle_vertex_has_no_bound() {
        let e = evaluate(&[rates("src", &[], 0.0, 0.0, 0.0)], 600.0);
        assert!(e[0].true_processing_rate.is_infinite());
    }
}
