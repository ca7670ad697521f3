//! The FlinkDeployment controller: the rules of [`crate::deployment`] on
//! the watch of FlinkDeployments and of their clusters' JobManager
//! Deployments and pods (see [`super::clusters`]).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use riffle_kubernetes::native::{deploy, observe as cluster};

use super::{Context, Results, now_ms, publish, run_kind, succeeded, write_status};
use super::{autoscaling, snapshots};
use crate::cluster_plan::{self, Target};
use crate::crd::FlinkDeployment;
use crate::crd::common::LifecycleState;
use crate::deployment::io::{self, ClusterRef};
use crate::deployment::rules::{self, Note};
use crate::error::OperatorError;
use crate::settings::ResourceSettings;

/// The finalizer through which the operator removes a deleted resource's
/// cluster and HA data before the resource goes.
pub const FINALIZER: &str = "flinkdeployments.riffle.dev/finalizer";

/// The controller of the FlinkDeployments in `scope`.
pub(super) fn controller(ctx: &Arc<Context>, scope: &Option<String>) -> Results {
    let (deployments, pods) = ctx.clusters.watch(ctx, scope);
    // A JobManager pod's change (a crash loop starting, a restart) wakes
    // the FlinkDeployment of its cluster, which has the cluster's name.
    let owner_of = |pod: Pod| {
        let ns = pod.namespace().unwrap_or_default();
        cluster::cluster_of(&pod).map(|id| ObjectRef::<FlinkDeployment>::new(id).within(&ns))
    };
    let watch = super::watch::<FlinkDeployment>(ctx, scope)
        .owns_stream(deployments)
        .watches_stream(pods, owner_of);
    run_kind(ctx, watch, FINALIZER, apply, cleanup)
}

fn apply(obj: &FlinkDeployment, ctx: &Context) -> Result<Requeue, OperatorError> {
    let name = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let user_config = io::cluster_config(&name, &ns, &obj.spec, &ctx.defaults);
    let settings = ResourceSettings::resolve(&user_config)
        .or_else(|_| ResourceSettings::resolve(&ctx.defaults))?;
    let mut scaling = autoscaling::prepare(ctx, obj, &settings.autoscaler)?;
    let spec = scaling.spec.clone();
    let config = if scaling.overrides_spec() {
        io::cluster_config(&name, &ns, &spec, &ctx.defaults)
    } else {
        user_config
    };
    let target = Target {
        name: &name,
        namespace: &ns,
    };
    let valid = rules::Validity::lazy(|| {
        ctx.check_spec(&format!("FlinkDeployment {ns}/{name}"), &spec, || {
            cluster_plan::plan(target, &spec, &ctx.defaults).map(drop)
        })
    });
    let c = ClusterRef {
        kube: &kube,
        name: &name,
        timeout: ctx.settings.client_timeout,
        defaults: &ctx.defaults,
        config: &config,
    };
    let cached = ctx.clusters.state(&ns, &name);
    let (mut seen, source) = io::observe(&c, obj.status.as_ref(), cached)?;
    ctx.metrics.cluster_observed(source);
    let uid = obj.uid().unwrap_or_default();
    let resource = rules::Resource {
        uid: &uid,
        generation: obj.metadata.generation,
        spec: &spec,
        status: obj.status.as_ref(),
        valid,
    };
    let mut decision = rules::reconcile(&resource, &seen, now_ms(), &settings);
    if let Some(job) = decision.needs_last_state.clone() {
        seen.last_state = Some(io::last_state(&c, &job)?);
        decision = rules::reconcile(&resource, &seen, now_ms(), &settings);
    }
    let key = format!("{ns}/{name}");
    let mut current = obj.clone();
    if obj.status.as_ref() != Some(&decision.status) {
        let mut next = obj.clone();
        next.status = Some(decision.status.clone());
        current = write_status(ctx, next)?;
    }
    ctx.metrics.lifecycle(
        &key,
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
    if let Some(after) = decision.after {
        let lifecycle = after.lifecycle_state.unwrap_or(LifecycleState::Created);
        current.status = Some(after);
        current = write_status(ctx, current)?;
        ctx.metrics.lifecycle(&key, lifecycle);
    }
    let mut requeue = decision.requeue;
    if decision.actions.is_empty() {
        snapshots::schedule(ctx, &current, &settings.snapshots)?;
        let status = current.status.as_ref();
        if let Some(soon) =
            autoscaling::turn(ctx, obj, status, &mut scaling, &settings.autoscaler, &c)?
        {
            requeue = requeue.min(soon);
        }
    }
    succeeded(ctx, obj);
    Ok(Requeue::requeue(requeue))
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
    ctx.forget_window(&format!("{ns}/{name}"));
    ctx.forget_spec(&format!("FlinkDeployment {ns}/{name}"));
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
