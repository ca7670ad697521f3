//! The control protocol between JobManager and TaskManagers.
//!
//! A TaskManager opens one TCP connection to `jobmanager.rpc.address:port`,
//! sends [`ToJobManager::Register`] and then a heartbeat every
//! `heartbeat.interval`; the JobManager answers each heartbeat, so both sides
//! notice a silent peer within `heartbeat.timeout`. Over the same connection
//! the JobManager deploys and cancels job attempts and the TaskManager reports
//! task state changes. Every message is one JSON frame (kind [`CONTROL`]).
//!
//! Deployment ships the job's SQL script, not a serialized plan, with the
//! job's configuration as the JobManager resolved it: every TaskManager plans
//! the same script with the same typed configuration and gets the same job
//! graph (planning is deterministic), then instantiates only the subtasks it
//! was given. The vertex count and parallelisms are checked
//! against the JobManager's plan so a mismatch fails loudly.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointAck, RestoreSpec, SnapshotKind};
use crate::frame::{read_frame, write_frame};
use crate::ids::{JobId, ResourceId};
use crate::{Error, Result};

/// Frame kind of control messages.
pub const CONTROL: u8 = 1;

/// The protocol version both sides must speak.
pub const PROTOCOL_VERSION: u32 = 5;

/// Flink's `ExecutionState` of a subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// Known to the scheduler, not yet placed.
    Created,
    /// Placed into a slot.
    Scheduled,
    /// Sent to its TaskManager.
    Deploying,
    /// Initializing on the TaskManager.
    Initializing,
    /// Running.
    Running,
    /// Ended normally.
    Finished,
    /// Being cancelled.
    Canceling,
    /// Cancelled.
    Canceled,
    /// Failed.
    Failed,
    /// Being reconciled after a JobManager failover.
    Reconciling,
}

impl ExecutionState {
    /// Every state, in Flink's order (for count maps in REST responses).
    pub const ALL: [ExecutionState; 10] = [
        ExecutionState::Created,
        ExecutionState::Scheduled,
        ExecutionState::Deploying,
        ExecutionState::Running,
        ExecutionState::Finished,
        ExecutionState::Canceling,
        ExecutionState::Canceled,
        ExecutionState::Failed,
        ExecutionState::Reconciling,
        ExecutionState::Initializing,
    ];

    /// Flink's upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionState::Created => "CREATED",
            ExecutionState::Scheduled => "SCHEDULED",
            ExecutionState::Deploying => "DEPLOYING",
            ExecutionState::Initializing => "INITIALIZING",
            ExecutionState::Running => "RUNNING",
            ExecutionState::Finished => "FINISHED",
            ExecutionState::Canceling => "CANCELING",
            ExecutionState::Canceled => "CANCELED",
            ExecutionState::Failed => "FAILED",
            ExecutionState::Reconciling => "RECONCILING",
        }
    }

    /// Whether the subtask will not change state any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ExecutionState::Finished | ExecutionState::Canceled | ExecutionState::Failed
        )
    }
}

/// What a TaskManager tells about itself when it registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskManagerInfo {
    /// Its resource id (`taskmanager.resource-id` or random).
    pub resource_id: ResourceId,
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub protocol_version: u32,
    /// Host other TaskManagers reach its data port at.
    pub host: String,
    /// Port of its data server.
    pub data_port: u16,
    /// Port of its Prometheus endpoint, if any.
    pub metrics_port: Option<u16>,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: usize,
    /// CPU cores of its machine.
    pub cpu_cores: usize,
    /// Physical memory of its machine in bytes.
    pub physical_memory: u64,
}

/// Counters of one running subtask, as heartbeats carry them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubtaskReport {
    /// Job.
    pub job_id: JobId,
    /// Attempt of the job (increases with every restart).
    pub attempt: u32,
    /// Vertex index.
    pub vertex: usize,
    /// Subtask index.
    pub subtask: usize,
    /// `numRecordsIn`.
    pub records_in: u64,
    /// `numRecordsOut`.
    pub records_out: u64,
    /// `numBytesIn`.
    pub bytes_in: u64,
    /// `numBytesOut`.
    pub bytes_out: u64,
    /// Accumulated busy time in ms.
    pub busy_ms: u64,
    /// Accumulated idle time in ms.
    pub idle_ms: u64,
    /// Accumulated backpressured time in ms.
    pub backpressured_ms: u64,
    /// `backPressuredTimeMsPerSecond` over the last interval.
    pub backpressured_ms_per_second: f64,
    /// `busyTimeMsPerSecond` over the last interval.
    pub busy_ms_per_second: f64,
    /// `currentInputWatermark` (`i64::MIN` for none).
    pub input_watermark: i64,
    /// `currentOutputWatermark`.
    pub output_watermark: i64,
    /// Records the chain's source produced (its operator's `numRecordsOut`).
    #[serde(default)]
    pub source_out: u64,
    /// The source's `pendingRecords`, when it knows.
    #[serde(default)]
    pub pending_records: Option<u64>,
}

/// Memory and CPU of a TaskManager process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// CPU time in ms.
    pub cpu_ms: u64,
}

/// Messages a TaskManager sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToJobManager {
    /// First message on a connection.
    Register(TaskManagerInfo),
    /// Periodic liveness and metrics.
    Heartbeat {
        /// Counters of the subtasks running there.
        subtasks: Vec<SubtaskReport>,
        /// The TaskManager process's memory and CPU use.
        #[serde(default)]
        process: ProcessReport,
    },
    /// A subtask changed state.
    TaskState(TaskUpdate),
    /// A subtask stored its part of a checkpoint.
    CheckpointAck(CheckpointAck),
    /// A subtask could not take its part of a checkpoint.
    CheckpointDeclined {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// Checkpoint.
        checkpoint_id: u64,
        /// Vertex index.
        vertex: usize,
        /// Subtask index.
        subtask: usize,
        /// Why.
        reason: String,
    },
    /// A subtask's input ended; it waits for the final checkpoint to commit
    /// its output.
    EndOfInput {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// Vertex index.
        vertex: usize,
        /// Subtask index.
        subtask: usize,
    },
    /// Query result rows, answering [`ToTaskManager::FetchResults`].
    Results {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// The rows taken from the attempt's collect buffer (maybe none).
        rows: Vec<ResultRow>,
    },
}

/// One row of a query's result, as the SQL client receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Flink's change kind: `+I`, `-U`, `+U` or `-D`.
    pub kind: String,
    /// The values as text; `None` is NULL.
    pub fields: Vec<Option<String>>,
}

/// A subtask's new state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdate {
    /// Job.
    pub job_id: JobId,
    /// Attempt.
    pub attempt: u32,
    /// Vertex index.
    pub vertex: usize,
    /// Subtask index.
    pub subtask: usize,
    /// New state.
    pub state: ExecutionState,
    /// For `Failed`: the error, as text.
    pub failure: Option<String>,
    /// For terminal states: the subtask's last counters, so a job shorter than
    /// a heartbeat interval still reports what it did.
    #[serde(default)]
    pub counters: Option<SubtaskReport>,
    /// For `Failed`: the state of the checkpoint being restored could not
    /// be read; the JobManager then falls back to an older checkpoint.
    #[serde(default)]
    pub restore_failed: bool,
}

/// One attempt of a job, for the TaskManagers to run their share of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Job.
    pub job_id: JobId,
    /// Attempt (0 for the first run).
    pub attempt: u32,
    /// The job's name.
    pub job_name: String,
    /// The SQL script (DDL, SET, INSERTs).
    pub script: String,
    /// The job's configuration, resolved by the JobManager (cluster
    /// configuration, submission options, the script's `SET`s).
    pub config: riffle_common::JobConfig,
    /// Parallelism of every vertex, as the JobManager planned it.
    pub parallelism: Vec<usize>,
    /// `placement[vertex][subtask]`: data address (`host:port`) of the TaskManager running it.
    pub placement: Vec<Vec<String>>,
    /// The subtasks the receiving TaskManager runs.
    pub subtasks: Vec<(usize, usize)>,
    /// The checkpoint or savepoint to restore state from.
    #[serde(default)]
    pub restore: Option<RestoreSpec>,
}

/// Messages a JobManager sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToTaskManager {
    /// Registration accepted.
    Registered {
        /// The JobManager's resource id.
        jobmanager_id: ResourceId,
        /// `heartbeat.interval` in ms.
        heartbeat_interval_ms: u64,
        /// `heartbeat.timeout` in ms.
        heartbeat_timeout_ms: u64,
    },
    /// Registration refused (e.g. another protocol version).
    Refused {
        /// Why.
        reason: String,
    },
    /// Answer to a heartbeat.
    HeartbeatAck,
    /// The JobManager no longer counts this TaskManager as registered (its
    /// heartbeats stopped for longer than `heartbeat.timeout`, e.g. the
    /// process was frozen): its tasks belong to attempts that were failed
    /// over. The TaskManager cancels them and registers again; the
    /// JobManager closes the connection after this message.
    Disconnect {
        /// Why.
        reason: String,
    },
    /// Run these subtasks of a job attempt.
    Deploy(Box<Deployment>),
    /// Cancel every subtask of a job attempt.
    Cancel {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
    },
    /// Take checkpoint `checkpoint_id`: its files go to `location`; the
    /// `direct` subtasks (sources, and subtasks whose input ended) are
    /// triggered here, the others receive the barrier with their input.
    TriggerCheckpoint {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// Checkpoint id.
        checkpoint_id: u64,
        /// Trigger time (epoch ms).
        timestamp: i64,
        /// Checkpoint or savepoint.
        kind: SnapshotKind,
        /// Directory (URL or path) the files go to.
        location: String,
        /// Subtasks to trigger directly.
        direct: Vec<(usize, usize)>,
    },
    /// Checkpoint `checkpoint_id` completed: commit; with `stop`, the
    /// subtasks end afterwards.
    CheckpointComplete {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// Checkpoint id.
        checkpoint_id: u64,
        /// End the subtasks once committed.
        stop: bool,
    },
    /// Send up to `max_rows` query result rows of a job attempt (answered
    /// with [`ToJobManager::Results`]). Pulling keeps the JobManager's
    /// memory bounded: rows wait on the TaskManager, whose collect sink
    /// blocks when its buffer is full.
    FetchResults {
        /// Job.
        job_id: JobId,
        /// Attempt.
        attempt: u32,
        /// The most rows to send.
        max_rows: usize,
    },
}

/// Sends one control message.
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<()> {
    let body = serde_json::to_vec(msg)?;
    write_frame(w, CONTROL, &body)
}

/// Receives one control message; `Ok(None)` when the peer closed the connection.
pub fn receive<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<Option<T>> {
    match read_frame(r)? {
        None => Ok(None),
        Some((CONTROL, body)) => Ok(Some(serde_json::from_slice(&body)?)),
        Some((kind, _)) => Err(Error::Protocol(format!(
            "expected a control frame, got kind {kind}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let msgs = vec![
            ToJobManager::Register(TaskManagerInfo {
                resource_id: ResourceId::from_seed("tm"),
                protocol_version: PROTOCOL_VERSION,
                host: "127.0.0.1".into(),
                data_port: 4000,
                metrics_port: None,
                slots: 2,
                cpu_cores: 2,
                physical_memory: 1 << 30,
            }),
            ToJobManager::TaskState(TaskUpdate {
                job_id: JobId::from_seed("j"),
                attempt: 1,
                vertex: 0,
                subtask: 1,
                state: ExecutionState::Failed,
                failure: Some("boom".into()),
                counters: None,
                restore_failed: false,
            }),
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            send(&mut buf, m).unwrap();
        }
        let mut r = buf.as_slice();
        for m in &msgs {
            assert_eq!(receive::<ToJobManager>(&mut r).unwrap().as_ref(), Some(m));
        }
        assert!(receive::<ToJobManager>(&mut r).unwrap().is_none());
    }

    #[test]
    fn malformed_messages_are_errors() {
        let mut buf = Vec::new();
        write_frame(&mut buf, CONTROL, br#"{"type":"nope"}"#).unwrap();
        assert!(receive::<ToJobManager>(&mut buf.as_slice()).is_err());
        let state = serde_json::to_string(&ExecutionState::Running).unwrap();
        assert_eq!(state, "\"RUNNING\"");
    }
}
