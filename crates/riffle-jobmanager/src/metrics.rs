//! The JobManager's metrics: one set of values, two views.
//!
//! The REST API (`/jobmanager/metrics`, `/jobs/:id/metrics`) and the
//! Prometheus endpoint on `metrics.reporter.prom.port` read the same
//! gauges, named as Flink names them (`numRegisteredTaskManagers`,
//! `numRestarts`, ...); Prometheus sees them as `flink_jobmanager_<name>`
//! and `flink_jobmanager_job_<name>` with `host`, `job_id` and `job_name`
//! labels.

use riffle_common::process::CpuMeter;
use riffle_common::prometheus::{Exposition, add_process};

use crate::cluster::Cluster;
use crate::job::{Job, JobStatus};

/// Cluster-wide gauges: name, help, value.
pub fn cluster_gauges(c: &Cluster) -> Vec<(&'static str, &'static str, i64)> {
    let running = c
        .jobs
        .values()
        .filter(|j| j.status == JobStatus::Running)
        .count();
    vec![
        (
            "numRegisteredTaskManagers",
            "TaskManagers registered with this JobManager.",
            c.taskmanagers.len() as i64,
        ),
        ("numRunningJobs", "Jobs in state RUNNING.", running as i64),
        (
            "taskSlotsTotal",
            "Slots offered by all TaskManagers.",
            c.slots_total() as i64,
        ),
        (
            "taskSlotsAvailable",
            "Slots not held by a job.",
            c.slots_available() as i64,
        ),
    ]
}

/// Gauges of one job at `now` (epoch ms): name, help, value.
pub fn job_gauges(job: &Job, now: i64) -> Vec<(&'static str, &'static str, i64)> {
    let uptime = match (job.status, job.timestamps.get(&JobStatus::Running)) {
        (JobStatus::Running, Some(t)) => now - t,
        _ => 0,
    };
    let downtime = if job.status == JobStatus::Restarting {
        now - job.last_modification
    } else {
        0
    };
    let c = &job.checkpoints;
    let (last_duration, last_size) = c
        .latest_completed
        .as_ref()
        .map_or((-1, -1), |s| (s.end_to_end_duration, s.state_size as i64));
    vec![
        (
            "lastCheckpointDuration",
            "Duration of the latest completed checkpoint in ms (-1: none yet).",
            last_duration,
        ),
        (
            "lastCheckpointSize",
            "State size of the latest completed checkpoint in bytes (-1: none yet).",
            last_size,
        ),
        (
            "lastCheckpointFullSize",
            "Full state size of the latest completed checkpoint in bytes (-1: none yet).",
            last_size,
        ),
        (
            "numberOfCompletedCheckpoints",
            "Checkpoints completed.",
            c.counts.completed as i64,
        ),
        (
            "numberOfFailedCheckpoints",
            "Checkpoints failed.",
            c.counts.failed as i64,
        ),
        (
            "numberOfInProgressCheckpoints",
            "Checkpoints being taken.",
            c.pending.len() as i64,
        ),
        (
            "totalNumberOfCheckpoints",
            "Checkpoints triggered.",
            c.counts.total as i64,
        ),
        (
            "lastCheckpointRestoreTimestamp",
            "When the job last restored from a checkpoint, epoch ms (-1: never).",
            c.restored.as_ref().map_or(-1, |r| r.restore_timestamp),
        ),
        (
            "numRestarts",
            "Restarts since the job was submitted.",
            job.num_restarts as i64,
        ),
        (
            "fullRestarts",
            "Restarts since the job was submitted (the older name).",
            job.num_restarts as i64,
        ),
        (
            "uptime",
            "Time the job has been running without interruption, in ms.",
            uptime,
        ),
        (
            "downtime",
            "Time the job has been restarting, in ms.",
            downtime,
        ),
    ]
}

/// The JobManager's Prometheus exposition.
pub fn render(c: &Cluster, host: &str, now: i64, cpu: &CpuMeter) -> String {
    let mut e = Exposition::new();
    let host_label = [("host", host)];
    add_process(&mut e, "flink_jobmanager", &host_label, cpu);
    for (name, help, value) in cluster_gauges(c) {
        e.gauge(
            &format!("flink_jobmanager_{name}"),
            help,
            &host_label,
            value as f64,
        );
    }
    // As in Flink, a job's metrics exist while the job is not globally terminal.
    for job in c.jobs.values().filter(|j| !j.status.is_globally_terminal()) {
        let id = job.id.to_string();
        let labels = [
            ("host", host),
            ("job_id", id.as_str()),
            ("job_name", job.name.as_str()),
        ];
        for (name, help, value) in job_gauges(job, now) {
            e.gauge(
                &format!("flink_jobmanager_job_{name}"),
                help,
                &labels,
                value as f64,
            );
        }
    }
    e.render()
}
