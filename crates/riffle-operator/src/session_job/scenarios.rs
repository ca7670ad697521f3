//! Scenario tests of the FlinkSessionJob rules against a simulated session
//! cluster: its jobs, their checkpoints and savepoints.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::rules::{Action, Observed, Resource, Session, reconcile};
use crate::crd::common::{LifecycleState, ReconciliationState};
use crate::crd::session_job::{FlinkSessionJobSpec, FlinkSessionJobStatus};
use crate::deployment::rules::{JobSeen, SavepointSeen};
use crate::rest::JobOverview;
use crate::settings::ResourceSettings;

#[derive(Debug)]
struct Submitted {
    job_id: String,
    restore_from: Option<String>,
}

#[derive(Debug)]
struct World {
    spec: Value,
    generation: i64,
    status: Option<FlinkSessionJobStatus>,
    session_ready: bool,
    /// Jobs on the session: id → state.
    jobs: HashMap<String, &'static str>,
    checkpoints: HashMap<String, String>,
    triggers: HashMap<String, String>,
    submitted: Vec<Submitted>,
    reasons: Vec<&'static str>,
    now: i64,
    crash_before_after: bool,
}

/// Flink's defaults, with a one-minute readiness timeout.
fn settings() -> ResourceSettings {
    let c: riffle_common::config::Configuration =
        [("kubernetes.operator.deployment.readiness.timeout", "1 min")]
            .into_iter()
            .collect();
    ResourceSettings::resolve(&c).expect("default settings")
}

impl World {
    fn new(mode: &str) -> World {
        World {
            spec: json!({
                "deploymentName": "session",
                "job": { "sql": "INSERT INTO s SELECT * FROM t;", "upgradeMode": mode }
            }),
            generation: 1,
            status: None,
            session_ready: true,
            jobs: HashMap::new(),
            checkpoints: HashMap::new(),
            triggers: HashMap::new(),
            submitted: Vec::new(),
            reasons: Vec::new(),
            now: 1_000_000,
            crash_before_after: false,
        }
    }

    fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.spec);
        self.generation += 1;
    }

    fn current(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.job_id.clone())
    }

    fn observed(&self) -> Observed {
        if !self.session_ready {
            return Observed {
                session_problem: Some("not ready".into()),
                ..Observed::default()
            };
        }
        let next = self
            .status
            .as_ref()
            .and_then(|s| s.reconciliation_status.as_ref())
            .and_then(|r| r.next_job_id.clone());
        let current = self.current();
        let job = match &current {
            None => JobSeen::NotAsked,
            Some(id) => match self.jobs.get(id) {
                Some(state) => JobSeen::Seen(JobOverview {
                    jid: id.clone(),
                    name: "q".into(),
                    state: (*state).into(),
                    start_time: 1,
                    last_modification: 2,
                }),
                None => JobSeen::Absent,
            },
        };
        let trigger = self
            .status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .and_then(|i| i.trigger_id.clone());
        Observed {
            session: Session::Ready,
            session_problem: None,
            job,
            next_submitted: next.is_some_and(|n| self.jobs.contains_key(&n)),
            savepoint: match trigger {
                None => SavepointSeen::NotAsked,
                Some(t) => self.triggers.get(&t).map_or(SavepointSeen::Unknown, |l| {
                    SavepointSeen::Completed(l.clone())
                }),
            },
            // The JobManager reports checkpoints of the jobs it has.
            last_checkpoint: current
                .filter(|c| self.jobs.contains_key(c))
                .and_then(|c| self.checkpoints.get(&c).cloned()),
        }
    }

    fn step(&mut self) -> Vec<Action> {
        let spec: FlinkSessionJobSpec =
            serde_json::from_value(self.spec.clone()).unwrap_or_default();
        let r = Resource {
            uid: "uid-s",
            generation: Some(self.generation),
            spec: &spec,
            status: self.status.as_ref(),
            valid: Ok(()),
        };
        let d = reconcile(&r, &self.observed(), self.now, &settings());
        self.status = Some(d.status.clone());
        self.reasons.extend(d.notes.iter().map(|n| n.reason));
        for a in &d.actions {
            match a {
                Action::Submit {
                    job_id,
                    restore_from,
                    ..
                } => {
                    assert!(
                        !self.jobs.values().any(|s| *s == "RUNNING"),
                        "submitted while the old job runs"
                    );
                    self.submitted.push(Submitted {
                        job_id: job_id.clone(),
                        restore_from: restore_from.clone(),
                    });
                    self.jobs.insert(job_id.clone(), "RUNNING");
                }
                Action::Cancel { job_id } => {
                    self.jobs.insert(job_id.clone(), "CANCELED");
                }
                Action::StopWithSavepoint { job_id, trigger_id } => {
                    self.jobs.insert(job_id.clone(), "FINISHED");
                    self.triggers
                        .insert(trigger_id.clone(), format!("sp-{job_id}"));
                }
            }
        }
        if std::mem::take(&mut self.crash_before_after) {
            return d.actions;
        }
        if let Some(after) = d.after {
            self.status = Some(after);
        }
        self.now += 1000;
        d.actions
    }

    fn settle(&mut self) {
        let mut idle = 0;
        for _ in 0..30 {
            if self.step().is_empty() {
                idle += 1;
                if idle == 2 {
                    return;
                }
            } else {
                idle = 0;
            }
        }
        panic!("did not settle: {:?}", self.status);
    }

    fn lifecycle(&self) -> Option<LifecycleState> {
        self.status.as_ref().and_then(|s| s.lifecycle_state)
    }
}

#[test]
fn a_session_job_is_submitted_once_the_session_is_ready_and_becomes_stable() {
    let mut w = World::new("savepoint");
    w.session_ready = false;
    w.settle();
    assert!(w.submitted.is_empty());
    assert!(w.status.as_ref().and_then(|s| s.error.clone()).is_some());
    w.session_ready = true;
    w.settle();
    assert_eq!(w.submitted.len(), 1);
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
    assert_eq!(w.current().as_deref(), Some(w.submitted[0].job_id.as_str()));
}

#[test]
fn a_savepoint_upgrade_stops_the_job_with_a_savepoint_and_submits_from_it() {
    let mut w = World::new("savepoint");
    w.settle();
    let old = w.current().unwrap_or_default();
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT a FROM t;"));
    w.settle();
    assert_eq!(w.submitted.len(), 2);
    assert_eq!(w.submitted[1].restore_from, Some(format!("sp-{old}")));
    assert_ne!(w.submitted[1].job_id, old);
    assert_eq!(w.jobs.get(&old), Some(&"FINISHED"));
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}

#[test]
fn a_last_state_upgrade_cancels_and_submits_from_the_latest_checkpoint() {
    let mut w = World::new("last-state");
    w.settle();
    let old = w.current().unwrap_or_default();
    w.checkpoints.insert(old.clone(), "chk-4".into());
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT b FROM t;"));
    w.settle();
    assert_eq!(w.jobs.get(&old), Some(&"CANCELED"));
    assert_eq!(w.submitted[1].restore_from.as_deref(), Some("chk-4"));
}

#[test]
fn suspend_and_resume_carry_the_state() {
    let mut w = World::new("last-state");
    w.settle();
    let old = w.current().unwrap_or_default();
    w.checkpoints.insert(old, "chk-8".into());
    w.edit(|s| s["job"]["state"] = json!("suspended"));
    w.settle();
    assert_eq!(w.lifecycle(), Some(LifecycleState::Suspended));
    assert_eq!(w.submitted.len(), 1);
    w.edit(|s| s["job"]["state"] = json!("running"));
    w.settle();
    assert_eq!(w.submitted.len(), 2);
    assert_eq!(w.submitted[1].restore_from.as_deref(), Some("chk-8"));
}

#[test]
fn a_submission_that_happened_before_a_crash_is_not_repeated() {
    let mut w = World::new("stateless");
    w.crash_before_after = true;
    w.step();
    let rec = w
        .status
        .as_ref()
        .and_then(|s| s.reconciliation_status.clone())
        .unwrap_or_default();
    assert_eq!(rec.state, Some(ReconciliationState::Upgrading));
    w.settle();
    assert_eq!(w.submitted.len(), 1);
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}

#[test]
fn a_job_the_session_lost_is_submitted_again_from_its_state() {
    let mut w = World::new("last-state");
    w.settle();
    let old = w.current().unwrap_or_default();
    w.checkpoints.insert(old.clone(), "chk-2".into());
    w.jobs.clear();
    w.settle();
    assert!(w.reasons.contains(&"RecoverJob"));
    assert_eq!(w.submitted.len(), 2);
    // The lost job's checkpoints are not known to the session any more: it
    // starts from what it started from itself.
    assert_eq!(w.submitted[1].restore_from, None);
}
