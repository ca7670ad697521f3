//! What FlinkDeployment and FlinkSessionJob share: the job spec and the
//! job, snapshot and reconciliation status, with the Flink operator's
//! field names and values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `{"type": "object", "x-kubernetes-preserve-unknown-fields": true}`: a
/// free-form object (the Flink configuration as a map or nested YAML, pod
/// templates), checked by the operator instead of the apiserver.
pub(crate) fn free_form(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// The job of a FlinkDeployment (application mode) or FlinkSessionJob.
///
/// Riffle runs SQL: the script is `sql` (inline), or `jarURI` names a `.sql`
/// file (`local:///opt/riffle/usrlib/job.sql`), or, as with the Flink
/// operator's SQL runner, `args` names the SQL file and `jarURI` the runner.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// The job's SQL script (Riffle's addition to the Flink operator's fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// A `.sql` file to run (`local://` path in the image), or the Flink
    /// operator's SQL-runner jar when `args` names the SQL file.
    #[serde(rename = "jarURI", default, skip_serializing_if = "Option::is_none")]
    pub jar_uri: Option<String>,
    /// Default parallelism of the job (`parallelism.default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Accepted for compatibility; Riffle has no entry classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// Arguments: with the SQL-runner pattern, the SQL file's path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `running` (default) or `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Changing it to a new value triggers a savepoint (superseded by FlinkStateSnapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// The savepoint the job starts from on its first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_savepoint_path: Option<String>,
    /// Changing it to a new value triggers a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
    /// How the job's state is carried over an upgrade: `stateless` (default), `savepoint`, `last-state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_mode: Option<UpgradeMode>,
    /// Skip savepoint state of operators the new job no longer has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    /// Changing it redeploys the job from `initialSavepointPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_redeploy_nonce: Option<i64>,
    /// Changing it resets the autoscaler's overrides and history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_reset_nonce: Option<i64>,
}

/// `spec.job.state`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// The job runs.
    Running,
    /// The job is stopped (per `upgradeMode`) and its cluster removed.
    Suspended,
}

/// `spec.job.upgradeMode`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// Stop with a savepoint, start the new job from it.
    Savepoint,
    /// Start the new job from the latest checkpoint.
    LastState,
    /// Start the new job without state.
    Stateless,
}

/// `status.jobStatus`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The job's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// The job's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's state, Flink's names (RUNNING, FINISHED, ...; RECONCILING when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobStatusState>,
    /// Start time, epoch milliseconds as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Last update, epoch milliseconds as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// The savepoint or checkpoint the next deployment restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_savepoint_path: Option<String>,
    /// Savepoints taken through the spec's nonces and periodically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_info: Option<SavepointInfo>,
    /// Checkpoints triggered through the spec's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_info: Option<CheckpointInfo>,
}

/// Flink's job states, as `status.jobStatus.state` spells them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum JobStatusState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
}

/// What triggered a snapshot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum SnapshotTriggerType {
    Manual,
    Periodic,
    Upgrade,
    Unknown,
}

/// The format of a savepoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum SavepointFormatType {
    Canonical,
    Native,
    Unknown,
}

/// The kind of a checkpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum CheckpointType {
    Full,
    Incremental,
    Unknown,
}

/// One savepoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    /// When it completed, epoch milliseconds.
    #[serde(default)]
    pub time_stamp: i64,
    /// Its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Its format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// The nonce that triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_nonce: Option<i64>,
}

/// `status.jobStatus.savepointInfo`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointInfo {
    /// The latest completed savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<Savepoint>,
    /// The trigger id of a savepoint in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When it was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<i64>,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Its format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// Completed savepoints, kept within the history limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savepoint_history: Vec<Savepoint>,
    /// When the last periodic savepoint was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_periodic_savepoint_timestamp: Option<i64>,
}

/// One checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// When it completed, epoch milliseconds.
    #[serde(default)]
    pub time_stamp: i64,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Full or incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<CheckpointType>,
    /// The nonce that triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_nonce: Option<i64>,
}

/// `status.jobStatus.checkpointInfo`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// The latest completed checkpoint triggered through the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<Checkpoint>,
    /// The trigger id of a checkpoint in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When it was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<i64>,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Full or incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<CheckpointType>,
    /// When the last periodic checkpoint was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_periodic_checkpoint_timestamp: Option<i64>,
}

/// `status.reconciliationStatus`: what the operator last deployed. Written
/// before it acts, so an operator that restarts mid-upgrade knows where it was.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationStatus {
    /// When the spec was last reconciled, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_timestamp: Option<i64>,
    /// The spec last deployed, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// The last spec that became stable, as JSON (the rollback target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// Where the reconciliation stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ReconciliationState>,
    /// Riffle: the id of the job the next deployment runs, set once the
    /// state it starts from (`jobStatus.upgradeSavepointPath`) is known and
    /// cleared when it is deployed. An operator that restarts in between
    /// deploys it without looking for the state again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_job_id: Option<String>,
}

/// `status.reconciliationStatus.state`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ReconciliationState {
    Deployed,
    Upgrading,
    RollingBack,
    RolledBack,
}

/// `status.lifecycleState`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum LifecycleState {
    Created,
    Suspended,
    Upgrading,
    Deployed,
    Stable,
    RollingBack,
    RolledBack,
    Failed,
    Deleting,
    Deleted,
}

/// A status condition (Kubernetes' `meta/v1` Condition fields).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type (`Running`).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The resource generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
