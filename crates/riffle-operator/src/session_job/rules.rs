//! The decisions of a FlinkSessionJob's reconciliation: pure logic over
//! (resource, its session cluster and job as observed, now) → (status,
//! actions), with the rules of FlinkDeployments where they apply:
//!
//! - The status is written before the actions and `after` once they
//!   succeeded; each job has its own id, derived from the resource's uid and
//!   the job before it, recorded (`nextJobId`) with the state it starts from
//!   before it is submitted. A job of that id already on the session is a
//!   submission that happened: it is not repeated.
//! - The old job stops per `upgradeMode`: `savepoint` stops it with a
//!   savepoint (the shared [`crate::upgrade`] steps); `last-state` and
//!   `stateless` cancel it. Last-state jobs are submitted with
//!   `RETAIN_ON_CANCELLATION`, so the latest checkpoint outlives the cancel,
//!   and the session's JobManager (which keeps running) names it.
//! - Nothing is done while the session cluster is not ready.

use std::time::Duration;

use serde_json::Value;

use crate::crd::common::{
    JobState, JobStatus, JobStatusState, LifecycleState, ReconciliationState, UpgradeMode,
};
use crate::crd::session_job::{FlinkSessionJobSpec, FlinkSessionJobStatus};
use crate::deployment::rules::{JobSeen, Note, SavepointSeen, next_job_id};
use crate::settings::ResourceSettings;
use crate::spec_diff::{
    self, DiffType, ReconciledMetadata, ReconciledSpec, job_state, upgrade_mode,
};
use crate::upgrade::{self, SavepointStep};

/// The resource as the rules see it.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    /// `metadata.uid`.
    pub uid: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The spec.
    pub spec: &'a FlinkSessionJobSpec,
    /// The status, as last written.
    pub status: Option<&'a FlinkSessionJobStatus>,
    /// Whether the spec can be submitted: `Err` names what is wrong.
    pub valid: Result<(), String>,
}

/// The session cluster the job runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Session {
    /// Its REST API answers.
    Ready,
    /// It is not ready (missing, deploying, upgrading), for this reason.
    #[default]
    NotReady,
}

/// What the operator observed.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The session cluster.
    pub session: Session,
    /// Why the session is not ready (for the status).
    pub session_problem: Option<String>,
    /// The job of `status.jobStatus.jobId` on the session.
    pub job: JobSeen,
    /// Whether the job of `nextJobId` is on the session already.
    pub next_submitted: bool,
    /// The pending upgrade savepoint, when one is recorded.
    pub savepoint: SavepointSeen,
    /// The job's latest completed checkpoint, as its JobManager reports it.
    pub last_checkpoint: Option<String>,
}

/// Something the operator does on the session cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Submit the spec's job under `job_id`, starting from `restore_from`.
    Submit {
        /// The spec, as JSON.
        spec: Value,
        /// The job id.
        job_id: String,
        /// The snapshot it starts from.
        restore_from: Option<String>,
    },
    /// Cancel the job.
    Cancel {
        /// The job.
        job_id: String,
    },
    /// Stop the job with a savepoint, under this trigger id.
    StopWithSavepoint {
        /// The job.
        job_id: String,
        /// The trigger id (recorded first).
        trigger_id: String,
    },
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status to write before the actions.
    pub status: FlinkSessionJobStatus,
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// The status to write once every action succeeded.
    pub after: Option<FlinkSessionJobStatus>,
    /// Events.
    pub notes: Vec<Note>,
    /// When to look again.
    pub requeue: Duration,
}

fn terminal(state: &str) -> bool {
    matches!(state, "FINISHED" | "CANCELED" | "FAILED")
}

/// Flink's lifecycle of a session job.
pub fn lifecycle(st: &FlinkSessionJobStatus) -> LifecycleState {
    let rec = st.reconciliation_status.clone().unwrap_or_default();
    let Some(last) = ReconciledSpec::parse(rec.last_reconciled_spec.as_deref())
        .ok()
        .flatten()
    else {
        return if st.error.is_some() {
            LifecycleState::Failed
        } else {
            LifecycleState::Created
        };
    };
    if rec.state == Some(ReconciliationState::Upgrading) {
        return LifecycleState::Upgrading;
    }
    if job_state(&last.spec) == JobState::Suspended {
        return LifecycleState::Suspended;
    }
    match st.job_status.as_ref().and_then(|j| j.state) {
        Some(JobStatusState::Failed) => LifecycleState::Failed,
        _ if rec.last_stable_spec.is_some() && rec.last_stable_spec == rec.last_reconciled_spec => {
            LifecycleState::Stable
        }
        _ => LifecycleState::Deployed,
    }
}

/// Decides what to do about one FlinkSessionJob.
pub fn reconcile(r: &Resource<'_>, seen: &Observed, now: i64, s: &ResourceSettings) -> Decision {
    let mut d = Decider {
        r,
        seen,
        now,
        s,
        st: r.status.cloned().unwrap_or_default(),
        spec_json: serde_json::to_value(r.spec).unwrap_or(Value::Null),
        actions: Vec::new(),
        after: None,
        notes: Vec::new(),
    };
    d.observe();
    let requeue = d.decide();
    d.st.lifecycle_state = Some(lifecycle(&d.st));
    if let Some(after) = d.after.as_mut() {
        after.lifecycle_state = Some(lifecycle(after));
    }
    Decision {
        status: d.st,
        actions: d.actions,
        after: d.after,
        notes: d.notes,
        requeue,
    }
}

struct Decider<'a> {
    r: &'a Resource<'a>,
    seen: &'a Observed,
    now: i64,
    s: &'a ResourceSettings,
    st: FlinkSessionJobStatus,
    spec_json: Value,
    actions: Vec<Action>,
    after: Option<FlinkSessionJobStatus>,
    notes: Vec<Note>,
}

impl Decider<'_> {
    fn note(&mut self, warning: bool, reason: &'static str, message: impl Into<String>) {
        self.notes.push(Note {
            warning,
            reason,
            message: message.into(),
        });
    }

    fn job(&mut self) -> &mut JobStatus {
        self.st.job_status.get_or_insert_with(Default::default)
    }

    fn current(&self) -> Option<String> {
        self.st.job_status.as_ref().and_then(|j| j.job_id.clone())
    }

    fn next(&self) -> Option<String> {
        self.st
            .reconciliation_status
            .as_ref()
            .and_then(|r| r.next_job_id.clone())
    }

    fn observe(&mut self) {
        self.st.observed_generation = self.r.generation;
        if let JobSeen::Seen(j) = &self.seen.job {
            let job = self.job();
            job.job_name = Some(j.name.clone());
            job.state = serde_json::from_value(Value::String(j.state.clone())).ok();
            job.start_time = Some(j.start_time.to_string());
            job.update_time = Some(j.last_modification.to_string());
        }
    }

    fn decide(&mut self) -> Duration {
        let rec = self.st.reconciliation_status.clone().unwrap_or_default();
        let last = match ReconciledSpec::parse(rec.last_reconciled_spec.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                self.st.error = Some(e);
                return self.s.reconcile_interval;
            }
        };
        let Some(last) = last else {
            if let Err(e) = self.r.valid.clone() {
                return self.invalid(e);
            }
            if job_state(&self.spec_json) == JobState::Suspended {
                return self.s.reconcile_interval;
            }
            let initial = self
                .r
                .spec
                .job
                .as_ref()
                .and_then(|j| j.initial_savepoint_path.clone());
            self.job().upgrade_savepoint_path = initial;
            self.note(false, "Submit", "Submitting the job to the session cluster");
            let last = self.reconciled(self.spec_json.clone(), true, None);
            return self.transition(&last);
        };
        let diff = spec_diff::diff(&last.spec, &self.spec_json);
        let upgrading = rec.state == Some(ReconciliationState::Upgrading);
        let last = if diff != DiffType::Ignore {
            match self.r.valid.clone() {
                Ok(()) => {
                    let mode = match diff {
                        DiffType::Scale
                            if upgrade_mode(&self.spec_json) != UpgradeMode::Savepoint =>
                        {
                            Some(UpgradeMode::LastState)
                        }
                        _ => None,
                    };
                    if job_state(&last.spec) == JobState::Suspended
                        && mode.unwrap_or_else(|| upgrade_mode(&self.spec_json))
                            == UpgradeMode::Stateless
                    {
                        self.job().upgrade_savepoint_path = None;
                    }
                    self.note(false, "SpecChanged", "Spec changed: upgrading the job");
                    self.st.error = None;
                    self.reconciled(self.spec_json.clone(), false, mode)
                }
                Err(e) => {
                    if !upgrading {
                        return self.invalid(e);
                    }
                    last
                }
            }
        } else {
            last
        };
        let upgrading = self.st.reconciliation_status.as_ref().and_then(|r| r.state)
            == Some(ReconciliationState::Upgrading);
        if upgrading {
            return self.transition(&last);
        }
        self.steady(&last)
    }

    fn invalid(&mut self, e: String) -> Duration {
        if self.st.error.as_deref() != Some(e.as_str()) {
            self.note(true, "ValidationError", e.clone());
        }
        self.st.error = Some(e);
        self.s.reconcile_interval
    }

    fn reconciled(
        &mut self,
        spec: Value,
        first: bool,
        mode: Option<UpgradeMode>,
    ) -> ReconciledSpec {
        let last = ReconciledSpec {
            spec,
            resource_metadata: ReconciledMetadata {
                api_version: crate::deployment::rules::API_VERSION.into(),
                first_deployment: first,
                upgrade_mode: mode,
                savepoint_redeploy: false,
            },
        };
        let now = self.now;
        let rec = self
            .st
            .reconciliation_status
            .get_or_insert_with(Default::default);
        rec.last_reconciled_spec = Some(last.to_text());
        rec.state = Some(ReconciliationState::Upgrading);
        rec.reconciliation_timestamp = Some(now);
        last
    }

    fn steady(&mut self, last: &ReconciledSpec) -> Duration {
        if job_state(&last.spec) == JobState::Suspended {
            return self.s.reconcile_interval;
        }
        match &self.seen.job {
            JobSeen::Seen(j) if j.state == "RUNNING" => {
                let rec = self
                    .st
                    .reconciliation_status
                    .get_or_insert_with(Default::default);
                if rec.last_stable_spec != rec.last_reconciled_spec {
                    rec.last_stable_spec = rec.last_reconciled_spec.clone();
                    self.note(false, "Stable", "The job is running");
                }
                self.s.reconcile_interval
            }
            JobSeen::Absent if self.seen.session == Session::Ready => {
                // The session lost the job (it was redeployed without it):
                // submit it again from its latest known state.
                self.note(
                    true,
                    "RecoverJob",
                    "The job is not on the session cluster: submitting it again",
                );
                let mode = (upgrade_mode(&last.spec) != UpgradeMode::Stateless)
                    .then_some(UpgradeMode::LastState);
                let again = self.reconciled(last.spec.clone(), false, mode);
                self.transition(&again)
            }
            _ => self.s.progress_interval,
        }
    }

    fn transition(&mut self, last: &ReconciledSpec) -> Duration {
        if self.seen.session != Session::Ready {
            self.st.error = self.seen.session_problem.clone();
            return self.s.progress_interval;
        }
        let mode = last
            .resource_metadata
            .upgrade_mode
            .unwrap_or_else(|| upgrade_mode(&last.spec));
        let suspended = job_state(&last.spec) == JobState::Suspended;
        if let Some(next) = self.next() {
            if self.seen.next_submitted {
                self.st = self.submitted(self.st.clone());
                return self.s.progress_interval;
            }
            if suspended {
                self.finish_suspend();
                return self.s.reconcile_interval;
            }
            let restore_from = self
                .st
                .job_status
                .as_ref()
                .and_then(|j| j.upgrade_savepoint_path.clone());
            self.note(
                false,
                "Submitting",
                match &restore_from {
                    Some(p) => format!("Submitting job {next} from {p}"),
                    None => format!("Submitting job {next} without state"),
                },
            );
            self.actions.push(Action::Submit {
                spec: last.spec.clone(),
                job_id: next,
                restore_from,
            });
            self.after = Some(self.submitted(self.st.clone()));
            return self.s.progress_interval;
        }
        let current = self.current();
        let old_state = match &self.seen.job {
            JobSeen::Seen(j) => Some(j.state.clone()),
            _ => None,
        };
        // A pending upgrade savepoint is followed to its end even once the
        // job stopped (a completed stop-with-savepoint ends the job).
        let pending = self
            .st
            .job_status
            .as_ref()
            .and_then(|j| j.savepoint_info.as_ref())
            .is_some_and(|i| i.trigger_id.is_some());
        match (&current, old_state.as_deref()) {
            (Some(job), Some(state))
                if !terminal(state) || (pending && mode == UpgradeMode::Savepoint) =>
            {
                let job = job.clone();
                match mode {
                    UpgradeMode::Savepoint => self.savepoint_stop(&job, state == "RUNNING"),
                    _ if state == "CANCELLING" => {}
                    _ => {
                        self.note(false, "Suspending", format!("Cancelling job {job}"));
                        self.actions.push(Action::Cancel { job_id: job });
                    }
                }
                self.s.progress_interval
            }
            _ => {
                // The old job is gone or ended (or there is none): fix what
                // the next one starts from, then submit it.
                let path = match (mode, &current) {
                    (UpgradeMode::Stateless, _) => None,
                    (_, None) => self
                        .st
                        .job_status
                        .as_ref()
                        .and_then(|j| j.upgrade_savepoint_path.clone()),
                    (_, Some(_)) => self.seen.last_checkpoint.clone().or_else(|| {
                        self.st
                            .job_status
                            .as_ref()
                            .and_then(|j| j.upgrade_savepoint_path.clone())
                    }),
                };
                let id = next_job_id(self.r.uid, current.as_deref(), self.r.generation);
                self.job().upgrade_savepoint_path = path;
                self.st
                    .reconciliation_status
                    .get_or_insert_with(Default::default)
                    .next_job_id = Some(id);
                self.transition(last)
            }
        }
    }

    fn savepoint_stop(&mut self, job_id: &str, running: bool) {
        let step = upgrade::savepoint_step(
            self.st.job_status.as_ref(),
            &self.seen.savepoint,
            running,
            self.now,
            self.s.savepoint_timeout_ms,
        );
        let now = self.now;
        match step.clone() {
            SavepointStep::Trigger(trigger_id) => {
                upgrade::record_trigger(self.job(), &trigger_id, now);
                self.note(
                    false,
                    "SavepointTriggered",
                    format!("Stopping job {job_id} with a savepoint"),
                );
                self.actions.push(Action::StopWithSavepoint {
                    job_id: job_id.to_string(),
                    trigger_id,
                });
            }
            SavepointStep::Resend(trigger_id) => self.actions.push(Action::StopWithSavepoint {
                job_id: job_id.to_string(),
                trigger_id,
            }),
            SavepointStep::Wait => {}
            SavepointStep::Completed(location) => {
                let id = next_job_id(self.r.uid, Some(job_id), self.r.generation);
                upgrade::record_completed(self.job(), &location, now);
                self.st
                    .reconciliation_status
                    .get_or_insert_with(Default::default)
                    .next_job_id = Some(id);
                self.note(
                    false,
                    "SavepointCompleted",
                    format!("Upgrade savepoint completed: {location}"),
                );
            }
            SavepointStep::Failed(_) | SavepointStep::NotRunning if self.s.last_state_fallback => {
                upgrade::clear_trigger(self.job());
                let why = match &step {
                    SavepointStep::Failed(r) => r.clone(),
                    _ => "the job is not running".to_string(),
                };
                self.note(
                    true,
                    "SavepointFailed",
                    format!(
                        "Job {job_id}: {why}; cancelling it and going on from its latest checkpoint"
                    ),
                );
                self.actions.push(Action::Cancel {
                    job_id: job_id.to_string(),
                });
            }
            SavepointStep::Failed(reason) => {
                upgrade::clear_trigger(self.job());
                let e =
                    format!("Job {job_id}: the upgrade savepoint failed: {reason}; tried again");
                self.note(true, "SavepointFailed", e.clone());
                self.st.error = Some(e);
            }
            SavepointStep::NotRunning => {}
        }
    }

    fn finish_suspend(&mut self) {
        let now = self.now;
        let rec = self
            .st
            .reconciliation_status
            .get_or_insert_with(Default::default);
        rec.state = Some(ReconciliationState::Deployed);
        rec.reconciliation_timestamp = Some(now);
        self.job().state = Some(JobStatusState::Suspended);
        self.note(
            false,
            "Suspended",
            "The job is suspended; its state is kept for resuming",
        );
    }

    fn submitted(&self, mut st: FlinkSessionJobStatus) -> FlinkSessionJobStatus {
        st.error = None;
        let rec = st
            .reconciliation_status
            .get_or_insert_with(Default::default);
        let next = rec.next_job_id.take();
        rec.state = Some(ReconciliationState::Deployed);
        rec.reconciliation_timestamp = Some(self.now);
        if let Some(id) = next {
            let job = st.job_status.get_or_insert_with(Default::default);
            job.job_id = Some(id);
            job.state = Some(JobStatusState::Reconciling);
        }
        st
    }
}
