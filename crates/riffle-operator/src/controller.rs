//! The operator's loop: kube's runtime watches the resources (and the
//! JobManager Deployments they own) and queues reconciliations; each one
//! runs on a blocking thread as observe → decide ([`crate::deployment::rules`])
//! → write the status → act → write the status again.
//!
//! Any change of a resource wakes it, its Deployment's changes too; the
//! operator's own status write wakes it once more, and that reconciliation
//! writes nothing when nothing changed (the rules are idempotent), so writes
//! do not chain. Progress is also followed by the requeue the rules ask for.
//! A failed reconciliation is retried with the configured backoff; a spec
//! error waits for the spec to change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::PostParams;
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use riffle_common::config::Configuration;
use riffle_kubernetes::Kube;
use riffle_kubernetes::native::{deploy, observe as cluster};

use crate::crd::FlinkDeployment;
use crate::crd::common::LifecycleState;
use crate::deployment::io::{self, ClusterRef};
use crate::deployment::rules::{self, Decision, Note};
use crate::error::OperatorError;
use crate::metrics::Metrics;
use crate::settings::{OperatorSettings, ResourceSettings};

/// The finalizer through which the operator removes a deleted resource's
/// cluster and HA data before the resource goes.
pub const FINALIZER: &str = "flinkdeployments.riffle.dev/finalizer";

/// The label every native cluster's objects carry.
const CLUSTER_LABEL: &str = "type=flink-native-kubernetes";

/// What every reconciliation shares.
pub struct Context {
    kube: Kube,
    defaults: Configuration,
    settings: OperatorSettings,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    failures: Mutex<HashMap<ObjectRef<FlinkDeployment>, u32>>,
}

impl Context {
    /// The context of an operator with configuration `defaults`.
    pub fn new(
        kube: Kube,
        defaults: Configuration,
        settings: OperatorSettings,
        metrics: Arc<Metrics>,
    ) -> Context {
        let reporter = Reporter {
            controller: "riffle-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(kube.client(), reporter),
            kube,
            defaults,
            settings,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs the FlinkDeployment controller over `namespaces` (empty: all) until
/// its watch ends.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.kube.client();
    let scopes: Vec<Option<String>> = if ctx.settings.namespaces.is_empty() {
        vec![None]
    } else {
        ctx.settings.namespaces.iter().cloned().map(Some).collect()
    };
    let mut streams = Vec::new();
    for ns in scopes {
        let (api, deployments): (Api<FlinkDeployment>, Api<Deployment>) = match &ns {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        let stream = Controller::new(api, watcher::Config::default())
            .owns(
                deployments,
                watcher::Config::default().labels(CLUSTER_LABEL),
            )
            .shutdown_on_signal()
            .run(reconcile, error_policy, Arc::clone(&ctx))
            .boxed();
        streams.push(stream);
    }
    futures_util::stream::select_all(streams)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

async fn reconcile(obj: Arc<FlinkDeployment>, ctx: Arc<Context>) -> Result<Requeue, OperatorError> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<FlinkDeployment> = Api::namespaced(ctx.kube.client(), &ns);
    let started = Instant::now();
    let result = finalizer(&api, FINALIZER, obj, |event| {
        let ctx = Arc::clone(&ctx);
        async move {
            match event {
                finalizer::Event::Apply(obj) => on_thread(&ctx, obj, apply).await,
                finalizer::Event::Cleanup(obj) => on_thread(&ctx, obj, cleanup).await,
            }
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => OperatorError::Stopped(other.to_string()),
    });
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    result
}

/// Runs a blocking step on a blocking thread.
async fn on_thread(
    ctx: &Arc<Context>,
    obj: Arc<FlinkDeployment>,
    step: fn(&FlinkDeployment, &Context) -> Result<Requeue, OperatorError>,
) -> Result<Requeue, OperatorError> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || step(&obj, &ctx))
        .await
        .map_err(|e| OperatorError::Stopped(e.to_string()))?
}

fn error_policy(obj: Arc<FlinkDeployment>, e: &OperatorError, ctx: Arc<Context>) -> Requeue {
    if let OperatorError::Waiting(why) = e {
        tracing::debug!(resource = %obj.name_any(), "{why}");
        return Requeue::requeue(Duration::from_secs(1));
    }
    if e.is_conflict() {
        tracing::debug!(resource = %obj.name_any(), "stale copy of the resource; reconciling again");
        return Requeue::requeue(Duration::from_millis(200));
    }
    let key = ObjectRef::from_obj(obj.as_ref());
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    if e.is_permanent() {
        tracing::warn!(resource = %obj.name_any(), error = %e, "the spec cannot be deployed");
        return Requeue::await_change();
    }
    let pause = ctx.settings.retry.backoff(failures);
    tracing::warn!(resource = %obj.name_any(), error = %e, retry_in_ms = pause.as_millis() as u64, "reconciliation failed");
    Requeue::requeue(pause)
}

/// Publishes an Event on the resource (best effort: a lost Event is logged).
fn publish(ctx: &Context, obj: &FlinkDeployment, note: &Note) {
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.to_string(),
        note: Some(note.message.chars().take(1000).collect()),
        action: note.reason.to_string(),
        secondary: None,
    };
    let reference = obj.object_ref(&());
    let recorder = ctx.recorder.clone();
    match ctx
        .kube
        .run(async move { Ok(recorder.publish(&event, &reference).await) })
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot record an Event"),
        Err(e) => tracing::warn!(error = %e, "cannot record an Event"),
    }
    let level = if note.warning { "warning" } else { "normal" };
    tracing::info!(resource = %obj.name_any(), reason = note.reason, level, "{}", note.message);
}

/// Replaces the resource's status (optimistically: a stale resource fails
/// with a conflict and is reconciled again from fresh state).
fn write_status(
    ctx: &Context,
    obj: &FlinkDeployment,
    status: &crate::crd::FlinkDeploymentStatus,
) -> Result<FlinkDeployment, OperatorError> {
    let mut o = obj.clone();
    o.status = Some(status.clone());
    o.metadata.managed_fields = None;
    let api: Api<FlinkDeployment> =
        Api::namespaced(ctx.kube.client(), &obj.namespace().unwrap_or_default());
    let name = obj.name_any();
    let what = format!("writing the status of {name}");
    ctx.kube
        .run(async move { Ok(api.replace_status(&name, &PostParams::default(), &o).await) })?
        .map_err(OperatorError::api(what))
}

fn apply(obj: &FlinkDeployment, ctx: &Context) -> Result<Requeue, OperatorError> {
    let name = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let config = io::cluster_config(&name, &ns, &obj.spec, &ctx.defaults);
    let valid = crate::cluster_plan::plan(
        crate::cluster_plan::Target {
            name: &name,
            namespace: &ns,
        },
        &obj.spec,
        &ctx.defaults,
    )
    .map(drop);
    let settings =
        ResourceSettings::resolve(&config).or_else(|_| ResourceSettings::resolve(&ctx.defaults))?;
    let c = ClusterRef {
        kube: &kube,
        name: &name,
        timeout: ctx.settings.client_timeout,
        defaults: &ctx.defaults,
        config: &config,
    };
    let mut seen = io::observe(&c, obj.status.as_ref())?;
    let uid = obj.uid().unwrap_or_default();
    let resource = rules::Resource {
        uid: &uid,
        generation: obj.metadata.generation,
        spec: &obj.spec,
        status: obj.status.as_ref(),
        valid,
    };
    let mut decision: Decision = rules::reconcile(&resource, &seen, now_ms(), &settings);
    if let Some(job) = decision.needs_last_state.clone() {
        seen.last_state = Some(io::last_state(&c, &job)?);
        decision = rules::reconcile(&resource, &seen, now_ms(), &settings);
    }
    let mut current = obj.clone();
    if obj.status.as_ref() != Some(&decision.status) {
        current = write_status(ctx, obj, &decision.status)?;
    }
    ctx.metrics.lifecycle(
        &format!("{ns}/{name}"),
        decision
            .status
            .lifecycle_state
            .unwrap_or(LifecycleState::Created),
    );
    for note in &decision.notes {
        publish(ctx, obj, note);
    }
    let owner = obj.controller_owner_ref(&()).ok_or_else(|| {
        OperatorError::Stopped(format!("{name} has no uid yet: cannot own its cluster"))
    })?;
    for action in &decision.actions {
        if let Err(e) = io::act(&c, action, &owner) {
            publish(
                ctx,
                obj,
                &Note {
                    warning: true,
                    reason: "ActionFailed",
                    message: format!("{action:?} failed: {e}"),
                },
            );
            return Err(e);
        }
    }
    if let Some(after) = &decision.after {
        write_status(ctx, &current, after)?;
        ctx.metrics.lifecycle(
            &format!("{ns}/{name}"),
            after.lifecycle_state.unwrap_or(LifecycleState::Created),
        );
    }
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(&ObjectRef::from_obj(obj));
    }
    Ok(Requeue::requeue(decision.requeue))
}

/// A deleted resource: its cluster and HA data go before it does.
fn cleanup(obj: &FlinkDeployment, ctx: &Context) -> Result<Requeue, OperatorError> {
    let name = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    deploy::delete_cluster(&kube, &name)?;
    let state = cluster::observe_cluster(&kube, &name)?;
    if state.deployment.is_some() || !state.jobmanager_pods.is_empty() {
        // Not gone yet; the finalizer stays until it is.
        return Err(OperatorError::Waiting(format!(
            "the JobManager of {name} is stopping; its HA data is removed once it is gone"
        )));
    }
    let config = io::cluster_config(&name, &ns, &obj.spec, &ctx.defaults);
    let ha = config
        .get(riffle_common::config::HA_CLUSTER_ID)
        .map_or_else(|| name.clone(), str::to_string);
    cluster::delete_ha_data(&kube, &ha)?;
    ctx.metrics.forget(&format!("{ns}/{name}"));
    publish(
        ctx,
        obj,
        &Note {
            warning: false,
            reason: "Cleanup",
            message: "The cluster and its HA data are deleted".into(),
        },
    );
    Ok(Requeue::await_change())
}

/// Labels of the operator's Lease.
pub fn lease_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "riffle-operator".to_string())])
}

/// How long a reconcile may be waited for at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
