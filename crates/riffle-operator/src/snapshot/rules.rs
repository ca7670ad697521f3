//! What to do about one FlinkStateSnapshot: pure, over (resource, the job it
//! is of, what the JobManager says of its trigger, now).
//!
//! The status is a write-ahead record. An attempt's trigger id is chosen
//! from the resource's uid and the attempt's number and written, with
//! `TRIGGER_PENDING`, before the JobManager is asked; the JobManager answers
//! a repeated trigger id with the same operation, so an operator that
//! stopped in between sends the same request again instead of taking a
//! second snapshot. Once the request went out the state is `IN_PROGRESS`.
//!
//! An attempt fails when the JobManager fails or refuses it, or when the
//! job does not run for a grace period while it waits to be triggered. A
//! failed attempt is retried after 10 s, 20 s, 40 s, … (at most 10 min)
//! while `spec.backoffLimit` allows (-1, the default, always does). A
//! snapshot whose job went away while it ran (the JobManager no longer
//! knows the trigger) is `ABANDONED`, as in Flink.

use std::time::Duration;

use riffle_rpc::JobId;

use crate::crd::common::SavepointFormatType;
use crate::crd::snapshot::{FlinkStateSnapshotSpec, FlinkStateSnapshotStatus, SnapshotState};
use crate::deployment::rules::{Note, SavepointSeen};
use crate::time::{parse_rfc3339, rfc3339};

/// The first pause before a failed attempt is retried; it doubles after each.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The resource as the rules see it.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    /// `metadata.uid` (trigger ids derive from it).
    pub uid: &'a str,
    /// The spec.
    pub spec: &'a FlinkStateSnapshotSpec,
    /// The status, as last written.
    pub status: Option<&'a FlinkStateSnapshotStatus>,
}

/// The job a snapshot is of, as the operator found it.
#[derive(Debug, Clone, PartialEq)]
pub enum JobTarget {
    /// It runs under this id.
    Running {
        /// The job's id.
        job_id: String,
    },
    /// It does not run now, for this reason.
    NotRunning(String),
}

/// What a snapshot is.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotKind {
    /// A savepoint into this directory (`None`: the cluster's
    /// `execution.checkpointing.savepoint-dir`), in this format.
    Savepoint {
        /// Target directory.
        directory: Option<String>,
        /// Format.
        format: SavepointFormatType,
    },
    /// A checkpoint of the job, kept by the job's retention.
    Checkpoint,
}

/// Something the operator does for a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The job.
    pub job_id: String,
    /// The trigger id (recorded first).
    pub trigger_id: String,
    /// Savepoint or checkpoint.
    pub kind: SnapshotKind,
}

/// Settings of a snapshot's reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSettings {
    /// How long a trigger may wait for its job to run before the attempt fails.
    pub grace_ms: i64,
    /// How often an attempt in progress is looked at.
    pub progress_interval: Duration,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status to write before the trigger.
    pub status: FlinkStateSnapshotStatus,
    /// The trigger to send, if any.
    pub trigger: Option<Trigger>,
    /// The status to write once the trigger was accepted.
    pub after: Option<FlinkStateSnapshotStatus>,
    /// Events.
    pub notes: Vec<Note>,
    /// When to look again; `None`: only when the resource changes.
    pub requeue: Option<Duration>,
}

/// What is wrong with a snapshot's spec, if anything.
pub fn validate(spec: &FlinkStateSnapshotSpec) -> Result<(), String> {
    let reference = spec.job_reference.as_ref();
    if reference.and_then(|r| r.kind).is_none() {
        return Err("spec.jobReference.kind must be FlinkDeployment or FlinkSessionJob".into());
    }
    if reference
        .and_then(|r| r.name.as_deref())
        .is_none_or(str::is_empty)
    {
        return Err("spec.jobReference.name must name the job's resource".into());
    }
    match (&spec.savepoint, &spec.checkpoint) {
        (Some(_), Some(_)) | (None, None) => {
            Err("exactly one of spec.savepoint and spec.checkpoint must be set".into())
        }
        (Some(sp), None)
            if sp.already_exists == Some(true) && sp.path.as_deref().is_none_or(str::is_empty) =>
        {
            Err("spec.savepoint.alreadyExists is true: spec.savepoint.path must say where".into())
        }
        _ => Ok(()),
    }
}

/// The trigger id of attempt `attempt` (0-based) of the snapshot `uid`.
pub fn trigger_id(uid: &str, attempt: i32) -> String {
    JobId::from_seed(&format!("{uid}/snapshot/{attempt}")).to_string()
}

/// The pause after `failures` failed attempts.
pub fn backoff(failures: i32) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    FIRST_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

struct Decider<'a> {
    r: &'a Snapshot<'a>,
    target: &'a JobTarget,
    seen: &'a SavepointSeen,
    now: i64,
    s: &'a SnapshotSettings,
    st: FlinkStateSnapshotStatus,
    trigger: Option<Trigger>,
    after: Option<FlinkStateSnapshotStatus>,
    notes: Vec<Note>,
    requeue: Option<Duration>,
}

/// Decides what to do about one snapshot.
pub fn reconcile(
    r: &Snapshot<'_>,
    target: &JobTarget,
    seen: &SavepointSeen,
    now: i64,
    s: &SnapshotSettings,
) -> Decision {
    let mut d = Decider::new(r, target, seen, now, s);
    d.decide();
    d.finish()
}

/// The JobManager refused the trigger that `decision` sent: the attempt failed.
pub fn refused(r: &Snapshot<'_>, reason: &str, now: i64, s: &SnapshotSettings) -> Decision {
    let target = JobTarget::NotRunning(String::new());
    let mut d = Decider::new(r, &target, &SavepointSeen::NotAsked, now, s);
    d.fail(&format!("the JobManager refused the trigger: {reason}"));
    d.finish()
}

impl<'a> Decider<'a> {
    fn new(
        r: &'a Snapshot<'a>,
        target: &'a JobTarget,
        seen: &'a SavepointSeen,
        now: i64,
        s: &'a SnapshotSettings,
    ) -> Decider<'a> {
        Decider {
            r,
            target,
            seen,
            now,
            s,
            st: r.status.cloned().unwrap_or_default(),
            trigger: None,
            after: None,
            notes: Vec::new(),
            requeue: None,
        }
    }

    fn finish(self) -> Decision {
        Decision {
            status: self.st,
            trigger: self.trigger,
            after: self.after,
            notes: self.notes,
            requeue: self.requeue,
        }
    }

    fn note(&mut self, warning: bool, reason: &'static str, message: String) {
        self.notes.push(Note {
            warning,
            reason,
            message,
        });
    }

    fn kind(&self) -> SnapshotKind {
        match &self.r.spec.savepoint {
            Some(sp) => SnapshotKind::Savepoint {
                directory: sp.path.clone().filter(|p| !p.trim().is_empty()),
                format: sp.format_type.unwrap_or(SavepointFormatType::Canonical),
            },
            None => SnapshotKind::Checkpoint,
        }
    }

    fn what(&self) -> &'static str {
        if self.r.spec.savepoint.is_some() {
            "savepoint"
        } else {
            "checkpoint"
        }
    }

    fn decide(&mut self) {
        match self.st.state {
            None => self.start(),
            Some(SnapshotState::TriggerPending) => self.pending(),
            Some(SnapshotState::InProgress) => self.in_progress(),
            Some(SnapshotState::Failed) => self.retry(),
            Some(SnapshotState::Completed | SnapshotState::Abandoned) => {}
        }
    }

    /// A new resource.
    fn start(&mut self) {
        if let Err(e) = validate(self.r.spec) {
            self.st.state = Some(SnapshotState::Failed);
            self.st.error = Some(e.clone());
            self.st.result_timestamp = Some(rfc3339(self.now));
            self.note(true, "ValidationError", e);
            return;
        }
        let existing = self
            .r
            .spec
            .savepoint
            .as_ref()
            .filter(|sp| sp.already_exists == Some(true))
            .and_then(|sp| sp.path.clone());
        if let Some(path) = existing {
            self.st.state = Some(SnapshotState::Completed);
            self.st.path = Some(path.clone());
            self.st.result_timestamp = Some(rfc3339(self.now));
            self.note(
                false,
                "SnapshotRecorded",
                format!("Savepoint {path} recorded"),
            );
            return;
        }
        self.new_attempt();
    }

    /// Records the next attempt's trigger, and sends it if the job runs.
    fn new_attempt(&mut self) {
        let attempt = self.st.failures.unwrap_or(0);
        self.st.state = Some(SnapshotState::TriggerPending);
        self.st.trigger_id = Some(trigger_id(self.r.uid, attempt));
        self.st.trigger_timestamp = Some(rfc3339(self.now));
        self.st.result_timestamp = None;
        self.send();
    }

    /// Sends the recorded trigger when the job runs, else waits out the grace period.
    fn send(&mut self) {
        let Some(trigger_id) = self.st.trigger_id.clone() else {
            return self.new_attempt();
        };
        match self.target {
            JobTarget::Running { job_id } => {
                self.trigger = Some(Trigger {
                    job_id: job_id.clone(),
                    trigger_id,
                    kind: self.kind(),
                });
                let mut after = self.st.clone();
                after.state = Some(SnapshotState::InProgress);
                self.after = Some(after);
                self.requeue = Some(self.s.progress_interval);
                let what = self.what();
                self.note(
                    false,
                    "SnapshotTriggered",
                    format!("{what} of job {job_id} triggered"),
                );
            }
            JobTarget::NotRunning(why) => {
                let since = self
                    .st
                    .trigger_timestamp
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .unwrap_or(self.now);
                if self.now - since > self.s.grace_ms {
                    let what = self.what();
                    self.fail(&format!(
                        "the job did not run within the grace period of {} s \
                         (kubernetes.operator.{what}.trigger.grace-period): {why}",
                        self.s.grace_ms / 1000
                    ));
                } else {
                    self.st.error = Some(format!("waiting for the job to run: {why}"));
                    self.requeue = Some(self.s.progress_interval);
                }
            }
        }
    }

    /// The trigger is recorded; it may or may not have reached the JobManager.
    fn pending(&mut self) {
        match self.seen {
            SavepointSeen::InProgress => {
                self.st.state = Some(SnapshotState::InProgress);
                self.requeue = Some(self.s.progress_interval);
            }
            SavepointSeen::Completed(path) => self.completed(path.clone()),
            SavepointSeen::Failed(reason) => self.fail(&reason.clone()),
            SavepointSeen::Unreachable(why) => {
                self.st.error = Some(format!("the JobManager is unreachable: {why}"));
                self.requeue = Some(self.s.progress_interval);
            }
            SavepointSeen::Unknown | SavepointSeen::NotAsked => self.send(),
        }
    }

    /// The JobManager took the trigger.
    fn in_progress(&mut self) {
        match self.seen {
            SavepointSeen::InProgress | SavepointSeen::Unreachable(_) => {
                self.requeue = Some(self.s.progress_interval);
            }
            SavepointSeen::Completed(path) => self.completed(path.clone()),
            SavepointSeen::Failed(reason) => self.fail(&reason.clone()),
            SavepointSeen::Unknown | SavepointSeen::NotAsked => {
                let why = match self.target {
                    JobTarget::NotRunning(why) => why.clone(),
                    JobTarget::Running { job_id } => format!(
                        "the job's JobManager no longer knows the trigger (the job now runs as {job_id})"
                    ),
                };
                self.st.state = Some(SnapshotState::Abandoned);
                self.st.error = Some(format!("the job went away while the snapshot ran: {why}"));
                self.st.result_timestamp = Some(rfc3339(self.now));
                let what = self.what();
                self.note(
                    true,
                    "SnapshotAbandoned",
                    format!("The {what} was abandoned: {why}"),
                );
            }
        }
    }

    fn completed(&mut self, path: String) {
        self.st.state = Some(SnapshotState::Completed);
        self.st.path = Some(path.clone());
        self.st.error = None;
        self.st.result_timestamp = Some(rfc3339(self.now));
        let what = self.what();
        self.note(
            false,
            "SnapshotCompleted",
            format!("The {what} completed: {path}"),
        );
    }

    /// The current attempt failed.
    fn fail(&mut self, reason: &str) {
        let failures = self.st.failures.unwrap_or(0).saturating_add(1);
        self.st.failures = Some(failures);
        self.st.state = Some(SnapshotState::Failed);
        self.st.error = Some(reason.to_string());
        self.st.result_timestamp = Some(rfc3339(self.now));
        self.trigger = None;
        self.after = None;
        let what = self.what();
        if self.retries_left(failures) {
            let pause = backoff(failures);
            self.requeue = Some(pause);
            self.note(
                true,
                "SnapshotFailed",
                format!(
                    "Attempt {failures} of the {what} failed ({reason}); trying again in {} s",
                    pause.as_secs()
                ),
            );
        } else {
            self.requeue = None;
            self.note(
                true,
                "SnapshotFailed",
                format!(
                    "The {what} failed after {failures} attempt(s) (spec.backoffLimit): {reason}"
                ),
            );
        }
    }

    fn retries_left(&self, failures: i32) -> bool {
        match self.r.spec.backoff_limit.unwrap_or(-1) {
            limit if limit < 0 => true,
            limit => failures <= limit,
        }
    }

    /// A failed attempt: the next one once its backoff passed, if any is left.
    fn retry(&mut self) {
        let failures = self.st.failures.unwrap_or(0);
        if failures == 0 || !self.retries_left(failures) || validate(self.r.spec).is_err() {
            return;
        }
        let failed_at = self
            .st
            .result_timestamp
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(self.now);
        let pause = i64::try_from(backoff(failures).as_millis()).unwrap_or(i64::MAX);
        let due = failed_at.saturating_add(pause);
        if self.now < due {
            self.requeue = Some(Duration::from_millis(
                u64::try_from(due - self.now).unwrap_or(0),
            ));
            return;
        }
        self.new_attempt();
    }
}
