//! Which snapshots a running job's resource asks for, and which of the old
//! ones go: pure, over (the resource's nonces and schedule, the snapshot
//! resources it already has, now).
//!
//! - A changed `spec.job.savepointTriggerNonce` / `checkpointTriggerNonce`
//!   (against the last reconciled spec) asks for one manual snapshot. Its
//!   resource is named after the nonce, so an operator that stopped after
//!   creating it and before recording the nonce finds it instead of taking
//!   a second one.
//! - `kubernetes.operator.periodic.{savepoint,checkpoint}.interval` asks for
//!   one when the interval (or the cron schedule) has passed since the last
//!   periodic one, or since the job started; never while one is still
//!   pending or running.
//! - History: completed periodic and upgrade savepoints beyond
//!   `savepoint.history.max.count`, or older than `savepoint.history.max.age`,
//!   are deleted, the newest completed one always kept; so are failed or
//!   abandoned periodic ones past the age limit, and operator-triggered
//!   checkpoint resources beyond `execution.checkpointing.num-retained`.
//!   Snapshots a user created, or asked for through a nonce, are the user's.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use crate::crd::common::{SavepointFormatType, SnapshotTriggerType};
use crate::crd::snapshot::{
    CheckpointSpec, FlinkStateSnapshot, FlinkStateSnapshotSpec, JobKind, JobReference,
    SavepointSpec, SnapshotState,
};
use crate::deployment::rules::Note;
use crate::snapshot::cron::Cron;
use crate::snapshot::{LABEL_JOB_KIND, LABEL_JOB_NAME, LABEL_TRIGGER_TYPE};
use crate::spec_diff::ReconciledSpec;

/// Savepoint or checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A savepoint.
    Savepoint,
    /// A checkpoint.
    Checkpoint,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Savepoint => "savepoint",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

/// When periodic snapshots are due.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Every this many milliseconds.
    Every(i64),
    /// At the times of a cron expression.
    Cron(Cron),
}

impl Schedule {
    /// Reads `kubernetes.operator.periodic.*.interval`: a duration, or a
    /// Quartz cron expression. A zero duration turns it off (`None`).
    pub fn parse(text: &str) -> Result<Option<Schedule>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match riffle_common::config::parse::duration(text) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(Schedule::Every(
                i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            ))),
            Err(duration_error) => {
                Cron::parse(text)
                    .map(|c| Some(Schedule::Cron(c)))
                    .map_err(|cron_error| {
                        format!(
                            "'{text}' is neither a duration ({duration_error}) nor a cron \
                         expression ({cron_error})"
                        )
                    })
            }
        }
    }

    /// Whether a snapshot is due at `now`, the previous one at `last`.
    fn due(&self, last: i64, now: i64) -> bool {
        match self {
            Schedule::Every(ms) => now - last >= *ms,
            Schedule::Cron(c) => c.next_after(last).is_some_and(|t| t <= now),
        }
    }
}

/// The snapshot settings of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSettings {
    /// Periodic savepoints.
    pub periodic_savepoint: Option<Schedule>,
    /// Periodic checkpoints.
    pub periodic_checkpoint: Option<Schedule>,
    /// Clean the history up.
    pub cleanup: bool,
    /// Completed automatic savepoints kept.
    pub history_max_count: usize,
    /// Automatic savepoints older than this go.
    pub history_max_age_ms: i64,
    /// Operator-triggered checkpoint resources kept.
    pub checkpoints_retained: usize,
    /// The savepoints the operator takes are deleted with their resource.
    pub dispose_on_delete: bool,
    /// Their format.
    pub format: SavepointFormatType,
}

/// The nonces of a spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nonces {
    /// `spec.job.savepointTriggerNonce`.
    pub savepoint: Option<i64>,
    /// `spec.job.checkpointTriggerNonce`.
    pub checkpoint: Option<i64>,
}

/// The resource whose job is snapshotted.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    /// FlinkDeployment or FlinkSessionJob.
    pub kind: JobKind,
    /// Its name.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// The nonces of its spec.
    pub nonces: Nonces,
    /// The nonces of its last reconciled spec.
    pub reconciled: Nonces,
    /// When its job started, epoch milliseconds.
    pub job_start_ms: Option<i64>,
}

/// A snapshot resource of the owner, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSeen {
    /// Its name.
    pub name: String,
    /// Savepoint or checkpoint.
    pub kind: Kind,
    /// What triggered it (its label).
    pub trigger_type: SnapshotTriggerType,
    /// Its state.
    pub state: Option<SnapshotState>,
    /// When it was created, epoch milliseconds.
    pub created_ms: i64,
    /// It is being deleted (not deleted again).
    pub deleting: bool,
}

/// What the owner's snapshots need.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Snapshot resources to create.
    pub create: Vec<FlinkStateSnapshot>,
    /// Snapshot resources to delete.
    pub delete: Vec<String>,
    /// The nonces to record as reconciled once the resources exist, when
    /// they changed.
    pub record: Option<Nonces>,
    /// Events.
    pub notes: Vec<Note>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty() && self.record.is_none()
    }
}

/// The snapshots the running job of `owner` needs at `now`.
pub fn plan(owner: &Owner<'_>, seen: &[SnapshotSeen], now: i64, s: &ScheduleSettings) -> Plan {
    let mut p = Plan::default();
    let mut record = owner.reconciled;
    for (kind, asked, done, recorded) in [
        (
            Kind::Savepoint,
            owner.nonces.savepoint,
            owner.reconciled.savepoint,
            &mut record.savepoint,
        ),
        (
            Kind::Checkpoint,
            owner.nonces.checkpoint,
            owner.reconciled.checkpoint,
            &mut record.checkpoint,
        ),
    ] {
        if asked.is_some() && asked != done {
            let suffix = format!("nonce-{}", nonce_text(asked));
            p.create.push(new_snapshot(
                owner,
                kind,
                SnapshotTriggerType::Manual,
                &suffix,
                s,
            ));
            *recorded = asked;
        }
    }
    if record != owner.reconciled {
        p.record = Some(record);
    }
    for (kind, schedule) in [
        (Kind::Savepoint, &s.periodic_savepoint),
        (Kind::Checkpoint, &s.periodic_checkpoint),
    ] {
        if let Some(schedule) = schedule
            && periodic_due(owner, seen, kind, schedule, now)
        {
            p.create.push(new_snapshot(
                owner,
                kind,
                SnapshotTriggerType::Periodic,
                &now.to_string(),
                s,
            ));
        }
    }
    if s.cleanup {
        p.delete = expired(seen, now, s);
        if !p.delete.is_empty() {
            p.notes.push(Note {
                warning: false,
                reason: "SnapshotCleanup",
                message: format!(
                    "Deleting {} snapshot(s) beyond the history limits: {}",
                    p.delete.len(),
                    p.delete.join(", ")
                ),
            });
        }
    }
    for snapshot in &p.create {
        let trigger = snapshot
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TRIGGER_TYPE))
            .cloned()
            .unwrap_or_default()
            .to_lowercase();
        p.notes.push(Note {
            warning: false,
            reason: "SnapshotScheduled",
            message: format!(
                "A {trigger} {} is requested as {}",
                if snapshot.spec.savepoint.is_some() {
                    "savepoint"
                } else {
                    "checkpoint"
                },
                snapshot.metadata.name.clone().unwrap_or_default()
            ),
        });
    }
    p
}

/// The nonces of a spec as JSON (`spec.job.*TriggerNonce`).
pub fn nonces_of(spec: &serde_json::Value) -> Nonces {
    Nonces {
        savepoint: spec
            .pointer("/job/savepointTriggerNonce")
            .and_then(serde_json::Value::as_i64),
        checkpoint: spec
            .pointer("/job/checkpointTriggerNonce")
            .and_then(serde_json::Value::as_i64),
    }
}

/// A last reconciled spec (status text) with `nonces` recorded in it.
pub fn with_nonces(reconciled: &ReconciledSpec, nonces: Nonces) -> ReconciledSpec {
    let mut r = reconciled.clone();
    if let Some(job) = r
        .spec
        .get_mut("job")
        .and_then(serde_json::Value::as_object_mut)
    {
        for (key, value) in [
            ("savepointTriggerNonce", nonces.savepoint),
            ("checkpointTriggerNonce", nonces.checkpoint),
        ] {
            match value {
                Some(n) => {
                    job.insert(key.to_string(), n.into());
                }
                None => {
                    job.remove(key);
                }
            }
        }
    }
    r
}

fn nonce_text(n: Option<i64>) -> String {
    // Names take [a-z0-9-]; a negative nonce keeps its sign as a letter.
    match n {
        Some(n) if n < 0 => format!("m{}", n.unsigned_abs()),
        Some(n) => n.to_string(),
        None => String::new(),
    }
}

fn periodic_due(
    owner: &Owner<'_>,
    seen: &[SnapshotSeen],
    kind: Kind,
    schedule: &Schedule,
    now: i64,
) -> bool {
    let periodic = || {
        seen.iter()
            .filter(move |x| x.kind == kind && x.trigger_type == SnapshotTriggerType::Periodic)
    };
    let busy = periodic().any(|x| {
        matches!(
            x.state,
            None | Some(SnapshotState::TriggerPending | SnapshotState::InProgress)
        )
    });
    if busy {
        return false;
    }
    let last = periodic()
        .map(|x| x.created_ms)
        .max()
        .or(owner.job_start_ms)
        .unwrap_or(now);
    schedule.due(last, now)
}

/// The name of a snapshot resource of `owner`: `<owner>-<kind>-<trigger>-<suffix>`,
/// within the 253 characters a name may have.
fn snapshot_name(owner: &str, kind: Kind, trigger: SnapshotTriggerType, suffix: &str) -> String {
    let trigger = match trigger {
        SnapshotTriggerType::Manual => "manual",
        SnapshotTriggerType::Periodic => "periodic",
        SnapshotTriggerType::Upgrade => "upgrade",
        SnapshotTriggerType::Unknown => "unknown",
    };
    let tail = format!("-{}-{trigger}-{suffix}", kind.word());
    let room = 253usize.saturating_sub(tail.len());
    let head: String = owner.chars().take(room).collect();
    format!("{head}{tail}")
}

/// The labels that tie a snapshot resource to its owner.
pub fn owner_labels(kind: JobKind, name: &str) -> BTreeMap<String, String> {
    let kind = match kind {
        JobKind::FlinkDeployment => "FlinkDeployment",
        JobKind::FlinkSessionJob => "FlinkSessionJob",
    };
    BTreeMap::from([
        (LABEL_JOB_KIND.to_string(), kind.to_string()),
        (LABEL_JOB_NAME.to_string(), name.to_string()),
    ])
}

/// A new snapshot resource of `owner`.
pub fn new_snapshot(
    owner: &Owner<'_>,
    kind: Kind,
    trigger: SnapshotTriggerType,
    suffix: &str,
    s: &ScheduleSettings,
) -> FlinkStateSnapshot {
    let mut labels = owner_labels(owner.kind, owner.name);
    labels.insert(
        LABEL_TRIGGER_TYPE.to_string(),
        serde_json::to_value(trigger)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    );
    let spec = FlinkStateSnapshotSpec {
        job_reference: Some(JobReference {
            kind: Some(owner.kind),
            name: Some(owner.name.to_string()),
        }),
        savepoint: (kind == Kind::Savepoint).then(|| SavepointSpec {
            path: None,
            format_type: Some(s.format),
            // A savepoint the user asked for is the user's to dispose of.
            dispose_on_delete: Some(trigger != SnapshotTriggerType::Manual && s.dispose_on_delete),
            already_exists: None,
        }),
        checkpoint: (kind == Kind::Checkpoint).then(CheckpointSpec::default),
        backoff_limit: None,
    };
    FlinkStateSnapshot {
        metadata: ObjectMeta {
            name: Some(snapshot_name(owner.name, kind, trigger, suffix)),
            namespace: Some(owner.namespace.to_string()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// The snapshot resources beyond the history limits.
fn expired(seen: &[SnapshotSeen], now: i64, s: &ScheduleSettings) -> Vec<String> {
    let automatic = |x: &&SnapshotSeen| {
        matches!(
            x.trigger_type,
            SnapshotTriggerType::Periodic | SnapshotTriggerType::Upgrade
        )
    };
    let mut out: Vec<&SnapshotSeen> = Vec::new();
    let mut completed: Vec<&SnapshotSeen> = seen
        .iter()
        .filter(automatic)
        .filter(|x| x.kind == Kind::Savepoint && x.state == Some(SnapshotState::Completed))
        .collect();
    completed.sort_by_key(|x| std::cmp::Reverse(x.created_ms));
    for (i, x) in completed.iter().enumerate() {
        let too_many = i >= s.history_max_count.max(1);
        let too_old = i > 0 && now - x.created_ms > s.history_max_age_ms;
        if too_many || too_old {
            out.push(*x);
        }
    }
    out.extend(seen.iter().filter(automatic).filter(|x| {
        matches!(
            x.state,
            Some(SnapshotState::Failed | SnapshotState::Abandoned)
        ) && now - x.created_ms > s.history_max_age_ms
    }));
    let mut checkpoints: Vec<&SnapshotSeen> = seen
        .iter()
        .filter(|x| {
            x.kind == Kind::Checkpoint
                && x.trigger_type == SnapshotTriggerType::Periodic
                && matches!(
                    x.state,
                    Some(
                        SnapshotState::Completed | SnapshotState::Failed | SnapshotState::Abandoned
                    )
                )
        })
        .collect();
    checkpoints.sort_by_key(|x| std::cmp::Reverse(x.created_ms));
    out.extend(
        checkpoints
            .iter()
            .skip(s.checkpoints_retained.max(1))
            .copied(),
    );
    out.iter()
        .filter(|x| !x.deleting)
        .map(|x| x.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScheduleSettings {
        ScheduleSettings {
            periodic_savepoint: None,
            periodic_checkpoint: None,
            cleanup: true,
            history_max_count: 2,
            history_max_age_ms: 3_600_000,
            checkpoints_retained: 1,
            dispose_on_delete: true,
            format: SavepointFormatType::Canonical,
        }
    }

    fn owner(nonces: Nonces, reconciled: Nonces) -> Owner<'static> {
        Owner {
            kind: JobKind::FlinkDeployment,
            name: "orders",
            namespace: "jobs",
            nonces,
            reconciled,
            job_start_ms: Some(1_000),
        }
    }

    fn seen(
        name: &str,
        trigger: SnapshotTriggerType,
        state: SnapshotState,
        at: i64,
    ) -> SnapshotSeen {
        SnapshotSeen {
            name: name.into(),
            kind: Kind::Savepoint,
            trigger_type: trigger,
            state: Some(state),
            created_ms: at,
            deleting: false,
        }
    }

    fn names(p: &Plan) -> Vec<String> {
        p.create
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect()
    }

    #[test]
    fn a_changed_nonce_asks_for_one_snapshot_named_after_it() {
        let was = Nonces {
            savepoint: Some(1),
            checkpoint: None,
        };
        let now = Nonces {
            savepoint: Some(2),
            checkpoint: Some(-7),
        };
        let p = plan(&owner(now, was), &[], 5_000, &settings());
        assert_eq!(
            names(&p),
            [
                "orders-savepoint-manual-nonce-2",
                "orders-checkpoint-manual-nonce-m7"
            ]
        );
        assert_eq!(p.record, Some(now));
        // The user's savepoint is not disposed of with its resource.
        assert_eq!(
            p.create[0]
                .spec
                .savepoint
                .as_ref()
                .and_then(|s| s.dispose_on_delete),
            Some(false)
        );
        // Once recorded, nothing more; a nonce set back to none asks for nothing.
        assert!(plan(&owner(now, now), &[], 5_000, &settings()).is_empty());
        assert!(plan(&owner(Nonces::default(), now), &[], 5_000, &settings()).is_empty());
    }

    #[test]
    fn periodic_savepoints_follow_the_interval_one_at_a_time() {
        let s = ScheduleSettings {
            periodic_savepoint: Schedule::parse("10 s").ok().flatten(),
            ..settings()
        };
        let o = owner(Nonces::default(), Nonces::default());
        // Counted from the job's start.
        assert!(plan(&o, &[], 10_999, &s).create.is_empty());
        assert_eq!(
            names(&plan(&o, &[], 11_000, &s)),
            ["orders-savepoint-periodic-11000"]
        );
        // Not while the previous one runs; then from when it was asked for.
        let running = seen(
            "a",
            SnapshotTriggerType::Periodic,
            SnapshotState::InProgress,
            11_000,
        );
        assert!(
            plan(&o, std::slice::from_ref(&running), 30_000, &s)
                .create
                .is_empty()
        );
        let done = SnapshotSeen {
            state: Some(SnapshotState::Completed),
            ..running
        };
        assert!(
            plan(&o, std::slice::from_ref(&done), 20_999, &s)
                .create
                .is_empty()
        );
        assert_eq!(plan(&o, &[done], 21_000, &s).create.len(), 1);
    }

    #[test]
    fn history_keeps_the_newest_within_count_and_age_and_never_the_users() {
        let s = settings();
        let hour = 3_600_000;
        let now = 10 * hour;
        let list = vec![
            seen(
                "p1",
                SnapshotTriggerType::Periodic,
                SnapshotState::Completed,
                now - 1000,
            ),
            seen(
                "u1",
                SnapshotTriggerType::Upgrade,
                SnapshotState::Completed,
                now - 2000,
            ),
            seen(
                "p2",
                SnapshotTriggerType::Periodic,
                SnapshotState::Completed,
                now - 3000,
            ),
            seen(
                "m1",
                SnapshotTriggerType::Manual,
                SnapshotState::Completed,
                now - 4000,
            ),
            seen(
                "f1",
                SnapshotTriggerType::Periodic,
                SnapshotState::Failed,
                now - 2 * hour,
            ),
            seen(
                "f2",
                SnapshotTriggerType::Periodic,
                SnapshotState::Failed,
                now - 1000,
            ),
        ];
        let p = plan(&owner(Nonces::default(), Nonces::default()), &list, now, &s);
        assert_eq!(p.delete, ["p2", "f1"]);
        // By age: all but the newest completed one.
        let old = vec![
            seen(
                "p1",
                SnapshotTriggerType::Periodic,
                SnapshotState::Completed,
                1000,
            ),
            seen(
                "p2",
                SnapshotTriggerType::Periodic,
                SnapshotState::Completed,
                500,
            ),
        ];
        let p = plan(&owner(Nonces::default(), Nonces::default()), &old, now, &s);
        assert_eq!(p.delete, ["p2"]);
        // One already being deleted is not deleted again.
        let mut going = old.clone();
        going[1].deleting = true;
        let p = plan(
            &owner(Nonces::default(), Nonces::default()),
            &going,
            now,
            &s,
        );
        assert!(p.delete.is_empty(), "{:?}", p.delete);
        let off = ScheduleSettings {
            cleanup: false,
            ..s
        };
        assert!(
            plan(
                &owner(Nonces::default(), Nonces::default()),
                &list,
                now,
                &off
            )
            .delete
            .is_empty()
        );
    }

    #[test]
    fn schedules_read_durations_and_cron_and_name_what_is_wrong() {
        assert_eq!(Schedule::parse("1 min"), Ok(Some(Schedule::Every(60_000))));
        assert_eq!(Schedule::parse("0"), Ok(None));
        assert!(matches!(
            Schedule::parse("0 0/5 * * * ?"),
            Ok(Some(Schedule::Cron(_)))
        ));
        let e = Schedule::parse("every hour").err().unwrap_or_default();
        assert!(
            e.contains("neither a duration") && e.contains("cron"),
            "{e}"
        );
    }
}
