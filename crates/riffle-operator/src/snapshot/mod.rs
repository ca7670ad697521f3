//! Savepoints and checkpoints as resources (`FlinkStateSnapshot`).
//!
//! [`rules`] decides what one snapshot resource needs (trigger, follow,
//! retry, abandon); [`schedule`] decides which snapshot resources a running
//! job's FlinkDeployment or FlinkSessionJob asks for (nonces, periodic
//! schedule) and which old ones go (history limits); [`io`] finds the job a
//! snapshot is of, asks its JobManager, and disposes of savepoint files;
//! [`cron`] reads the cron form of the periodic schedule.

pub mod cron;
pub mod io;
pub mod rules;
pub mod schedule;

#[cfg(test)]
mod scenarios;

/// The label naming the kind of the resource a snapshot was taken for.
pub const LABEL_JOB_KIND: &str = "riffle.dev/job-kind";
/// The label naming the resource a snapshot was taken for.
pub const LABEL_JOB_NAME: &str = "riffle.dev/job-name";
/// The label saying what triggered a snapshot the operator created
/// (MANUAL, PERIODIC, UPGRADE).
pub const LABEL_TRIGGER_TYPE: &str = "riffle.dev/snapshot-trigger-type";
