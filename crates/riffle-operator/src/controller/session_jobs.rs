//! The FlinkSessionJob controller: the rules of [`crate::session_job`] on
//! the watch of FlinkSessionJobs.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;

use super::snapshots;
use super::{Context, Results, now_ms, publish, run_kind, succeeded, write_status};
use crate::crd::FlinkSessionJob;
use crate::deployment::rules::{JobSeen, Note};
use crate::error::OperatorError;
use crate::session_job::{io, rules};
use crate::settings::ResourceSettings;

/// The finalizer through which the operator cancels a deleted session job.
pub const FINALIZER: &str = "flinksessionjobs.riffle.dev/finalizer";

/// The controller of the FlinkSessionJobs in `scope`.
pub(super) fn controller(ctx: &Arc<Context>, scope: &Option<String>) -> Results {
    let watch = super::watch::<FlinkSessionJob>(ctx, scope);
    run_kind(ctx, watch, FINALIZER, apply, cleanup)
}

fn apply(obj: &FlinkSessionJob, ctx: &Context) -> Result<Requeue, OperatorError> {
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let settings = ResourceSettings::resolve(&io::settings_config(&obj.spec, &ctx.defaults))
        .or_else(|_| ResourceSettings::resolve(&ctx.defaults))?;
    let (seen, rest) = io::observe(
        &kube,
        &obj.spec,
        obj.status.as_ref(),
        ctx.settings.client_timeout,
    )?;
    let uid = obj.uid().unwrap_or_default();
    let resource = rules::Resource {
        uid: &uid,
        generation: obj.metadata.generation,
        spec: &obj.spec,
        status: obj.status.as_ref(),
        valid: ctx.check_spec(
            &format!("FlinkSessionJob {ns}/{}", obj.name_any()),
            &obj.spec,
            || io::validate(&obj.spec),
        ),
    };
    let decision = rules::reconcile(&resource, &seen, now_ms(), &settings);
    let mut current = obj.clone();
    if obj.status.as_ref() != Some(&decision.status) {
        let mut next = obj.clone();
        next.status = Some(decision.status.clone());
        current = write_status(ctx, next)?;
    }
    for note in &decision.notes {
        publish(ctx, obj, note);
    }
    if !decision.actions.is_empty() {
        let rest = rest
            .ok_or_else(|| OperatorError::Waiting("the session cluster is not reachable".into()))?;
        for action in &decision.actions {
            if let Err(e) = io::act(&rest, action) {
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
    }
    if let Some(after) = decision.after {
        current.status = Some(after);
        current = write_status(ctx, current)?;
    }
    if decision.actions.is_empty() {
        snapshots::schedule(ctx, &current, &settings.snapshots)?;
    }
    succeeded(ctx, obj);
    Ok(Requeue::requeue(decision.requeue))
}

/// A deleted session job: cancelled on its session before it goes.
fn cleanup(obj: &FlinkSessionJob, ctx: &Context) -> Result<Requeue, OperatorError> {
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let (seen, rest) = io::observe(
        &kube,
        &obj.spec,
        obj.status.as_ref(),
        ctx.settings.client_timeout,
    )?;
    if let (JobSeen::Seen(job), Some(rest)) = (&seen.job, &rest)
        && !matches!(job.state.as_str(), "FINISHED" | "CANCELED" | "FAILED")
    {
        io::act(
            rest,
            &rules::Action::Cancel {
                job_id: job.jid.clone(),
            },
        )?;
        publish(
            ctx,
            obj,
            &Note {
                warning: false,
                reason: "Cleanup",
                message: format!("Job {} cancelled", job.jid),
            },
        );
    }
    ctx.forget_spec(&format!("FlinkSessionJob {ns}/{}", obj.name_any()));
    Ok(Requeue::await_change())
}
