//! `FlinkSessionJob`: a SQL job submitted to a session FlinkDeployment.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::common::{JobSpec, JobStatus, LifecycleState, ReconciliationStatus, free_form};

/// A job on the session cluster `deploymentName`, submitted over REST.
// Each printcolumn(...) repeats `type_`: a column's field, not a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "riffle.dev",
    version = "v1beta1",
    kind = "FlinkSessionJob",
    namespaced,
    doc = "A SQL job on a session FlinkDeployment, as the Flink operator's FlinkSessionJob",
    shortname = "sessionjob",
    status = "FlinkSessionJobStatus",
    printcolumn(
        name = "Job Status",
        type_ = "string",
        json_path = ".status.jobStatus.state"
    ),
    printcolumn(
        name = "Lifecycle State",
        type_ = "string",
        json_path = ".status.lifecycleState"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionJobSpec {
    /// The session FlinkDeployment (in the same namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// Changing it restarts the job through the normal upgrade path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Flink configuration keys of this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form")]
    pub flink_configuration: Option<serde_json::Value>,
}

/// `status` of a FlinkSessionJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionJobStatus {
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the resource is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<LifecycleState>,
    /// What was last submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_status: Option<ReconciliationStatus>,
}
