//! The TaskManager: the process that runs subtasks.
//!
//! Place in the system: a TaskManager registers its slots with the
//! JobManager ([`control`]), keeps heartbeating, and runs the subtasks of
//! each job attempt the JobManager deploys to it ([`attempts`]). Subtasks on
//! other TaskManagers are reached through the network exchange of
//! `riffle-rpc`; this process serves the receiving side on its data port.
//!
//! Lifecycle: [`TaskManager::start`] binds the data port and starts the
//! control loop in the background; when the JobManager is lost (connection
//! closed or no heartbeat answer within `heartbeat.timeout`) every running
//! attempt is cancelled and the TaskManager registers again, as Flink's do.
//! Its metrics are served to Prometheus ([`metrics`]) on
//! `metrics.reporter.prom.port`.

mod attempts;
mod checkpoints;
mod control;
mod hardware;
mod metrics;

pub use attempts::AttemptObserver;
pub use control::{TaskManager, TaskManagerOptions};
