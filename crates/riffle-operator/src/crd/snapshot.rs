//! `FlinkStateSnapshot`: a savepoint or checkpoint of a job, as a resource.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::common::SavepointFormatType;

/// A savepoint or checkpoint of the job of a FlinkDeployment or FlinkSessionJob
/// (exactly one of `savepoint` and `checkpoint`).
// Each printcolumn(...) repeats `type_`: a column's field, not a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "riffle.dev",
    version = "v1beta1",
    kind = "FlinkStateSnapshot",
    namespaced,
    doc = "A savepoint or checkpoint of a job, as the Flink operator's FlinkStateSnapshot",
    shortname = "flinksnp",
    status = "FlinkStateSnapshotStatus",
    printcolumn(name = "Path", type_ = "string", json_path = ".status.path"),
    printcolumn(
        name = "Result Timestamp",
        type_ = "string",
        json_path = ".status.resultTimestamp"
    ),
    printcolumn(name = "Snapshot State", type_ = "string", json_path = ".status.state")
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkStateSnapshotSpec {
    /// The job the snapshot is of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_reference: Option<JobReference>,
    /// A savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<SavepointSpec>,
    /// A checkpoint (no settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSpec>,
    /// Retries after a failure: -1 (default) without limit, 0 none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
}

/// `spec.jobReference`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobReference {
    /// `FlinkDeployment` or `FlinkSessionJob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<JobKind>,
    /// The resource's name (same namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `spec.jobReference.kind`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[allow(missing_docs)]
pub enum JobKind {
    FlinkDeployment,
    FlinkSessionJob,
}

/// `spec.savepoint`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointSpec {
    /// Where it goes (default `execution.checkpointing.savepoint-dir`), or,
    /// with `alreadyExists`, where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its format (default `CANONICAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// Delete the savepoint's files with the resource (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispose_on_delete: Option<bool>,
    /// The savepoint exists: record it, take none (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub already_exists: Option<bool>,
}

/// `spec.checkpoint`: no settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CheckpointSpec {}

/// `status` of a FlinkStateSnapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkStateSnapshotStatus {
    /// Where the snapshot stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SnapshotState>,
    /// The trigger id at the JobManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When it was triggered (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<String>,
    /// When it completed or failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_timestamp: Option<String>,
    /// The snapshot's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed attempts so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<i32>,
}

/// `status.state` of a FlinkStateSnapshot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SnapshotState {
    TriggerPending,
    InProgress,
    Completed,
    Failed,
    Abandoned,
}
