//! The edges of snapshots: finding the job a snapshot is of and its
//! JobManager, asking about and sending triggers, listing a resource's
//! snapshot resources, and deleting a savepoint's files. Blocking.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use riffle_common::config::{Configuration, StorageConfig};
use riffle_kubernetes::Kube;
use riffle_kubernetes::native::deploy;

use crate::crd::common::{JobStatus, JobStatusState, SavepointFormatType, SnapshotTriggerType};
use crate::crd::snapshot::{FlinkStateSnapshot, FlinkStateSnapshotSpec, JobKind};
use crate::crd::{FlinkDeployment, FlinkSessionJob};
use crate::deployment::io::cluster_config;
use crate::deployment::rules::SavepointSeen;
use crate::error::OperatorError;
use crate::rest::{JobManagerRest, RestError};
use crate::snapshot::rules::{JobTarget, SnapshotKind, Trigger};
use crate::snapshot::schedule::{Kind, SnapshotSeen, owner_labels};
use crate::snapshot::{LABEL_JOB_KIND, LABEL_JOB_NAME, LABEL_TRIGGER_TYPE};
use crate::time::parse_rfc3339;

/// The job a snapshot is of, where to reach it, and its cluster's
/// configuration (storage, savepoint directory, snapshot settings).
pub struct Found {
    /// Whether and as what the job runs.
    pub target: JobTarget,
    /// The JobManager of the job's cluster, when it can be found.
    pub rest: Option<JobManagerRest>,
    /// The configuration of the job's cluster (the operator's when the
    /// resource is gone).
    pub config: Configuration,
}

/// Finds the job that `spec.jobReference` names.
pub fn find_job(
    kube: &Kube,
    spec: &FlinkStateSnapshotSpec,
    defaults: &Configuration,
    timeout: Duration,
) -> Result<Found, OperatorError> {
    let reference = spec.job_reference.clone().unwrap_or_default();
    let name = reference.name.unwrap_or_default();
    let not_running = |why: String| Found {
        target: JobTarget::NotRunning(why),
        rest: None,
        config: defaults.clone(),
    };
    let (job, cluster, config) = match reference.kind {
        None => return Ok(not_running("spec.jobReference.kind is missing".into())),
        Some(JobKind::FlinkDeployment) => {
            let Some(d) = kube.get::<FlinkDeployment>(&name)? else {
                return Ok(not_running(format!(
                    "FlinkDeployment {name} does not exist"
                )));
            };
            if d.spec.job.is_none() {
                return Ok(not_running(format!(
                    "FlinkDeployment {name} is a session cluster: snapshot its FlinkSessionJobs"
                )));
            }
            let config = cluster_config(&name, kube.namespace(), &d.spec, defaults);
            let job = d.status.and_then(|s| s.job_status);
            (job, name.clone(), config)
        }
        Some(JobKind::FlinkSessionJob) => {
            let Some(j) = kube.get::<FlinkSessionJob>(&name)? else {
                return Ok(not_running(format!(
                    "FlinkSessionJob {name} does not exist"
                )));
            };
            let session = j.spec.deployment_name.clone().unwrap_or_default();
            let config = match kube.get::<FlinkDeployment>(&session)? {
                Some(d) => cluster_config(&session, kube.namespace(), &d.spec, defaults),
                None => defaults.clone(),
            };
            (j.status.and_then(|s| s.job_status), session, config)
        }
    };
    let rest = deploy::rest_endpoint(kube, &cluster).map(|e| JobManagerRest::new(&e, timeout));
    let target = match (running_job(job.as_ref()), &rest) {
        (Some(job_id), Ok(_)) => JobTarget::Running { job_id },
        (Some(_), Err(e)) => {
            JobTarget::NotRunning(format!("the JobManager of {cluster} cannot be found: {e}"))
        }
        (None, _) => {
            let state = job
                .and_then(|j| j.state)
                .map_or("not started".to_string(), |s| {
                    format!("{s:?}").to_uppercase()
                });
            JobTarget::NotRunning(format!("the job of {name} is {state}"))
        }
    };
    Ok(Found {
        target,
        rest: rest.ok(),
        config,
    })
}

fn running_job(job: Option<&JobStatus>) -> Option<String> {
    let job = job?;
    (job.state == Some(JobStatusState::Running))
        .then(|| job.job_id.clone())
        .flatten()
}

/// What the JobManager says of the recorded trigger of a snapshot.
pub fn observe(
    found: &Found,
    spec: &FlinkStateSnapshotSpec,
    trigger: Option<&str>,
) -> SavepointSeen {
    let (Some(trigger), Some(rest), JobTarget::Running { job_id }) =
        (trigger, &found.rest, &found.target)
    else {
        return SavepointSeen::NotAsked;
    };
    let answer = if spec.savepoint.is_some() {
        rest.savepoint(job_id, trigger)
    } else {
        rest.checkpoint(job_id, trigger)
    };
    SavepointSeen::from_answer(answer)
}

/// Sends a trigger.
pub fn send(rest: &JobManagerRest, t: &Trigger) -> Result<(), RestError> {
    match &t.kind {
        SnapshotKind::Savepoint { directory, format } => {
            let format = match format {
                SavepointFormatType::Native => "NATIVE",
                _ => "CANONICAL",
            };
            rest.trigger_savepoint(&t.job_id, &t.trigger_id, directory.as_deref(), format)
        }
        SnapshotKind::Checkpoint => rest.trigger_checkpoint(&t.job_id, &t.trigger_id),
    }
}

/// Deletes the savepoint at `path`: through the JobManager of the job's
/// cluster when it answers (it sees the storage its jobs write, a volume of
/// its pods included), else straight from object storage with the
/// cluster's configuration. A savepoint already gone is not an error; a
/// directory that holds no savepoint is left alone either way.
pub fn dispose(found: &Found, path: &str, timeout: Duration) -> Result<(), OperatorError> {
    if let Some(rest) = &found.rest {
        match rest.dispose_savepoint(path, timeout) {
            Ok(()) => return Ok(()),
            Err(RestError::Refused { message, .. }) if message.contains("holds no _metadata") => {
                tracing::info!(path, "savepoint already gone: {message}");
                return Ok(());
            }
            Err(e @ RestError::Refused { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::info!(path, error = %e, "the JobManager cannot dispose of it; trying the storage")
            }
        }
    }
    if path.starts_with("file:") || path.starts_with('/') {
        return Err(OperatorError::Waiting(format!(
            "{path} is on a file system only the job's pods see, and its cluster's JobManager \
             does not answer: it is deleted once the cluster runs"
        )));
    }
    let storage = StorageConfig::resolve(&found.config)?;
    match riffle_jobmanager::restore::read_metadata(path, &storage) {
        Ok(_) => riffle_jobmanager::restore::delete_directory(path, &storage)
            .map_err(|e| OperatorError::Storage(format!("deleting savepoint {path}: {e}"))),
        Err(e) if riffle_jobmanager::restore::directory_exists(path, &storage) == Ok(false) => {
            tracing::info!(path, error = %e, "savepoint already gone");
            Ok(())
        }
        Err(e) => Err(OperatorError::Storage(format!(
            "{path} does not read as a savepoint, so nothing was deleted: {e}"
        ))),
    }
}

/// The snapshot resources the operator made for the job of a resource.
pub fn list_for(
    kube: &Kube,
    kind: JobKind,
    name: &str,
) -> Result<Vec<SnapshotSeen>, OperatorError> {
    let selector = owner_labels(kind, name)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let api: Api<FlinkStateSnapshot> = Api::namespaced(kube.client(), kube.namespace());
    let list = kube
        .run(async move { Ok(api.list(&ListParams::default().labels(&selector)).await) })?
        .map_err(OperatorError::api(format!(
            "listing the snapshots of {name}"
        )))?;
    Ok(list.items.iter().filter_map(seen).collect())
}

/// Creates a snapshot resource; one of its name already there is the same
/// request made before (its name says what it is for).
pub fn create(kube: &Kube, snapshot: &FlinkStateSnapshot) -> Result<(), OperatorError> {
    let api: Api<FlinkStateSnapshot> = Api::namespaced(kube.client(), kube.namespace());
    let name = snapshot.metadata.name.clone().unwrap_or_default();
    let obj = snapshot.clone();
    let r = kube.run(async move { Ok(api.create(&PostParams::default(), &obj).await) })?;
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(OperatorError::api(format!(
            "creating FlinkStateSnapshot {name}"
        ))(e)),
    }
}

/// Deletes a snapshot resource (its savepoint goes with it if it says so);
/// one already gone is fine.
pub fn delete(kube: &Kube, name: &str) -> Result<(), OperatorError> {
    let api: Api<FlinkStateSnapshot> = Api::namespaced(kube.client(), kube.namespace());
    let n = name.to_string();
    let r = kube.run(async move { Ok(api.delete(&n, &DeleteParams::default()).await) })?;
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(OperatorError::api(format!(
            "deleting FlinkStateSnapshot {name}"
        ))(e)),
    }
}

fn seen(x: &FlinkStateSnapshot) -> Option<SnapshotSeen> {
    let labels = x.metadata.labels.as_ref()?;
    labels.get(LABEL_JOB_KIND)?;
    labels.get(LABEL_JOB_NAME)?;
    let trigger_type = match labels.get(LABEL_TRIGGER_TYPE).map(String::as_str) {
        Some("MANUAL") => SnapshotTriggerType::Manual,
        Some("PERIODIC") => SnapshotTriggerType::Periodic,
        Some("UPGRADE") => SnapshotTriggerType::Upgrade,
        _ => SnapshotTriggerType::Unknown,
    };
    let created_ms = x
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .or_else(|| {
            x.status
                .as_ref()
                .and_then(|s| s.trigger_timestamp.as_deref())
                .and_then(parse_rfc3339)
        })
        .unwrap_or(0);
    Some(SnapshotSeen {
        name: x.metadata.name.clone()?,
        kind: if x.spec.savepoint.is_some() {
            Kind::Savepoint
        } else {
            Kind::Checkpoint
        },
        trigger_type,
        state: x.status.as_ref().and_then(|s| s.state),
        created_ms,
        deleting: x.metadata.deletion_timestamp.is_some(),
    })
}
