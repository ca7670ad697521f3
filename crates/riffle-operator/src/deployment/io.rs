//! The edges of a FlinkDeployment's reconciliation: observing its cluster
//! (apiserver, JobManager REST API, checkpoint storage) and carrying out
//! the [`Action`]s the rules chose. Blocking; run on a blocking thread.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use riffle_common::config::{self as keys, Configuration, HighAvailability, StorageConfig};
use riffle_kubernetes::Kube;
use riffle_kubernetes::native::descriptor::{self, Ownership};
use riffle_kubernetes::native::observe::{self as cluster, ClusterState, observe_cluster};
use riffle_kubernetes::native::{deploy, spec::NativeSpec};
use riffle_rpc::JobId;

use crate::cluster_plan::{self, Target};
use crate::crd::common::SnapshotTriggerType;
use crate::crd::deployment::{FlinkDeploymentSpec, FlinkDeploymentStatus};
use crate::deployment::rules::{
    self, Action, DeployOrder, JOB_ID_ANNOTATION, JobSeen, LastState, Observed, SPEC_ANNOTATION,
    SavepointSeen,
};
use crate::error::OperatorError;
use crate::rest::{JobManagerRest, RestError};

/// Where a resource's cluster lives and how to reach it.
#[derive(Debug, Clone)]
pub struct ClusterRef<'a> {
    /// The client, in the resource's namespace.
    pub kube: &'a Kube,
    /// The cluster id (`metadata.name`).
    pub name: &'a str,
    /// Timeout of REST calls.
    pub timeout: Duration,
    /// The operator's configuration (every cluster's base).
    pub defaults: &'a Configuration,
    /// The configuration of this resource's cluster (see [`cluster_config`]).
    pub config: &'a Configuration,
}

impl ClusterRef<'_> {
    /// A client of the cluster's JobManager (through its REST Service).
    pub fn rest(&self) -> Result<JobManagerRest, String> {
        deploy::rest_endpoint(self.kube, self.name)
            .map(|endpoint| JobManagerRest::new(&endpoint, self.timeout))
            .map_err(|e| e.to_string())
    }
}

/// Where an observation of a cluster came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterSource {
    /// The watches' cache.
    Cache,
    /// A read from the apiserver.
    Apiserver,
}

/// Observes the cluster of a resource whose status is `status`: from
/// `cached` (the watches' view) when the rules say it is current, else from
/// the apiserver.
pub fn observe(
    c: &ClusterRef<'_>,
    status: Option<&FlinkDeploymentStatus>,
    cached: Option<ClusterState>,
) -> Result<(Observed, ClusterSource), OperatorError> {
    let (state, source) = match cached.filter(|s| rules::cache_is_current(status, s)) {
        Some(s) => (s, ClusterSource::Cache),
        None => (observe_cluster(c.kube, c.name)?, ClusterSource::Apiserver),
    };
    let observed = observe_job(c, status, state);
    Ok((observed, source))
}

/// Adds to the observed cluster `state` what its JobManager says of the
/// job and of a pending upgrade savepoint.
fn observe_job(
    c: &ClusterRef<'_>,
    status: Option<&FlinkDeploymentStatus>,
    state: ClusterState,
) -> Observed {
    let ready = state
        .deployment
        .as_ref()
        .is_some_and(|d| d.ready_replicas > 0 && !d.deleting);
    let cluster_job = state
        .deployment
        .as_ref()
        .and_then(|d| d.annotations.get(JOB_ID_ANNOTATION).cloned());
    let mut observed = Observed {
        cluster: state,
        ..Observed::default()
    };
    if !ready {
        return observed;
    }
    let rest = match c.rest() {
        Ok(r) => r,
        Err(e) => {
            observed.job = JobSeen::Unreachable(e);
            return observed;
        }
    };
    let Some(job) = cluster_job else {
        // A session cluster: its REST API answering is what "ready" means.
        observed.job = match rest.jobs() {
            Ok(_) => JobSeen::Absent,
            Err(e) => JobSeen::Unreachable(e.to_string()),
        };
        return observed;
    };
    observed.job = match rest.jobs() {
        Ok(jobs) => jobs
            .into_iter()
            .find(|j| j.jid == job)
            .map_or(JobSeen::Absent, JobSeen::Seen),
        Err(e) => JobSeen::Unreachable(e.to_string()),
    };
    let info = status
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.as_ref());
    let trigger = info
        .filter(|i| i.trigger_type == Some(SnapshotTriggerType::Upgrade))
        .and_then(|i| i.trigger_id.clone());
    if let Some(trigger) = trigger {
        observed.savepoint = SavepointSeen::from_answer(rest.savepoint(&job, &trigger));
    }
    observed
}

/// The newest state of stopped job `job_id` of a cluster configured as
/// `config`: the checkpoint its HA store recorded, else the latest one in
/// the checkpoint directory. Neither needs the job's JobManager.
pub fn last_state(c: &ClusterRef<'_>, job_id: &str) -> Result<LastState, OperatorError> {
    let config = c.config;
    let found = |location: Option<String>, source: String| LastState {
        job_id: job_id.to_string(),
        location,
        source,
    };
    let cluster = riffle_common::ClusterConfig::resolve(config)?;
    if let HighAvailability::Kubernetes(ha) = &cluster.high_availability
        && let Some(location) = cluster::recorded_checkpoint(c.kube, &ha.cluster_id, job_id)?
    {
        return Ok(found(
            Some(location),
            format!("the HA ConfigMap of {}", ha.cluster_id),
        ));
    }
    let Some(dir) = config.opt_text(keys::CHECKPOINTS_DIR)? else {
        return Ok(found(
            None,
            "nowhere: no checkpoint directory is configured".into(),
        ));
    };
    let id: JobId = job_id
        .parse()
        .map_err(|e| OperatorError::Storage(format!("job id {job_id}: {e}")))?;
    let storage = StorageConfig::resolve(config)?;
    let latest = riffle_jobmanager::restore::latest_checkpoint(&dir, id, &storage)
        .map_err(OperatorError::Storage)?;
    Ok(found(
        latest.map(|s| s.location),
        format!("the checkpoint directory {dir}"),
    ))
}

/// Carries out one action on the cluster of resource `owner`.
pub fn act(
    c: &ClusterRef<'_>,
    action: &Action,
    owner: &OwnerReference,
) -> Result<(), OperatorError> {
    match action {
        Action::Deploy(order) => deploy_cluster(c, order, owner),
        Action::DeleteCluster => Ok(deploy::delete_cluster(c.kube, c.name)?),
        Action::DeleteHaData => {
            let ha_id = ha_cluster_id(c.name, c.config);
            Ok(cluster::delete_ha_data(c.kube, &ha_id)?)
        }
        Action::StopWithSavepoint { job_id, trigger_id } => {
            let rest = c.rest().map_err(|e| {
                OperatorError::Rest(RestError::Unreachable {
                    url: c.name.to_string(),
                    reason: e,
                })
            })?;
            Ok(rest.stop_with_savepoint(job_id, trigger_id)?)
        }
    }
}

/// The HA cluster id of a cluster (`high-availability.cluster-id`, else its id).
fn ha_cluster_id(name: &str, config: &Configuration) -> String {
    config
        .get(keys::HA_CLUSTER_ID)
        .map_or_else(|| name.to_string(), str::to_string)
}

fn deploy_cluster(
    c: &ClusterRef<'_>,
    order: &DeployOrder,
    owner: &OwnerReference,
) -> Result<(), OperatorError> {
    let spec: FlinkDeploymentSpec = serde_json::from_value(order.spec.clone())
        .map_err(|e| OperatorError::Spec(format!("the spec to deploy does not read: {e}")))?;
    let target = Target {
        name: c.name,
        namespace: c.kube.namespace(),
    };
    let plan = cluster_plan::plan(target, &spec, c.defaults).map_err(OperatorError::Spec)?;
    let mut config = plan.config;
    // What the job starts from is the operator's decision alone.
    config.remove(keys::SAVEPOINT_PATH);
    if let Some(path) = &order.restore_from {
        config.set(keys::SAVEPOINT_PATH, path);
    }
    if let Some(id) = &order.job_id {
        config.set(keys::PIPELINE_FIXED_JOB_ID, id);
    }
    let mut native = NativeSpec::resolve(&config)?;
    if plan.jobmanager_template.is_some() {
        native.jobmanager.template = plan.jobmanager_template;
    }
    if plan.taskmanager_template.is_some() {
        native.taskmanager.template = plan.taskmanager_template;
    }
    let mut d = descriptor::describe(&config, &native, c.kube.namespace(), plan.job)
        .map_err(OperatorError::Spec)?;
    let mut annotations =
        BTreeMap::from([(SPEC_ANNOTATION.to_string(), order.fingerprint.clone())]);
    if let Some(id) = &order.job_id {
        annotations.insert(JOB_ID_ANNOTATION.to_string(), id.clone());
    }
    d.owner = Ownership {
        reference: Some(owner.clone()),
        annotations,
    };
    Ok(deploy::create_cluster(c.kube, &native, &d)?)
}

/// The configuration a resource's cluster runs with, for finding its state:
/// its spec's, else the operator's defaults.
pub fn cluster_config(
    name: &str,
    namespace: &str,
    spec: &FlinkDeploymentSpec,
    defaults: &Configuration,
) -> Configuration {
    cluster_plan::config(Target { name, namespace }, spec, defaults)
        .unwrap_or_else(|_| defaults.clone())
}
