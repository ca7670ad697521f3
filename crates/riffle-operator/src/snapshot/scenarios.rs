//! Scenario tests of the FlinkStateSnapshot rules: a simulated JobManager
//! that takes triggers (idempotently, by trigger id, as Riffle's does), and
//! an operator that may stop between writing its status and acting.

use std::collections::HashMap;
use std::time::Duration;

use super::rules::{Decision, JobTarget, Snapshot, SnapshotSettings, reconcile, refused};
use crate::crd::snapshot::{
    CheckpointSpec, FlinkStateSnapshotSpec, FlinkStateSnapshotStatus, JobKind, JobReference,
    SavepointSpec, SnapshotState,
};
use crate::deployment::rules::SavepointSeen;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Running,
    Done(String),
    Failed(String),
}

struct World {
    spec: FlinkStateSnapshotSpec,
    status: Option<FlinkStateSnapshotStatus>,
    /// The job that runs, if one does.
    job: Option<String>,
    /// Operations the JobManager knows, by (job, trigger).
    jm: HashMap<(String, String), Op>,
    /// Snapshots the JobManager started, in order.
    taken: Vec<String>,
    now: i64,
    /// The JobManager refuses triggers, with this reason.
    refuse: Option<String>,
    crash_before_trigger: bool,
    crash_before_after: bool,
}

fn settings() -> SnapshotSettings {
    SnapshotSettings {
        grace_ms: 60_000,
        progress_interval: Duration::from_secs(10),
    }
}

fn savepoint_spec() -> FlinkStateSnapshotSpec {
    FlinkStateSnapshotSpec {
        job_reference: Some(JobReference {
            kind: Some(JobKind::FlinkDeployment),
            name: Some("orders".into()),
        }),
        savepoint: Some(SavepointSpec {
            path: Some("s3://bucket/savepoints".into()),
            ..SavepointSpec::default()
        }),
        checkpoint: None,
        backoff_limit: None,
    }
}

impl World {
    fn new(spec: FlinkStateSnapshotSpec) -> World {
        World {
            spec,
            status: None,
            job: Some("job-1".into()),
            jm: HashMap::new(),
            taken: Vec::new(),
            now: 1_000_000,
            refuse: None,
            crash_before_trigger: false,
            crash_before_after: false,
        }
    }

    fn state(&self) -> Option<SnapshotState> {
        self.status.as_ref().and_then(|s| s.state)
    }

    fn seen(&self) -> SavepointSeen {
        let trigger = self.status.as_ref().and_then(|s| s.trigger_id.clone());
        let (Some(job), Some(trigger)) = (self.job.clone(), trigger) else {
            return SavepointSeen::NotAsked;
        };
        match self.jm.get(&(job, trigger)) {
            None => SavepointSeen::Unknown,
            Some(Op::Running) => SavepointSeen::InProgress,
            Some(Op::Done(p)) => SavepointSeen::Completed(p.clone()),
            Some(Op::Failed(r)) => SavepointSeen::Failed(r.clone()),
        }
    }

    /// One reconciliation, carried out.
    fn step(&mut self) -> Decision {
        let target = match &self.job {
            Some(id) => JobTarget::Running { job_id: id.clone() },
            None => JobTarget::NotRunning("the job of orders is SUSPENDED".into()),
        };
        let seen = self.seen();
        let status = self.status.clone();
        let r = Snapshot {
            uid: "uid-1",
            spec: &self.spec,
            status: status.as_ref(),
        };
        let d = reconcile(&r, &target, &seen, self.now, &settings());
        self.status = Some(d.status.clone());
        if std::mem::take(&mut self.crash_before_trigger) {
            return d;
        }
        if let Some(t) = &d.trigger {
            if let Some(reason) = self.refuse.clone() {
                let r = Snapshot {
                    uid: "uid-1",
                    spec: &self.spec,
                    status: Some(&d.status),
                };
                let failed = refused(&r, &reason, self.now, &settings());
                self.status = Some(failed.status.clone());
                return failed;
            }
            let key = (t.job_id.clone(), t.trigger_id.clone());
            if !self.jm.contains_key(&key) {
                self.taken.push(t.trigger_id.clone());
                self.jm.insert(key, Op::Running);
            }
        }
        if std::mem::take(&mut self.crash_before_after) {
            return d;
        }
        if let Some(after) = &d.after {
            self.status = Some(after.clone());
        }
        d
    }

    /// The JobManager finishes what runs: `Ok` completes, `Err` fails.
    fn finish(&mut self, outcome: Result<(), &str>) {
        for (key, op) in &mut self.jm {
            if *op == Op::Running {
                *op = match outcome {
                    Ok(()) => Op::Done(format!("s3://bucket/savepoints/savepoint-{}", key.1)),
                    Err(r) => Op::Failed(r.to_string()),
                };
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += i64::try_from(d.as_millis()).unwrap_or(0);
    }
}

#[test]
fn a_savepoint_is_triggered_followed_and_completed_with_its_path() {
    let mut w = World::new(savepoint_spec());
    let d = w.step();
    assert_eq!(w.state(), Some(SnapshotState::InProgress));
    assert_eq!(
        d.status.state,
        Some(SnapshotState::TriggerPending),
        "recorded first"
    );
    assert_eq!(w.taken.len(), 1);
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::InProgress));
    w.finish(Ok(()));
    let d = w.step();
    assert_eq!(w.state(), Some(SnapshotState::Completed));
    let path = w.status.as_ref().and_then(|s| s.path.clone());
    assert_eq!(
        path,
        Some(format!("s3://bucket/savepoints/savepoint-{}", w.taken[0]))
    );
    assert_eq!(d.requeue, None, "nothing left to do");
    assert!(d.notes.iter().any(|n| n.reason == "SnapshotCompleted"));
    // Done is done: no second snapshot.
    w.step();
    assert_eq!(w.taken.len(), 1);
}

#[test]
fn an_operator_that_stops_around_the_trigger_takes_one_snapshot() {
    // Stopped after recording the trigger, before sending it.
    let mut w = World::new(savepoint_spec());
    w.crash_before_trigger = true;
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::TriggerPending));
    assert!(w.taken.is_empty());
    w.step();
    assert_eq!(w.taken.len(), 1);
    // Stopped after sending it, before recording that it went out.
    let mut w = World::new(savepoint_spec());
    w.crash_before_after = true;
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::TriggerPending));
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::InProgress));
    w.finish(Ok(()));
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::Completed));
    assert_eq!(w.taken.len(), 1, "the same trigger id: one snapshot");
}

#[test]
fn failed_attempts_are_retried_with_backoff_up_to_the_limit() {
    let mut spec = savepoint_spec();
    spec.backoff_limit = Some(1);
    let mut w = World::new(spec);
    w.step();
    w.finish(Err("disk full"));
    let d = w.step();
    assert_eq!(w.state(), Some(SnapshotState::Failed));
    assert_eq!(w.status.as_ref().and_then(|s| s.failures), Some(1));
    assert_eq!(d.requeue, Some(Duration::from_secs(10)));
    // Not before the backoff.
    w.advance(Duration::from_secs(5));
    w.step();
    assert_eq!(w.taken.len(), 1);
    w.advance(Duration::from_secs(5));
    w.step();
    assert_eq!(w.taken.len(), 2, "second attempt");
    assert_ne!(w.taken[0], w.taken[1], "under a new trigger id");
    w.finish(Err("disk full"));
    let d = w.step();
    assert_eq!(w.status.as_ref().and_then(|s| s.failures), Some(2));
    assert_eq!(d.requeue, None, "backoffLimit 1: no third attempt");
    w.advance(Duration::from_secs(3600));
    w.step();
    assert_eq!(w.taken.len(), 2);
    assert!(
        w.status
            .as_ref()
            .and_then(|s| s.error.clone())
            .is_some_and(|e| e.contains("disk full"))
    );
}

#[test]
fn the_backoff_doubles_without_a_limit() {
    let mut w = World::new(savepoint_spec());
    let mut pauses = Vec::new();
    for _ in 0..4 {
        w.step();
        w.finish(Err("no"));
        let d = w.step();
        pauses.push(d.requeue.map(|p| p.as_secs()));
        w.advance(d.requeue.unwrap_or_default());
    }
    assert_eq!(pauses, [Some(10), Some(20), Some(40), Some(80)]);
}

#[test]
fn a_job_that_does_not_run_is_waited_for_then_the_attempt_fails() {
    let mut w = World::new(savepoint_spec());
    w.job = None;
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::TriggerPending));
    assert!(w.taken.is_empty());
    w.advance(Duration::from_secs(30));
    w.job = Some("job-1".into());
    w.step();
    assert_eq!(
        w.taken.len(),
        1,
        "the job runs again within the grace period"
    );

    let mut w = World::new(savepoint_spec());
    w.job = None;
    w.step();
    w.advance(Duration::from_secs(61));
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::Failed));
    let e = w
        .status
        .as_ref()
        .and_then(|s| s.error.clone())
        .unwrap_or_default();
    assert!(
        e.contains("kubernetes.operator.savepoint.trigger.grace-period"),
        "{e}"
    );
}

#[test]
fn a_snapshot_whose_job_was_replaced_is_abandoned() {
    let mut w = World::new(savepoint_spec());
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::InProgress));
    w.job = Some("job-2".into());
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::Abandoned));
    w.step();
    assert_eq!(w.taken.len(), 1, "an abandoned snapshot is not taken again");
}

#[test]
fn a_refused_trigger_is_a_failed_attempt() {
    let mut w = World::new(savepoint_spec());
    w.refuse = Some("savepoint failed (409): job is not running".into());
    let d = w.step();
    assert_eq!(w.state(), Some(SnapshotState::Failed));
    assert_eq!(d.requeue, Some(Duration::from_secs(10)));
    w.refuse = None;
    w.advance(Duration::from_secs(10));
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::InProgress));
}

#[test]
fn existing_savepoints_are_recorded_and_bad_specs_fail_at_once() {
    let mut spec = savepoint_spec();
    if let Some(sp) = spec.savepoint.as_mut() {
        sp.already_exists = Some(true);
        sp.path = Some("s3://bucket/savepoints/savepoint-old".into());
    }
    let mut w = World::new(spec);
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::Completed));
    assert!(w.taken.is_empty());

    let mut both = savepoint_spec();
    both.checkpoint = Some(CheckpointSpec::default());
    let mut w = World::new(both);
    let d = w.step();
    assert_eq!(w.state(), Some(SnapshotState::Failed));
    assert_eq!(d.requeue, None);
    w.advance(Duration::from_secs(600));
    w.step();
    assert!(w.taken.is_empty(), "a spec error is not retried");
}

#[test]
fn checkpoints_follow_the_same_steps() {
    let mut spec = savepoint_spec();
    spec.savepoint = None;
    spec.checkpoint = Some(CheckpointSpec::default());
    let mut w = World::new(spec);
    let d = w.step();
    assert!(matches!(
        d.trigger.map(|t| t.kind),
        Some(super::rules::SnapshotKind::Checkpoint)
    ));
    w.finish(Ok(()));
    w.step();
    assert_eq!(w.state(), Some(SnapshotState::Completed));
}
