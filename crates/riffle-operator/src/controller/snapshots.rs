//! Snapshots on the watch: the FlinkStateSnapshot controller (the rules of
//! [`crate::snapshot::rules`]), and the owner side that FlinkDeployments and
//! FlinkSessionJobs run once their own reconciliation left their job
//! running (the plan of [`crate::snapshot::schedule`]).

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;

use super::{Context, Managed, Results, now_ms, publish, run_kind, succeeded, write_status};
use crate::crd::common::{
    JobSpec, JobStatus, JobStatusState, ReconciliationState, ReconciliationStatus,
};
use crate::crd::snapshot::{JobKind, SnapshotState};
use crate::crd::{FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot};
use crate::deployment::rules::{Note, SavepointSeen};
use crate::error::OperatorError;
use crate::rest::RestError;
use crate::settings::ResourceSettings;
use crate::snapshot::io;
use crate::snapshot::rules::{self, Snapshot, SnapshotSettings};
use crate::snapshot::schedule::{self, Nonces, Owner, ScheduleSettings};
use crate::spec_diff::ReconciledSpec;

/// The finalizer through which a savepoint's files are disposed of with
/// its resource (`spec.savepoint.disposeOnDelete`).
pub const FINALIZER: &str = "flinkstatesnapshots.riffle.dev/finalizer";

/// The controller of the FlinkStateSnapshots in `scope`.
pub(super) fn controller(ctx: &Arc<Context>, scope: &Option<String>) -> Results {
    let watch = super::watch::<FlinkStateSnapshot>(ctx, scope);
    run_kind(ctx, watch, FINALIZER, apply, cleanup)
}

fn requeue(after: Option<std::time::Duration>) -> Requeue {
    after.map_or_else(Requeue::await_change, Requeue::requeue)
}

fn apply(obj: &FlinkStateSnapshot, ctx: &Context) -> Result<Requeue, OperatorError> {
    let state = obj.status.as_ref().and_then(|s| s.state);
    if matches!(
        state,
        Some(SnapshotState::Completed | SnapshotState::Abandoned)
    ) {
        return Ok(Requeue::await_change());
    }
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let found = io::find_job(&kube, &obj.spec, &ctx.defaults, ctx.settings.client_timeout)?;
    let resource = ResourceSettings::resolve(&found.config)
        .or_else(|_| ResourceSettings::resolve(&ctx.defaults))?;
    let settings = SnapshotSettings {
        grace_ms: if obj.spec.savepoint.is_some() {
            resource.savepoint_grace_ms
        } else {
            resource.checkpoint_grace_ms
        },
        progress_interval: resource.progress_interval,
    };
    let seen = match state {
        Some(SnapshotState::TriggerPending | SnapshotState::InProgress) => io::observe(
            &found,
            &obj.spec,
            obj.status.as_ref().and_then(|s| s.trigger_id.as_deref()),
        ),
        _ => SavepointSeen::NotAsked,
    };
    let uid = obj.uid().unwrap_or_default();
    let r = Snapshot {
        uid: &uid,
        spec: &obj.spec,
        status: obj.status.as_ref(),
    };
    let decision = rules::reconcile(&r, &found.target, &seen, now_ms(), &settings);
    let mut current = obj.clone();
    if obj.status.as_ref() != Some(&decision.status) {
        current.status = Some(decision.status.clone());
        current = write_status(ctx, current)?;
    }
    for note in &decision.notes {
        publish(ctx, obj, note);
    }
    let Some(trigger) = &decision.trigger else {
        succeeded(ctx, obj);
        return Ok(requeue(decision.requeue));
    };
    let rest = found
        .rest
        .as_ref()
        .ok_or_else(|| OperatorError::Waiting("the job's JobManager cannot be found".into()))?;
    match io::send(rest, trigger) {
        Ok(()) => {
            if let Some(after) = decision.after {
                current.status = Some(after);
                write_status(ctx, current)?;
            }
        }
        Err(e @ RestError::Refused { .. }) => {
            let r = Snapshot {
                status: Some(&decision.status),
                ..r
            };
            let failed = rules::refused(&r, &e.to_string(), now_ms(), &settings);
            current.status = Some(failed.status);
            write_status(ctx, current)?;
            for note in &failed.notes {
                publish(ctx, obj, note);
            }
            succeeded(ctx, obj);
            return Ok(requeue(failed.requeue));
        }
        Err(e) => return Err(e.into()),
    }
    succeeded(ctx, obj);
    Ok(requeue(decision.requeue))
}

/// A deleted snapshot: a completed savepoint's files go first when it asks
/// for it (`disposeOnDelete`, default true as in Flink).
fn cleanup(obj: &FlinkStateSnapshot, ctx: &Context) -> Result<Requeue, OperatorError> {
    let Some(sp) = &obj.spec.savepoint else {
        return Ok(Requeue::await_change());
    };
    let status = obj.status.clone().unwrap_or_default();
    let path = status
        .path
        .filter(|_| status.state == Some(SnapshotState::Completed));
    let (Some(path), true) = (path, sp.dispose_on_delete.unwrap_or(true)) else {
        return Ok(Requeue::await_change());
    };
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let found = io::find_job(&kube, &obj.spec, &ctx.defaults, ctx.settings.client_timeout)?;
    if let Err(e) = io::dispose(&found, &path, ctx.settings.client_timeout) {
        publish(
            ctx,
            obj,
            &Note {
                warning: true,
                reason: "DisposeFailed",
                message: format!(
                    "{e}; the resource stays until its savepoint is deleted (set \
                     spec.savepoint.disposeOnDelete to false to delete it without its files)"
                ),
            },
        );
        return Err(e);
    }
    publish(
        ctx,
        obj,
        &Note {
            warning: false,
            reason: "SavepointDisposed",
            message: format!("Savepoint {path} deleted with its resource"),
        },
    );
    Ok(Requeue::await_change())
}

/// A resource whose job is snapshotted: a FlinkDeployment or FlinkSessionJob.
pub(super) trait WithJob: Managed {
    /// Its kind.
    const KIND: JobKind;
    /// `spec.job`.
    fn job(&self) -> Option<&JobSpec>;
    /// `status.jobStatus`.
    fn job_status(&self) -> Option<&JobStatus>;
    /// `status.reconciliationStatus`.
    fn reconciliation(&self) -> Option<&ReconciliationStatus>;
    /// Sets `status.reconciliationStatus`.
    fn set_reconciliation(&mut self, rec: ReconciliationStatus);
}

/// FlinkDeployments and FlinkSessionJobs hold their job the same way.
macro_rules! with_job {
    ($kind:ident) => {
        impl WithJob for $kind {
            const KIND: JobKind = JobKind::$kind;
            fn job(&self) -> Option<&JobSpec> {
                self.spec.job.as_ref()
            }
            fn job_status(&self) -> Option<&JobStatus> {
                self.status.as_ref().and_then(|s| s.job_status.as_ref())
            }
            fn reconciliation(&self) -> Option<&ReconciliationStatus> {
                self.status
                    .as_ref()
                    .and_then(|s| s.reconciliation_status.as_ref())
            }
            fn set_reconciliation(&mut self, rec: ReconciliationStatus) {
                self.status
                    .get_or_insert_with(Default::default)
                    .reconciliation_status = Some(rec);
            }
        }
    };
}

with_job!(FlinkDeployment);
with_job!(FlinkSessionJob);

/// Creates and deletes the snapshot resources the running job of `obj`
/// (as last written) needs, and records a nonce that was taken up.
pub(super) fn schedule<K: WithJob>(
    ctx: &Context,
    obj: &K,
    settings: &ScheduleSettings,
) -> Result<(), OperatorError> {
    let rec = obj.reconciliation().cloned().unwrap_or_default();
    let steady = !matches!(
        rec.state,
        Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack)
    );
    let running = obj.job_status().and_then(|j| j.state) == Some(JobStatusState::Running);
    let Ok(Some(reconciled)) = ReconciledSpec::parse(rec.last_reconciled_spec.as_deref()) else {
        return Ok(());
    };
    if !steady || !running {
        return Ok(());
    }
    let name = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();
    let kube = ctx.kube.in_namespace(&ns);
    let job = obj.job().cloned().unwrap_or_default();
    let owner = Owner {
        kind: K::KIND,
        name: &name,
        namespace: &ns,
        nonces: Nonces {
            savepoint: job.savepoint_trigger_nonce,
            checkpoint: job.checkpoint_trigger_nonce,
        },
        reconciled: schedule::nonces_of(&reconciled.spec),
        job_start_ms: obj
            .job_status()
            .and_then(|j| j.start_time.as_deref())
            .and_then(|t| t.parse().ok()),
    };
    let seen = io::list_for(&kube, K::KIND, &name)?;
    let plan = schedule::plan(&owner, &seen, now_ms(), settings);
    if plan.is_empty() {
        return Ok(());
    }
    for snapshot in &plan.create {
        io::create(&kube, snapshot)?;
    }
    for doomed in &plan.delete {
        io::delete(&kube, doomed)?;
    }
    for note in &plan.notes {
        publish(ctx, obj, note);
    }
    let Some(nonces) = plan.record else {
        return Ok(());
    };
    let mut next = rec.clone();
    let text = schedule::with_nonces(&reconciled, nonces).to_text();
    // Nonces are not what makes a spec stable: a stable spec stays so.
    if rec.last_stable_spec == rec.last_reconciled_spec {
        next.last_stable_spec = Some(text.clone());
    }
    next.last_reconciled_spec = Some(text);
    let mut written = obj.clone();
    written.set_reconciliation(next);
    write_status(ctx, written).map(drop)
}
