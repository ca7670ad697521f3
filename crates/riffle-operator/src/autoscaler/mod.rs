//! The autoscaler: per-vertex parallelism from each vertex's load, as the
//! Flink operator's (FLIP-271: "three steps is all you need").
//!
//! [`collect`] turns a JobManager's REST answers into an observation of the
//! job's accumulated counters and [`metrics`] two observations a window
//! apart into per-vertex rates; [`evaluate`] derives, in topological
//! order, how much each vertex could process at its parallelism (its true
//! processing rate) and how much it must (the rate its sources produce and
//! any backlog to work off, carried through the graph by each vertex's
//! output ratio); [`decide`] turns those into parallelisms with the
//! utilization target and boundary, the scale-up and scale-down limits, the
//! delayed scale-down and the check that a scale-up paid off. [`record`] is
//! what is kept between reconciliations and how its overrides become the
//! deployed spec. All pure; [`step`] is one reconciliation's turn, and the
//! REST calls, the ConfigMap and the Events are the controller's.

pub mod collect;
pub mod decide;
pub mod evaluate;
pub mod metrics;
pub mod record;
pub mod settings;

use crate::deployment::rules::Note;
use metrics::{Observation, Window};
use record::Record;
use settings::AutoscalerSettings;

/// What one turn of the autoscaler came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The job started or was rescaled too recently: nothing is measured
    /// until this time (epoch ms).
    Stabilizing {
        /// The end of the stabilization interval.
        until_ms: i64,
    },
    /// The observations do not span a metrics window yet.
    Collecting {
        /// How long they span, ms.
        span_ms: i64,
    },
    /// The job was evaluated.
    Evaluated {
        /// Whether the overrides changed (the job is to be rescaled).
        rescale: bool,
        /// Events.
        notes: Vec<Note>,
    },
}

/// One turn: `o` observed `now` of a job running since `running_since`
/// joins `window`; once the window is full the job is evaluated and
/// `record` takes the decision (its overrides change only when scaling is
/// enabled).
pub fn step(
    s: &AutoscalerSettings,
    window: &mut Window,
    record: &mut Record,
    o: Observation,
    running_since: i64,
    now: i64,
) -> Step {
    let until_ms = running_since.saturating_add(s.stabilization_ms);
    if now < until_ms {
        window.clear();
        return Step::Stabilizing { until_ms };
    }
    window.push(o, s.window_ms);
    let Some(rates) = window.full(s.window_ms, s.aggregator) else {
        return Step::Collecting {
            span_ms: window.span_ms(),
        };
    };
    let evals = evaluate::evaluate(&rates, s.catch_up_secs);
    let d = decide::decide(&evals, &record.state, now, s);
    record.evaluations += 1;
    record.last_evaluation = evals
        .iter()
        .map(|e| {
            format!(
                "{} {} (p={}): busy {:.0}%, at most {:.0}/s, must {:.0}/s",
                e.id,
                e.name,
                e.parallelism,
                e.load * 100.0,
                e.true_processing_rate,
                e.target_rate + e.catch_up_rate
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut notes = d.notes;
    if d.changes.is_empty() || s.scaling_enabled {
        record.state = d.state;
        for (vertex, p) in &d.changes {
            record.overrides.insert(vertex.clone(), *p);
        }
        if !d.changes.is_empty() {
            window.clear();
        }
        return Step::Evaluated {
            rescale: !d.changes.is_empty(),
            notes,
        };
    }
    // Only reported: nothing was scaled, so there is no scale-up to judge.
    let mut state = d.state;
    for vertex in d.changes.keys() {
        state.scale_ups.remove(vertex);
    }
    record.state = state;
    for n in notes.iter_mut().filter(|n| n.reason == "ScalingReport") {
        n.message
            .push_str(" — not applied: job.autoscaler.scaling.enabled is false");
    }
    Step::Evaluated {
        rescale: false,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::metrics::VertexCounters;
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> AutoscalerSettings {
        let mut pairs = vec![
            ("job.autoscaler.enabled", "true"),
            ("job.autoscaler.metrics.window", "10 s"),
            ("job.autoscaler.stabilization.interval", "5 s"),
            ("job.autoscaler.vertex.max-parallelism", "2"),
            ("job.autoscaler.utilization.max", "0.8"),
        ];
        pairs.extend_from_slice(extra);
        settings::for_tests(&pairs)
    }

    /// A source at parallelism 1 feeding vertex 1 at parallelism `p`, after
    /// `secs` seconds at `rate` records/s, vertex 1 busy `busy` (each subtask).
    fn observed(secs: i64, p: u32, rate: u64, busy: f64) -> Observation {
        let t = secs as u64;
        Observation {
            at_ms: secs * 1000,
            job_id: "j".into(),
            vertices: vec![
                VertexCounters {
                    id: "0".into(),
                    name: "Source".into(),
                    parallelism: 1,
                    max_parallelism: 128,
                    inputs: vec![],
                    busy_ms: vec![t * 10],
                    records_in: rate * t,
                    records_out: rate * t,
                    pending: Some(0),
                },
                VertexCounters {
                    id: "1".into(),
                    name: "Calc".into(),
                    parallelism: p,
                    max_parallelism: 128,
                    inputs: vec!["0".into()],
                    busy_ms: vec![(busy * 1000.0) as u64 * t; p as usize],
                    records_in: rate * t,
                    records_out: rate * t,
                    pending: None,
                },
            ],
        }
    }

    #[test]
    fn nothing_is_measured_while_stabilizing_then_a_full_window_decides() {
        let s = settings(&[]);
        let (mut w, mut r) = (Window::default(), Record::default());
        let step_at = |w: &mut Window, r: &mut Record, secs, p, rate, busy| {
            step(&s, w, r, observed(secs, p, rate, busy), 0, secs * 1000)
        };
        assert_eq!(
            step_at(&mut w, &mut r, 2, 1, 100, 0.95),
            Step::Stabilizing { until_ms: 5000 }
        );
        assert_eq!(
            step_at(&mut w, &mut r, 6, 1, 100, 0.95),
            Step::Collecting { span_ms: 0 }
        );
        let Step::Evaluated { rescale, notes } = step_at(&mut w, &mut r, 16, 1, 100, 0.95) else {
            panic!("a full window is evaluated");
        };
        // The busy vertex goes to the bound, 2; the idle source stays at 1.
        assert!(rescale);
        assert_eq!(r.overrides, [("1".to_string(), 2)].into());
        assert!(notes.iter().any(|n| n.reason == "ScalingReport"));
        assert_eq!(r.evaluations, 1);
        assert!(r.last_evaluation.contains("1 Calc (p=1): busy 95%"));
        // The window starts again after a rescale.
        assert_eq!(w.span_ms(), 0);
    }

    #[test]
    fn a_settled_job_is_evaluated_without_change_and_an_idle_one_scales_down() {
        let s = settings(&[
            ("job.autoscaler.utilization.min", "0.1"),
            ("job.autoscaler.utilization.max", "0.8"),
            ("job.autoscaler.utilization.target", "0.45"),
        ]);
        let (mut w, mut r) = (Window::default(), Record::default());
        for secs in [6, 16, 18] {
            let got = step(
                &s,
                &mut w,
                &mut r,
                observed(secs, 2, 100, 0.4),
                0,
                secs * 1000,
            );
            if secs > 6 {
                assert_eq!(
                    got,
                    Step::Evaluated {
                        rescale: false,
                        notes: vec![]
                    }
                );
            }
        }
        assert_eq!(r.evaluations, 2);
        assert!(r.overrides.is_empty());
        // The load falls (a new job: the counters start again).
        let mut w = Window::default();
        step(&s, &mut w, &mut r, observed(30, 2, 100, 0.05), 0, 30_000);
        let got = step(&s, &mut w, &mut r, observed(40, 2, 100, 0.05), 0, 40_000);
        assert!(matches!(got, Step::Evaluated { rescale: true, .. }));
        assert_eq!(r.overrides, [("1".to_string(), 1)].into());
    }

    #[test]
    fn with_scaling_disabled_decisions_are_reported_not_applied() {
        let s = settings(&[("job.autoscaler.scaling.enabled", "false")]);
        let (mut w, mut r) = (Window::default(), Record::default());
        step(&s, &mut w, &mut r, observed(6, 1, 100, 0.95), 0, 6000);
        let got = step(&s, &mut w, &mut r, observed(16, 1, 100, 0.95), 0, 16_000);
        let Step::Evaluated { rescale, notes } = got else {
            panic!("evaluated");
        };
        assert!(!rescale && r.overrides.is_empty() && r.state.scale_ups.is_empty());
        assert!(notes.iter().any(|n| n.message.contains("not applied")));
    }
}
