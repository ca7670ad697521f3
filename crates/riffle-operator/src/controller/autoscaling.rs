//! The autoscaler's edges for a FlinkDeployment: its record (the ConfigMap
//! `autoscaler-<name>`, owned by the resource so it goes with it), the job's
//! counters from its JobManager, and the Events of its decisions.
//!
//! The window of observations is kept in memory: an operator that restarts
//! (or a new leader) measures a full window again before it decides, which
//! costs one window of reaction time and never decides on a half-seen one.
//! The decisions themselves (the overrides and what judging them needs) are
//! in the ConfigMap, so they survive the operator.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::{Context, now_ms, publish};
use crate::autoscaler::collect::{self, SourceCounters};
use crate::autoscaler::record::{self, Record};
use crate::autoscaler::settings::AutoscalerSettings;
use crate::autoscaler::{Step, step};
use crate::crd::FlinkDeployment;
use crate::crd::common::{JobStatusState, ReconciliationState};
use crate::crd::deployment::{FlinkDeploymentSpec, FlinkDeploymentStatus};
use crate::deployment::io::ClusterRef;
use crate::deployment::rules::Note;
use crate::error::OperatorError;
use crate::rest::{JobManagerRest, RestError};
use crate::spec_diff::{self, ReconciledSpec, VERTEX_PARALLELISM_OVERRIDES};

/// The autoscaler's part in one reconciliation.
pub(super) struct Autoscaling {
    /// The spec to deploy: the user's, with the autoscaler's overrides.
    pub spec: FlinkDeploymentSpec,
    /// The record, when the autoscaler is on.
    stored: Option<Stored>,
}

/// The record as read, with the version to replace.
struct Stored {
    record: Record,
    resource_version: Option<String>,
}

impl Autoscaling {
    /// Whether the spec to deploy differs from the user's.
    pub fn overrides_spec(&self) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|s| !s.record.overrides.is_empty())
    }
}

fn api(ctx: &Context, obj: &FlinkDeployment) -> Api<ConfigMap> {
    Api::namespaced(ctx.kube.client(), &obj.namespace().unwrap_or_default())
}

/// Reads the record and derives the spec to deploy. A record decided for
/// another spec (or reset by `autoscalerResetNonce`) is started afresh; the
/// autoscaler turned off, its ConfigMap goes once the job runs without its
/// overrides again.
pub(super) fn prepare(
    ctx: &Context,
    obj: &FlinkDeployment,
    s: &AutoscalerSettings,
) -> Result<Autoscaling, OperatorError> {
    let name = record::configmap_name(&obj.name_any());
    if !s.enabled {
        if deployed_overrides(obj.status.as_ref()) != user_overrides(&obj.spec) {
            let api = api(ctx, obj);
            let what = format!("deleting ConfigMap {name}");
            ctx.kube
                .run(async move {
                    Ok(match api.delete(&name, &DeleteParams::default()).await {
                        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                        r => r.map(drop),
                    })
                })?
                .map_err(OperatorError::api(what))?;
        }
        return Ok(Autoscaling {
            spec: obj.spec.clone(),
            stored: None,
        });
    }
    let user = serde_json::to_value(&obj.spec).unwrap_or(Value::Null);
    let api = api(ctx, obj);
    let read = name.clone();
    let what = format!("reading ConfigMap {read}");
    let cm = ctx
        .kube
        .run(async move { Ok(api.get_opt(&read).await) })?
        .map_err(OperatorError::api(what))?;
    let resource_version = cm.as_ref().and_then(|c| c.resource_version());
    let stored = match &cm {
        Some(c) => Record::from_data(&c.data.clone().unwrap_or_default()),
        None => Ok(Record::fresh(&user)),
    };
    let stale = record::stale_reason(&stored, &user);
    let mut stored = match &stale {
        None => Stored {
            record: stored.unwrap_or_else(|_| Record::fresh(&user)),
            resource_version,
        },
        Some(why) => {
            if had_decisions(&stored) {
                publish(
                    ctx,
                    obj,
                    &Note {
                        warning: false,
                        reason: "AutoscalerReset",
                        message: format!(
                            "The autoscaler starts afresh: {why}; its parallelism overrides \
                             are dropped"
                        ),
                    },
                );
            }
            Stored {
                record: Record::fresh(&user),
                resource_version,
            }
        }
    };
    if cm.is_none() || stale.is_some() {
        write(ctx, obj, &mut stored)?;
    }
    let effective = record::effective_spec(&user, &stored.record.overrides);
    let spec = serde_json::from_value(effective)
        .map_err(|e| OperatorError::Stopped(format!("the spec with overrides: {e}")))?;
    Ok(Autoscaling {
        spec,
        stored: Some(stored),
    })
}

/// Whether a stale record had anything to lose (else its reset is silent).
fn had_decisions(stored: &Result<Record, String>) -> bool {
    match stored {
        Ok(r) => !r.overrides.is_empty() || r.evaluations > 0,
        Err(_) => true,
    }
}

/// The per-vertex overrides of the spec last deployed (read only when its
/// text names them: this runs at every reconciliation of every resource).
fn deployed_overrides(status: Option<&FlinkDeploymentStatus>) -> Option<String> {
    let text = status?
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()
        .filter(|t| t.contains(VERTEX_PARALLELISM_OVERRIDES))?;
    let last = ReconciledSpec::parse(Some(text)).ok()??;
    overrides_of(&last.spec)
}

/// The per-vertex overrides of the user's spec.
fn user_overrides(spec: &FlinkDeploymentSpec) -> Option<String> {
    overrides_of(&serde_json::to_value(spec).unwrap_or(Value::Null))
}

fn overrides_of(spec: &Value) -> Option<String> {
    spec.get("flinkConfiguration")
        .map(spec_diff::flatten)
        .and_then(|c| c.get(VERTEX_PARALLELISM_OVERRIDES).cloned())
}

/// Writes the record (creating its ConfigMap, owned by the resource).
fn write(ctx: &Context, obj: &FlinkDeployment, stored: &mut Stored) -> Result<(), OperatorError> {
    let name = record::configmap_name(&obj.name_any());
    let owner = obj.controller_owner_ref(&()).into_iter().collect();
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: obj.namespace(),
            resource_version: stored.resource_version.clone(),
            owner_references: Some(owner),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "riffle-operator".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(stored.record.to_data()),
        ..ConfigMap::default()
    };
    let api = api(ctx, obj);
    let create = stored.resource_version.is_none();
    let written = ctx.kube.run(async move {
        let r = if create {
            api.create(&PostParams::default(), &cm).await
        } else {
            api.replace(&name, &PostParams::default(), &cm).await
        };
        Ok(r.map_err(OperatorError::api(format!("writing ConfigMap {name}"))))
    })??;
    stored.resource_version = written.resource_version();
    Ok(())
}

/// One turn of the autoscaler for a resource whose job runs as `status`
/// says: observe, and with a full window decide. Asks for an immediate
/// reconciliation when the overrides changed (the rules then rescale).
pub(super) fn turn(
    ctx: &Context,
    obj: &FlinkDeployment,
    status: Option<&FlinkDeploymentStatus>,
    a: &mut Autoscaling,
    s: &AutoscalerSettings,
    c: &ClusterRef<'_>,
) -> Result<Option<Duration>, OperatorError> {
    let Some(stored) = a.stored.as_mut() else {
        return Ok(None);
    };
    let settled = status.is_some_and(|st| {
        st.reconciliation_status
            .as_ref()
            .is_some_and(|r| r.state == Some(ReconciliationState::Deployed))
    });
    let job = status
        .and_then(|st| st.job_status.as_ref())
        .filter(|j| j.state == Some(JobStatusState::Running))
        .and_then(|j| j.job_id.clone());
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let (true, Some(job)) = (settled, job) else {
        ctx.forget_window(&key);
        return Ok(None);
    };
    let rest = match c.rest() {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(resource = %key, "no metrics: {e}");
            return Ok(None);
        }
    };
    let now = now_ms();
    let (observation, details) = match observe(&rest, &job, now) {
        Ok(o) => o,
        Err(e) => {
            // Metrics are read again at the next reconciliation; the job is
            // not the autoscaler's to fail over a missed sample.
            tracing::warn!(resource = %key, error = %e, "cannot read the job's metrics");
            return Ok(None);
        }
    };
    let running_since = details
        .timestamps
        .get("RUNNING")
        .copied()
        .filter(|t| *t > 0)
        .unwrap_or(now);
    let mut settings = s.clone();
    settings.excluded = collect::excluded(&s.excluded, &details);
    let mut window = ctx.take_window(&key);
    let before = stored.record.clone();
    let outcome = step(
        &settings,
        &mut window,
        &mut stored.record,
        observation,
        running_since,
        now,
    );
    ctx.put_window(key, window);
    let Step::Evaluated { rescale, notes } = outcome else {
        return Ok(None);
    };
    for note in &notes {
        publish(ctx, obj, note);
    }
    if stored.record != before {
        write(ctx, obj, stored)?;
    }
    Ok(rescale.then_some(Duration::from_millis(100)))
}

/// One observation of `job`: its details, each vertex's subtasks' busy
/// time, and what its sources report.
fn observe(
    rest: &JobManagerRest,
    job: &str,
    now: i64,
) -> Result<
    (
        crate::autoscaler::metrics::Observation,
        crate::rest::JobDetails,
    ),
    RestError,
> {
    let details = rest.job_details(job)?;
    let mut busy = Vec::with_capacity(details.vertices.len());
    let mut sources = Vec::with_capacity(details.vertices.len());
    for v in &details.vertices {
        let subtasks = rest.vertex_details(job, &v.id)?.subtasks;
        busy.push(
            subtasks
                .iter()
                .map(|t| t.metrics.busy_ms.max(0.0) as u64)
                .collect(),
        );
        let is_source = details
            .plan
            .nodes
            .iter()
            .find(|n| n.id == v.id)
            .is_none_or(|n| n.inputs.is_empty());
        sources.push(if is_source {
            SourceCounters::from_sums(&rest.subtask_metric_sums(
                job,
                &v.id,
                collect::wanted_source_metric,
            )?)
        } else {
            SourceCounters::default()
        });
    }
    let o = collect::observation(job, now, &details, &busy, &sources);
    Ok((o, details))
}
