//! The autoscaler: per-vertex parallelism from each vertex's load, as the
//! Flink operator's (FLIP-271: "three steps is all you need").
//!
//! [`metrics`] turns two observations of a job's accumulated counters into
//! per-vertex rates over a window; [`evaluate`] derives, in topological
//! order, how much each vertex could process at its parallelism (its true
//! processing rate) and how much it must (the rate its sources produce and
//! any backlog to work off, carried through the graph by each vertex's
//! output ratio); [`decide`] turns those into parallelisms with the
//! utilization target and boundary, the scale-up and scale-down limits, the
//! delayed scale-down and the check that a scale-up paid off. All pure; the
//! collection and the rescale are the controller's.

pub mod decide;
pub mod evaluate;
pub mod metrics;
pub mod settings;
