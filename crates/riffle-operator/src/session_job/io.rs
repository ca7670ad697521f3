//! The edges of a FlinkSessionJob's reconciliation: its session
//! FlinkDeployment and that cluster's REST API. Blocking.

use std::collections::BTreeMap;
use std::time::Duration;

use riffle_common::config::{self as keys, Configuration, Origin};
use riffle_kubernetes::Kube;
use riffle_kubernetes::native::deploy;

use crate::crd::FlinkDeployment;
use crate::crd::common::SnapshotTriggerType;
use crate::crd::deployment::JobManagerDeploymentStatus;
use crate::crd::session_job::{FlinkSessionJobSpec, FlinkSessionJobStatus};
use crate::deployment::rules::{JobSeen, SavepointSeen};
use crate::error::OperatorError;
use crate::rest::{JobManagerRest, RestError, SqlSubmission};
use crate::session_job::rules::{Action, Observed, Session};
use crate::spec_diff::flatten;

/// Checks a session job's spec: its session, its SQL and its configuration.
pub fn validate(spec: &FlinkSessionJobSpec) -> Result<(), String> {
    if spec.deployment_name.as_deref().is_none_or(str::is_empty) {
        return Err("spec.deploymentName must name the session FlinkDeployment".into());
    }
    let job = spec
        .job
        .as_ref()
        .ok_or_else(|| "spec.job is missing: a FlinkSessionJob runs one job".to_string())?;
    let sql = job.sql.as_ref().ok_or_else(|| {
        "spec.job.sql is missing: a session job's SQL is submitted as text (the operator cannot \
         read a jarURI inside the session's image)"
            .to_string()
    })?;
    riffle_sql::parse_statements(sql).map_err(|e| format!("spec.job.sql: {e}"))?;
    let c = configuration(spec)?;
    c.validate().map_err(|e| e.to_string())?;
    crate::cluster_plan::refuse_session_autoscaling(&c)?;
    Ok(())
}

/// The job's own configuration (`spec.flinkConfiguration`).
fn configuration(spec: &FlinkSessionJobSpec) -> Result<Configuration, String> {
    let mut c = Configuration::new();
    if let Some(conf) = &spec.flink_configuration {
        if !conf.is_object() {
            return Err("spec.flinkConfiguration must be an object of keys and values".into());
        }
        for (k, v) in flatten(conf) {
            c.set_from(
                k,
                v,
                Origin::Resource {
                    field: "spec.flinkConfiguration".into(),
                },
            );
        }
    }
    Ok(c)
}

/// Where the session cluster is, once it can take jobs.
fn session_rest(
    kube: &Kube,
    name: &str,
    timeout: Duration,
) -> Result<Result<JobManagerRest, String>, OperatorError> {
    let Some(session) = kube.get::<FlinkDeployment>(name)? else {
        return Ok(Err(format!(
            "the session FlinkDeployment {name} does not exist"
        )));
    };
    if session.spec.job.is_some() {
        return Ok(Err(format!(
            "FlinkDeployment {name} is an application cluster (it has spec.job), not a session"
        )));
    }
    let ready = session
        .status
        .as_ref()
        .and_then(|s| s.job_manager_deployment_status)
        == Some(JobManagerDeploymentStatus::Ready);
    if !ready {
        return Ok(Err(format!(
            "the session FlinkDeployment {name} is not ready yet"
        )));
    }
    Ok(deploy::rest_endpoint(kube, name)
        .map(|e| JobManagerRest::new(&e, timeout))
        .map_err(|e| e.to_string()))
}

/// Observes the job's session and its job.
pub fn observe(
    kube: &Kube,
    spec: &FlinkSessionJobSpec,
    status: Option<&FlinkSessionJobStatus>,
    timeout: Duration,
) -> Result<(Observed, Option<JobManagerRest>), OperatorError> {
    let mut observed = Observed::default();
    let name = spec.deployment_name.clone().unwrap_or_default();
    let rest = match session_rest(kube, &name, timeout)? {
        Ok(r) => r,
        Err(problem) => {
            observed.session_problem = Some(problem);
            return Ok((observed, None));
        }
    };
    let jobs = match rest.jobs() {
        Ok(j) => j,
        Err(e) => {
            observed.session_problem = Some(e.to_string());
            return Ok((observed, None));
        }
    };
    observed.session = Session::Ready;
    let current = status
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.job_id.clone());
    let next = status
        .and_then(|s| s.reconciliation_status.as_ref())
        .and_then(|r| r.next_job_id.clone());
    observed.next_submitted = next.is_some_and(|n| jobs.iter().any(|j| j.jid == n));
    let Some(current) = current else {
        return Ok((observed, Some(rest)));
    };
    observed.job = jobs
        .into_iter()
        .find(|j| j.jid == current)
        .map_or(JobSeen::Absent, JobSeen::Seen);
    if matches!(observed.job, JobSeen::Seen(_)) {
        observed.last_checkpoint = rest.latest_checkpoint(&current)?;
    }
    let trigger = status
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.as_ref())
        .filter(|i| i.trigger_type == Some(SnapshotTriggerType::Upgrade))
        .and_then(|i| i.trigger_id.clone());
    if let Some(trigger) = trigger {
        observed.savepoint = SavepointSeen::from_answer(rest.savepoint(&current, &trigger));
    }
    Ok((observed, Some(rest)))
}

/// Carries out one action on the session.
pub fn act(rest: &JobManagerRest, action: &Action) -> Result<(), OperatorError> {
    match action {
        Action::Submit {
            spec,
            job_id,
            restore_from,
        } => {
            let spec: FlinkSessionJobSpec = serde_json::from_value(spec.clone()).map_err(|e| {
                OperatorError::Spec(format!("the spec to submit does not read: {e}"))
            })?;
            rest.submit(&submission(&spec, job_id, restore_from.as_deref())?)?;
            Ok(())
        }
        Action::Cancel { job_id } => match rest.cancel(job_id) {
            Ok(()) => Ok(()),
            // Already ended: nothing to cancel.
            Err(RestError::Refused { status: 409, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Action::StopWithSavepoint { job_id, trigger_id } => {
            Ok(rest.stop_with_savepoint(job_id, trigger_id)?)
        }
    }
}

/// The submission of a session job: its SQL, id, parallelism and
/// configuration, with what it starts from. Its checkpoints outlive a
/// cancel (unless it says otherwise), so a last-state upgrade can use them.
pub fn submission(
    spec: &FlinkSessionJobSpec,
    job_id: &str,
    restore_from: Option<&str>,
) -> Result<SqlSubmission, OperatorError> {
    let job = spec
        .job
        .as_ref()
        .ok_or_else(|| OperatorError::Spec("spec.job is missing".into()))?;
    let mut conf: BTreeMap<String, String> = spec
        .flink_configuration
        .as_ref()
        .map(flatten)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("kubernetes.operator.") && k != keys::SAVEPOINT_PATH)
        .collect();
    conf.entry(keys::CHECKPOINTING_RETENTION.to_string())
        .or_insert_with(|| "RETAIN_ON_CANCELLATION".to_string());
    if let Some(path) = restore_from {
        conf.insert(keys::SAVEPOINT_PATH.to_string(), path.to_string());
    }
    if job.allow_non_restored_state == Some(true) {
        conf.insert(
            keys::SAVEPOINT_IGNORE_UNCLAIMED_STATE.to_string(),
            "true".into(),
        );
    }
    Ok(SqlSubmission {
        script: job.sql.clone().unwrap_or_default(),
        job_id: job_id.to_string(),
        parallelism: job
            .parallelism
            .filter(|p| *p > 0)
            .and_then(|p| usize::try_from(p).ok()),
        flink_configuration: conf,
    })
}

/// The configuration a session job's reconciliation settings come from: the
/// operator's, with the job's own `kubernetes.operator.*` keys and
/// checkpoint timeout over it.
pub fn settings_config(spec: &FlinkSessionJobSpec, defaults: &Configuration) -> Configuration {
    let mut c = defaults.clone();
    let own = spec
        .flink_configuration
        .as_ref()
        .map(flatten)
        .unwrap_or_default();
    for (k, v) in own {
        if k.starts_with("kubernetes.operator.") || k == keys::CHECKPOINTING_TIMEOUT {
            c.set_from(
                k,
                v,
                Origin::Resource {
                    field: "spec.flinkConfiguration".into(),
                },
            );
        }
    }
    c
}
