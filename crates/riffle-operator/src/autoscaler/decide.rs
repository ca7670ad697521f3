//! From evaluations to parallelisms: the third step.
//!
//! The capacity a vertex needs at utilization `u` is its catch-up rate, plus
//! what piles up while a rescale stops the job (target rate × restart time ÷
//! catch-up duration), plus target rate ÷ `u`. A vertex is left alone while
//! its true processing rate lies between the capacity needed at the maximum
//! and at the minimum utilization; outside, its parallelism is scaled by
//! (capacity needed at the target utilization ÷ true processing rate), within
//! the scale-up and scale-down limits and the vertex bounds, then aligned up
//! to a divisor of its max parallelism so key groups spread evenly.
//!
//! A scale-down waits until it was recommended for
//! `job.autoscaler.scale-down.interval` and then takes the highest
//! parallelism recommended in that time, so a dip does not cause a
//! scale-down that the next peak undoes. With effectiveness detection, a
//! vertex whose last scale-up gained less than the threshold share of the
//! rate it was expected to gain is not scaled up again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::autoscaler::evaluate::VertexEvaluation;
use crate::autoscaler::settings::AutoscalerSettings;
use crate::deployment::rules::Note;

/// A scale-up, kept to judge whether it paid off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleUp {
    /// From this parallelism.
    pub from: u32,
    /// To this one.
    pub to: u32,
    /// The true processing rate before it.
    pub rate_before: f64,
    /// The rate it was expected to reach.
    pub expected_rate: f64,
}

/// A scale-down waiting out its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingDown {
    /// Recommended since, epoch ms.
    pub since_ms: i64,
    /// The highest parallelism recommended since.
    pub highest: u32,
}

/// What the autoscaler remembers between decisions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingState {
    /// The last scale-up per vertex.
    #[serde(default)]
    pub scale_ups: BTreeMap<String, ScaleUp>,
    /// Scale-downs waiting, per vertex.
    #[serde(default)]
    pub pending_down: BTreeMap<String, PendingDown>,
    /// Vertices whose last scale-up did not pay off.
    #[serde(default)]
    pub ineffective: BTreeSet<String>,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// New parallelisms of the vertices that change.
    pub changes: BTreeMap<String, u32>,
    /// What the autoscaler found, for Events.
    pub notes: Vec<Note>,
    /// The state to remember.
    pub state: ScalingState,
}

/// The capacity a vertex needs at `utilization`.
fn needed(e: &VertexEvaluation, utilization: f64, s: &AutoscalerSettings) -> f64 {
    e.catch_up_rate
        + e.target_rate * s.restart_secs / s.catch_up_secs.max(1.0)
        + e.target_rate / utilization.max(f64::MIN_POSITIVE)
}

/// The smallest divisor of `max_parallelism` in `p..=limit`, else `p`.
fn aligned(p: u32, max_parallelism: u32, limit: u32) -> u32 {
    if max_parallelism == 0 {
        return p;
    }
    (p..=limit.min(max_parallelism))
        .find(|d| max_parallelism.is_multiple_of(*d))
        .unwrap_or(p)
}

/// The parallelism a vertex should have, or `None` within its bounds.
fn recommended(e: &VertexEvaluation, s: &AutoscalerSettings) -> Option<u32> {
    let tpr = e.true_processing_rate;
    if !tpr.is_finite() || tpr <= 0.0 {
        // Never busy: it could take any rate; only a scale-down could help,
        // and without a rate there is nothing to size it by.
        return None;
    }
    let up = needed(e, s.max_utilization, s);
    let down = needed(e, s.min_utilization, s);
    if (up..=down).contains(&tpr) || (tpr >= up && s.min_utilization <= 0.0) {
        return None;
    }
    let factor = (needed(e, s.target, s) / tpr)
        .clamp(1.0 - s.scale_down_max_factor, 1.0 + s.scale_up_max_factor);
    let p = f64::from(e.parallelism);
    let raw = (factor * p).ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
    let upper = s.vertex_max.min(if e.max_parallelism > 0 {
        e.max_parallelism
    } else {
        u32::MAX
    });
    let bounded = raw.clamp(s.vertex_min.min(upper), upper);
    Some(aligned(bounded, e.max_parallelism, upper))
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Decides the parallelism of each vertex.
pub fn decide(
    evals: &[VertexEvaluation],
    state: &ScalingState,
    now: i64,
    s: &AutoscalerSettings,
) -> Decision {
    let mut next = state.clone();
    let mut changes = BTreeMap::new();
    let mut notes = Vec::new();
    for e in evals {
        if s.excluded.contains(&e.id) {
            continue;
        }
        // Did the last scale-up pay off? Judged once, at its parallelism.
        if let Some(up) = state.scale_ups.get(&e.id)
            && up.to == e.parallelism
            && e.true_processing_rate.is_finite()
        {
            let expected_gain = up.expected_rate - up.rate_before;
            let gain = e.true_processing_rate - up.rate_before;
            if s.effectiveness_detection
                && expected_gain > 0.0
                && gain < s.effectiveness_threshold * expected_gain
            {
                next.ineffective.insert(e.id.clone());
                notes.push(Note {
                    warning: true,
                    reason: "IneffectiveScaling",
                    message: format!(
                        "Vertex {} went from {} to {} subtasks but processes {:.0} records/s \
                         instead of the {:.0} expected (from {:.0}): it is not scaled up again",
                        e.name,
                        up.from,
                        up.to,
                        e.true_processing_rate,
                        up.expected_rate,
                        up.rate_before
                    ),
                });
            }
            next.scale_ups.remove(&e.id);
        }
        let Some(target) = recommended(e, s).filter(|p| *p != e.parallelism) else {
            next.pending_down.remove(&e.id);
            continue;
        };
        let why = format!(
            "busy {}, processes at most {:.0} records/s, must process {:.0} (+{:.0} to catch up)",
            pct(e.load),
            e.true_processing_rate,
            e.target_rate,
            e.catch_up_rate
        );
        if target > e.parallelism {
            next.pending_down.remove(&e.id);
            if next.ineffective.contains(&e.id) {
                notes.push(Note {
                    warning: true,
                    reason: "ScalingBlocked",
                    message: format!(
                        "Vertex {} would go from {} to {} subtasks ({why}), but its last \
                         scale-up did not pay off",
                        e.name, e.parallelism, target
                    ),
                });
                continue;
            }
            next.scale_ups.insert(
                e.id.clone(),
                ScaleUp {
                    from: e.parallelism,
                    to: target,
                    rate_before: e.true_processing_rate,
                    expected_rate: e.true_processing_rate / f64::from(e.parallelism)
                        * f64::from(target),
                },
            );
            changes.insert(e.id.clone(), target);
            notes.push(Note {
                warning: false,
                reason: "ScalingReport",
                message: format!(
                    "Vertex {}: {} -> {} subtasks ({why})",
                    e.name, e.parallelism, target
                ),
            });
            continue;
        }
        let pending = next
            .pending_down
            .entry(e.id.clone())
            .or_insert(PendingDown {
                since_ms: now,
                highest: target,
            });
        pending.highest = pending.highest.max(target);
        let (since, highest) = (pending.since_ms, pending.highest);
        if now - since < s.scale_down_interval_ms {
            continue;
        }
        next.pending_down.remove(&e.id);
        next.ineffective.remove(&e.id);
        if highest < e.parallelism {
            changes.insert(e.id.clone(), highest);
            notes.push(Note {
                warning: false,
                reason: "ScalingReport",
                message: format!(
                    "Vertex {}: {} -> {} subtasks after {} s of recommending it ({why})",
                    e.name,
                    e.parallelism,
                    highest,
                    (now - since) / 1000
                ),
            });
        }
    }
    Decision {
        changes,
        notes,
        state: next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AutoscalerSettings {
        crate::autoscaler::settings::for_tests(pairs)
    }

    /// A vertex at parallelism `p`, busy `load`, reading `rate` records/s,
    /// that must process `target` records/s.
    fn vertex(p: u32, load: f64, rate: f64, target: f64) -> VertexEvaluation {
        VertexEvaluation {
            id: "v".into(),
            name: "Calc".into(),
            parallelism: p,
            max_parallelism: 128,
            load,
            true_processing_rate: rate / load,
            target_rate: target,
            catch_up_rate: 0.0,
        }
    }

    #[test]
    fn a_vertex_that_falls_behind_scales_up_an_idle_one_down_a_settled_one_stays() {
        let s = settings(&[]);
        // Fully busy at 2 (10,000/s) while 14,000/s are due: 20,000/s at 70% → 4.
        let d = decide(
            &[vertex(2, 1.0, 10_000.0, 14_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        assert_eq!(d.changes.get("v"), Some(&4));
        assert_eq!(d.notes[0].reason, "ScalingReport");
        // Busy 95% and keeping up: the default maximum utilization is 100%.
        let d = decide(
            &[vertex(2, 0.95, 9_500.0, 9_500.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        assert!(d.changes.is_empty());
        // 10% busy at 8: needs 8 × 0.1 / 0.7 = 1.14, at most 60% down → 3.2 → 4.
        let d = decide(
            &[vertex(8, 0.1, 1_000.0, 1_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        assert_eq!(d.changes.get("v"), Some(&4));
        // 60% busy: within 40–100%, no change.
        let d = decide(
            &[vertex(4, 0.6, 6_000.0, 6_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        assert!(d.changes.is_empty() && d.notes.is_empty());
        // A backlog to catch up counts too.
        let mut behind = vertex(4, 0.6, 6_000.0, 6_000.0);
        behind.catch_up_rate = 6_000.0;
        assert!(
            !decide(&[behind], &ScalingState::default(), 0, &s)
                .changes
                .is_empty()
        );
    }

    #[test]
    fn a_scale_down_waits_out_its_interval_and_takes_the_highest_recommendation() {
        let s = settings(&[("job.autoscaler.scale-down.interval", "60 s")]);
        let mut state = ScalingState::default();
        let d = decide(&[vertex(8, 0.1, 1_000.0, 1_000.0)], &state, 0, &s);
        assert!(d.changes.is_empty(), "not yet");
        state = d.state;
        // A busier moment raises the recommendation.
        let d = decide(&[vertex(8, 0.3, 3_000.0, 3_000.0)], &state, 30_000, &s);
        assert!(d.changes.is_empty());
        state = d.state;
        let d = decide(&[vertex(8, 0.1, 1_000.0, 1_000.0)], &state, 60_000, &s);
        assert_eq!(d.changes.get("v"), Some(&4));
        // A recommendation that went away resets the wait.
        let d = decide(
            &[vertex(8, 0.1, 1_000.0, 1_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        let d = decide(&[vertex(8, 0.6, 6_000.0, 6_000.0)], &d.state, 30_000, &s);
        assert!(d.state.pending_down.is_empty());
    }

    #[test]
    fn limits_bound_a_step() {
        let s = settings(&[
            ("job.autoscaler.scale-up.max-factor", "0.5"),
            ("job.autoscaler.vertex.max-parallelism", "3"),
        ]);
        let mut v = vertex(1, 1.0, 10_000.0, 12_000.0);
        v.max_parallelism = 0;
        // Needs 1.71, 1.5 within the limit → 2.
        assert_eq!(
            decide(&[v.clone()], &ScalingState::default(), 0, &s)
                .changes
                .get("v"),
            Some(&2)
        );
        v.parallelism = 2;
        v.target_rate = 100_000.0;
        v.true_processing_rate = 10_000.0;
        assert_eq!(
            decide(&[v], &ScalingState::default(), 0, &s)
                .changes
                .get("v"),
            Some(&3)
        );
    }

    #[test]
    fn a_scale_up_that_did_not_pay_off_blocks_the_next() {
        let s = settings(&[(
            "job.autoscaler.scaling.effectiveness.detection.enabled",
            "true",
        )]);
        let d = decide(
            &[vertex(2, 1.0, 10_000.0, 14_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        assert_eq!(d.changes.get("v"), Some(&4));
        // At 4 it processes barely more than before (10,000/s at full load, expected 20,000).
        let after = vertex(4, 1.0, 10_400.0, 14_000.0);
        let d = decide(std::slice::from_ref(&after), &d.state, 60_000, &s);
        assert!(
            d.notes.iter().any(|n| n.reason == "IneffectiveScaling"),
            "{:?}",
            d.notes
        );
        assert!(d.notes.iter().any(|n| n.reason == "ScalingBlocked"));
        assert!(d.changes.is_empty());
        // Without detection it would have scaled again.
        let plain = settings(&[]);
        let d = decide(
            &[vertex(2, 1.0, 10_000.0, 14_000.0)],
            &ScalingState::default(),
            0,
            &plain,
        );
        assert!(
            !decide(&[after], &d.state, 60_000, &plain)
                .changes
                .is_empty()
        );
    }

    #[test]
    fn state_round_trips_as_json() {
        let s = settings(&[]);
        let d = decide(
            &[vertex(2, 1.0, 10_000.0, 14_000.0)],
            &ScalingState::default(),
            0,
            &s,
        );
        let text = serde_json::to_string(&d.state).expect("json");
        let back: ScalingState = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, d.state);
    }
}
