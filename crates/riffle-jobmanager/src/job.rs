//! A job as the JobManager tracks it: its plan, status history, placement,
//! subtask states, failures and restarts.

use std::collections::BTreeMap;

use riffle_common::restart::RestartTracker;
use riffle_rpc::control::{ExecutionState, SubtaskReport};
use riffle_rpc::{AbstractId, JobId, ResourceId};
use serde::{Deserialize, Serialize};

/// Flink's `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Being submitted.
    Initializing,
    /// Submitted, waiting for slots.
    Created,
    /// Deployed.
    Running,
    /// Failed, cancelling its tasks.
    Failing,
    /// Failed for good.
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled.
    Canceled,
    /// Every task finished.
    Finished,
    /// Waiting to restart after a failure.
    Restarting,
    /// Suspended (JobManager lost leadership).
    Suspended,
    /// Being reconciled after a JobManager failover.
    Reconciling,
}

impl JobStatus {
    /// Flink's upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::Failing => "FAILING",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Canceled => "CANCELED",
            JobStatus::Finished => "FINISHED",
            JobStatus::Restarting => "RESTARTING",
            JobStatus::Suspended => "SUSPENDED",
            JobStatus::Reconciling => "RECONCILING",
        }
    }

    /// Whether the job will never change status again.
    pub fn is_globally_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Failed | JobStatus::Canceled | JobStatus::Finished
        )
    }
}

/// One vertex of a job's plan.
#[derive(Debug, Clone)]
pub struct VertexInfo {
    /// Flink-style vertex id (stable for the job).
    pub id: AbstractId,
    /// Name (the operator chain).
    pub name: String,
    /// Parallelism.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: usize,
    /// Inputs: (upstream vertex index, ship strategy).
    pub inputs: Vec<(usize, &'static str)>,
}

/// One entry of `/jobs/:id/exceptions`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// When it happened (epoch ms).
    pub timestamp: i64,
    /// The error text.
    pub message: String,
    /// The failing task, e.g. `Sink: print (2/4)`.
    pub task_name: Option<String>,
    /// Where the task ran.
    pub endpoint: Option<String>,
    /// The TaskManager it ran on.
    pub taskmanager_id: Option<ResourceId>,
}

/// What a submission asks for.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Id to use (seeded or given), or a random one.
    pub id: JobId,
    /// The SQL script.
    pub script: String,
    /// The job's configuration as collected (cluster, submission); the
    /// script's `SET`s are applied when it is planned.
    pub config: riffle_common::Configuration,
    /// What happens when the job result store already records this id.
    pub on_recorded_result: OnRecordedResult,
}

/// What a submission does when the job result store records that its job
/// id already ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRecordedResult {
    /// Refuse, reporting the recorded result (Flink's behaviour).
    #[default]
    Report,
    /// Forget the recorded result and the job's checkpoints, then run the
    /// job from its start (or its savepoint) again.
    RunAnew,
}

/// A job and everything the JobManager knows about it.
#[derive(Debug)]
pub struct Job {
    /// Id.
    pub id: JobId,
    /// Name.
    pub name: String,
    /// The SQL script.
    pub script: String,
    /// The job's configuration, resolved when it was planned.
    pub config: std::sync::Arc<riffle_common::JobConfig>,
    /// The plan's vertices.
    pub vertices: Vec<VertexInfo>,
    /// Current status.
    pub status: JobStatus,
    /// When each status was first entered (epoch ms).
    pub timestamps: BTreeMap<JobStatus, i64>,
    /// Submission time.
    pub start_time: i64,
    /// When it reached a terminal status.
    pub end_time: Option<i64>,
    /// Last status or task change.
    pub last_modification: i64,
    /// Current attempt (0 for the first run).
    pub attempt: u32,
    /// Slots of the current attempt: slot index -> TaskManager.
    pub slots: Vec<ResourceId>,
    /// `states[vertex][subtask]`.
    pub states: Vec<Vec<ExecutionState>>,
    /// `started[vertex][subtask]`: when the subtask entered its current state.
    pub since: Vec<Vec<i64>>,
    /// Restart bookkeeping.
    pub restarts: RestartTracker,
    /// `numRestarts`.
    pub num_restarts: u64,
    /// Failures, oldest first.
    pub failures: Vec<Failure>,
    /// When a pending restart or scheduling attempt is due.
    pub schedule_at: Option<i64>,
    /// Since when the job waits for slots.
    pub waiting_since: Option<i64>,
    /// When a cancellation gives up waiting for tasks.
    pub cancel_deadline: Option<i64>,
    /// Latest counters per (vertex, subtask) of the current attempt.
    pub reports: BTreeMap<(usize, usize), SubtaskReport>,
    /// For a SQL client's query: its rows waiting to be fetched.
    pub results: Option<crate::results::ResultBuffer>,
    /// Checkpoints and savepoints.
    pub checkpoints: crate::checkpoints::Coordinator,
}

impl Job {
    /// The largest vertex parallelism: the slots it needs (slot sharing).
    pub fn required_slots(&self) -> usize {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(1)
    }

    /// The TaskManager running a subtask in the current attempt.
    pub fn taskmanager_of(&self, subtask: usize) -> Option<ResourceId> {
        self.slots.get(subtask).copied()
    }

    /// Moves to `status`, remembering when.
    pub fn set_status(&mut self, status: JobStatus, now: i64) {
        if self.status != status {
            tracing::info!(job_id = %self.id, from = self.status.name(), to = status.name(), "job status");
        }
        self.status = status;
        self.timestamps.entry(status).or_insert(now);
        self.last_modification = now;
        if status.is_globally_terminal() {
            self.end_time = Some(now);
        }
    }

    /// Sets every subtask's state.
    pub fn set_all_tasks(&mut self, state: ExecutionState, now: i64) {
        for v in 0..self.states.len() {
            for s in 0..self.states[v].len() {
                self.states[v][s] = state;
                self.since[v][s] = now;
            }
        }
    }

    /// Counts subtasks per state (Flink's `tasks` map, lower-case keys).
    pub fn task_counts(&self) -> BTreeMap<ExecutionState, usize> {
        let mut m = BTreeMap::new();
        for v in &self.states {
            for s in v {
                *m.entry(*s).or_insert(0) += 1;
            }
        }
        m
    }

    /// Whether every subtask of the current attempt reached a terminal state.
    pub fn all_tasks_terminal(&self) -> bool {
        self.states.iter().flatten().all(|s| s.is_terminal())
    }

    /// A task's display name, Flink style: `name (i/p)`.
    pub fn task_name(&self, vertex: usize, subtask: usize) -> String {
        match self.vertices.get(vertex) {
            Some(v) => format!("{} ({}/{})", v.name, subtask + 1, v.parallelism),
            None => format!("vertex {vertex} ({})", subtask + 1),
        }
    }

    /// The state a vertex shows as a whole: the "least advanced" of its subtasks, as Flink aggregates.
    pub fn vertex_state(&self, vertex: usize) -> ExecutionState {
        let Some(states) = self.states.get(vertex) else {
            return ExecutionState::Created;
        };
        for s in [
            ExecutionState::Failed,
            ExecutionState::Canceling,
            ExecutionState::Canceled,
            ExecutionState::Reconciling,
            ExecutionState::Created,
            ExecutionState::Scheduled,
            ExecutionState::Deploying,
            ExecutionState::Initializing,
            ExecutionState::Running,
        ] {
            if states.contains(&s) {
                return s;
            }
        }
        ExecutionState::Finished
    }
}
