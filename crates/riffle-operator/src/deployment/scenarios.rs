//! Scenario tests of the FlinkDeployment rules: a small simulated world
//! (one cluster, its job, its checkpoints and savepoints) that carries out
//! the decisions, including an operator that stops between writing its
//! status and acting.

use std::collections::{BTreeMap, HashMap};

use riffle_kubernetes::native::observe::{ClusterState, DeploymentState};
use serde_json::{Value, json};

use super::rules::{
    Action, DeployOrder, JOB_ID_ANNOTATION, JobSeen, LastState, Observed, Resource,
    SPEC_ANNOTATION, SavepointSeen, Validity, reconcile,
};
use crate::crd::common::{JobStatusState, LifecycleState, ReconciliationState};
use crate::crd::deployment::{FlinkDeploymentSpec, FlinkDeploymentStatus};
use crate::rest::JobOverview;
use crate::settings::ResourceSettings;

/// The cluster the world runs.
#[derive(Debug, Clone)]
struct Cluster {
    fingerprint: String,
    job_id: Option<String>,
    job_state: &'static str,
}

#[derive(Debug)]
struct World {
    spec: Value,
    generation: i64,
    status: Option<FlinkDeploymentStatus>,
    cluster: Option<Cluster>,
    /// Latest completed checkpoint per job id.
    checkpoints: HashMap<String, String>,
    /// Savepoint triggers seen by the JobManager: trigger → location (None: in progress).
    triggers: HashMap<String, Option<String>>,
    /// Savepoints complete when asked (else they stay in progress).
    savepoints_complete: bool,
    deploys: Vec<DeployOrder>,
    reasons: Vec<&'static str>,
    now: i64,
    settings: ResourceSettings,
    /// The next step's operator stops after writing its status.
    crash_before_actions: bool,
    /// The next step's operator stops after its actions, before `after`.
    crash_before_after: bool,
    /// A new cluster's job runs (else it fails at once).
    jobs_start: bool,
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
    fn new(spec: Value) -> World {
        World {
            spec,
            generation: 1,
            status: None,
            cluster: None,
            checkpoints: HashMap::new(),
            triggers: HashMap::new(),
            savepoints_complete: true,
            deploys: Vec::new(),
            reasons: Vec::new(),
            now: 1_000_000,
            settings: settings(),
            crash_before_actions: false,
            crash_before_after: false,
            jobs_start: true,
        }
    }

    fn edit(&mut self, f: impl FnOnce(&mut Value)) {
        f(&mut self.spec);
        self.generation += 1;
    }

    fn observed(&self) -> Observed {
        let Some(c) = &self.cluster else {
            return Observed::default();
        };
        let mut annotations =
            BTreeMap::from([(SPEC_ANNOTATION.to_string(), c.fingerprint.clone())]);
        if let Some(id) = &c.job_id {
            annotations.insert(JOB_ID_ANNOTATION.to_string(), id.clone());
        }
        let job = match &c.job_id {
            Some(id) => JobSeen::Seen(JobOverview {
                jid: id.clone(),
                name: "q".into(),
                state: c.job_state.into(),
                start_time: 1,
                last_modification: 2,
            }),
            None => JobSeen::Absent,
        };
        let trigger = self
            .status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.savepoint_info.as_ref())
            .and_then(|i| i.trigger_id.clone());
        let savepoint = match trigger {
            None => SavepointSeen::NotAsked,
            Some(t) => match self.triggers.get(&t) {
                None => SavepointSeen::Unknown,
                Some(None) => SavepointSeen::InProgress,
                Some(Some(loc)) => SavepointSeen::Completed(loc.clone()),
            },
        };
        Observed {
            cluster: ClusterState {
                deployment: Some(DeploymentState {
                    annotations,
                    replicas: 1,
                    ready_replicas: 1,
                    deleting: false,
                }),
                jobmanager_pods: Vec::new(),
            },
            job,
            savepoint,
            last_state: None,
        }
    }

    /// One reconciliation, carried out.
    fn step(&mut self) -> Vec<Action> {
        let spec: FlinkDeploymentSpec =
            serde_json::from_value(self.spec.clone()).unwrap_or_default();
        let mut seen = self.observed();
        let r = Resource {
            uid: "uid-1",
            generation: Some(self.generation),
            spec: &spec,
            status: self.status.as_ref(),
            valid: Validity::known(
                crate::cluster_plan::job_source(spec.job.as_ref().unwrap_or(&Default::default()))
                    .map(drop)
                    .or_else(|e| if spec.job.is_none() { Ok(()) } else { Err(e) }),
            ),
        };
        let mut d = reconcile(&r, &seen, self.now, &self.settings);
        if let Some(job) = d.needs_last_state.clone() {
            seen.last_state = Some(LastState {
                location: self.checkpoints.get(&job).cloned(),
                job_id: job,
                source: "the checkpoint directory".into(),
            });
            d = reconcile(&r, &seen, self.now, &self.settings);
            assert_eq!(d.needs_last_state, None, "asked twice for the last state");
        }
        drop(r);
        self.status = Some(d.status.clone());
        self.reasons.extend(d.notes.iter().map(|n| n.reason));
        if std::mem::take(&mut self.crash_before_actions) {
            return Vec::new();
        }
        for a in &d.actions {
            match a {
                Action::Deploy(order) => {
                    assert!(self.cluster.is_none(), "deployed over a running cluster");
                    self.deploys.push(order.clone());
                    self.cluster = Some(Cluster {
                        fingerprint: order.fingerprint.clone(),
                        job_id: order.job_id.clone(),
                        job_state: if self.jobs_start { "RUNNING" } else { "FAILED" },
                    });
                }
                Action::DeleteCluster => self.cluster = None,
                Action::DeleteHaData => {}
                Action::StopWithSavepoint { job_id, trigger_id } => {
                    assert_eq!(
                        self.cluster.as_ref().and_then(|c| c.job_id.as_ref()),
                        Some(job_id)
                    );
                    let done = self.savepoints_complete.then(|| format!("sp-{job_id}"));
                    if done.is_some()
                        && let Some(c) = self.cluster.as_mut()
                    {
                        c.job_state = "FINISHED";
                    }
                    self.triggers.entry(trigger_id.clone()).or_insert(done);
                }
            }
        }
        if std::mem::take(&mut self.crash_before_after) {
            return d.actions;
        }
        if let Some(after) = d.after {
            self.status = Some(after);
        }
        self.now += 1_000;
        d.actions
    }

    /// Steps until nothing is done twice in a row.
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

    fn job_id(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.job_status.as_ref())
            .and_then(|j| j.job_id.clone())
    }

    fn last_deploy(&self) -> DeployOrder {
        self.deploys
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("nothing deployed"))
    }
}

fn app(mode: &str) -> Value {
    json!({
        "image": "riffle:test",
        "flinkConfiguration": { "execution.checkpointing.interval": "1 s" },
        "job": { "sql": "INSERT INTO s SELECT * FROM t;", "upgradeMode": mode, "parallelism": 2 }
    })
}

#[test]
fn a_new_deployment_becomes_stable_with_its_job_running() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    assert_eq!(w.deploys.len(), 1);
    let d = w.last_deploy();
    assert_eq!(d.restore_from, None);
    assert_eq!(d.job_id, w.job_id());
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
    let rec = w
        .status
        .as_ref()
        .and_then(|s| s.reconciliation_status.clone())
        .unwrap_or_default();
    assert_eq!(rec.state, Some(ReconciliationState::Deployed));
    assert_eq!(rec.last_stable_spec, rec.last_reconciled_spec);
    assert_eq!(rec.next_job_id, None);
    assert!(w.reasons.contains(&"Stable"));
}

#[test]
fn a_settled_deployment_is_not_planned_again() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    let spec: FlinkDeploymentSpec = serde_json::from_value(w.spec.clone()).unwrap_or_default();
    let checked = std::cell::Cell::new(0);
    let r = Resource {
        uid: "uid-1",
        generation: Some(w.generation),
        spec: &spec,
        status: w.status.as_ref(),
        valid: Validity::lazy(|| {
            checked.set(checked.get() + 1);
            Ok(())
        }),
    };
    let d = reconcile(&r, &w.observed(), w.now, &w.settings);
    assert!(d.actions.is_empty());
    assert_eq!(checked.get(), 0, "an unchanged spec was planned again");
}

#[test]
fn a_savepoint_upgrade_stops_with_a_savepoint_and_starts_the_new_job_from_it() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    let old = w.job_id().unwrap_or_default();
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT a FROM t;"));
    w.settle();
    assert_eq!(w.deploys.len(), 2);
    let d = w.last_deploy();
    assert_eq!(
        d.restore_from.as_deref(),
        Some(format!("sp-{old}").as_str())
    );
    assert_ne!(
        d.job_id.as_deref(),
        Some(old.as_str()),
        "a new job id per deployment"
    );
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
    let sp = w
        .status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.clone())
        .unwrap_or_default();
    assert_eq!(sp.savepoint_history.len(), 1);
    assert_eq!(sp.trigger_id, None);
    assert!(w.reasons.contains(&"SavepointCompleted"));
}

#[test]
fn a_last_state_upgrade_starts_from_the_latest_checkpoint() {
    let mut w = World::new(app("last-state"));
    w.settle();
    let old = w.job_id().unwrap_or_default();
    w.checkpoints
        .insert(old.clone(), format!("s3://b/cp/{old}/chk-7"));
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT b FROM t;"));
    w.settle();
    let d = w.last_deploy();
    assert_eq!(d.restore_from, Some(format!("s3://b/cp/{old}/chk-7")));
    assert!(w.triggers.is_empty(), "no savepoint in last-state mode");
}

#[test]
fn a_stateless_upgrade_starts_empty_but_a_rescale_keeps_the_state() {
    let mut w = World::new(app("stateless"));
    w.settle();
    let first = w.job_id().unwrap_or_default();
    w.checkpoints.insert(first.clone(), "chk-a".into());
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT c FROM t;"));
    w.settle();
    assert_eq!(w.last_deploy().restore_from, None);
    let second = w.job_id().unwrap_or_default();
    w.checkpoints.insert(second.clone(), "chk-b".into());
    w.edit(|s| s["job"]["parallelism"] = json!(4));
    w.settle();
    assert_eq!(w.last_deploy().restore_from.as_deref(), Some("chk-b"));
    assert_eq!(w.deploys.len(), 3);
}

#[test]
fn suspend_keeps_the_state_and_resume_starts_from_it() {
    let mut w = World::new(app("last-state"));
    w.settle();
    let job = w.job_id().unwrap_or_default();
    w.checkpoints.insert(job.clone(), "chk-9".into());
    w.edit(|s| s["job"]["state"] = json!("suspended"));
    w.settle();
    assert!(w.cluster.is_none());
    assert_eq!(w.lifecycle(), Some(LifecycleState::Suspended));
    let st = w.status.clone().unwrap_or_default();
    assert_eq!(
        st.job_status.as_ref().and_then(|j| j.state),
        Some(JobStatusState::Suspended)
    );
    assert_eq!(
        st.job_status
            .as_ref()
            .and_then(|j| j.upgrade_savepoint_path.as_deref()),
        Some("chk-9")
    );
    w.edit(|s| s["job"]["state"] = json!("running"));
    w.settle();
    assert_eq!(w.last_deploy().restore_from.as_deref(), Some("chk-9"));
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}

#[test]
fn an_operator_that_stops_before_acting_sends_the_same_savepoint_trigger_again() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT d FROM t;"));
    w.crash_before_actions = true;
    w.step();
    let recorded = w
        .status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.as_ref())
        .and_then(|i| i.trigger_id.clone());
    assert!(
        recorded.is_some(),
        "the trigger id is recorded before it is sent"
    );
    assert!(w.triggers.is_empty());
    w.settle();
    assert_eq!(w.triggers.len(), 1, "one savepoint, under the recorded id");
    assert!(recorded.is_some_and(|t| w.triggers.contains_key(&t)));
    assert_eq!(w.deploys.len(), 2);
}

#[test]
fn an_operator_that_stops_after_deploying_finds_the_deployment_done() {
    let mut w = World::new(app("savepoint"));
    w.crash_before_after = true;
    w.step();
    assert_eq!(w.deploys.len(), 1);
    let rec = w
        .status
        .as_ref()
        .and_then(|s| s.reconciliation_status.clone())
        .unwrap_or_default();
    assert_eq!(rec.state, Some(ReconciliationState::Upgrading));
    w.settle();
    assert_eq!(w.deploys.len(), 1, "not deployed twice");
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
    assert_eq!(w.job_id(), w.last_deploy().job_id);
}

#[test]
fn a_savepoint_that_does_not_complete_in_time_falls_back_to_the_latest_checkpoint() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    let old = w.job_id().unwrap_or_default();
    w.checkpoints.insert(old.clone(), "chk-3".into());
    w.savepoints_complete = false;
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT e FROM t;"));
    w.step();
    w.step();
    assert_eq!(w.deploys.len(), 1, "waits while the savepoint runs");
    w.now += 600_001;
    w.settle();
    assert_eq!(w.last_deploy().restore_from.as_deref(), Some("chk-3"));
    assert!(w.reasons.contains(&"SavepointFailed"));
}

#[test]
fn without_fallback_a_stuck_savepoint_reports_and_keeps_the_job_running() {
    let mut w = World::new(app("savepoint"));
    w.settings.last_state_fallback = false;
    w.settle();
    w.savepoints_complete = false;
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT f FROM t;"));
    w.step();
    w.now += 600_001;
    w.step();
    assert!(w.cluster.is_some(), "the old job keeps running");
    assert!(
        w.status
            .as_ref()
            .and_then(|s| s.error.clone())
            .is_some_and(|e| e.contains("tries again"))
    );
    assert_eq!(w.lifecycle(), Some(LifecycleState::Upgrading));
}

#[test]
fn a_missing_jobmanager_deployment_is_recovered_from_the_latest_checkpoint() {
    let mut w = World::new(app("stateless"));
    w.settle();
    let job = w.job_id().unwrap_or_default();
    w.checkpoints.insert(job, "chk-11".into());
    w.cluster = None;
    w.settle();
    assert_eq!(w.deploys.len(), 2);
    assert_eq!(
        w.last_deploy().restore_from,
        None,
        "stateless stays stateless"
    );
    assert!(w.reasons.contains(&"RecoverDeployment"));

    let mut w = World::new(app("last-state"));
    w.settle();
    let job = w.job_id().unwrap_or_default();
    w.checkpoints.insert(job, "chk-12".into());
    w.cluster = None;
    w.settle();
    assert_eq!(w.last_deploy().restore_from.as_deref(), Some("chk-12"));
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}

#[test]
fn a_spec_that_does_not_run_in_time_is_rolled_back_to_the_last_stable_one() {
    let mut w = World::new(app("savepoint"));
    w.settings.rollback = true;
    w.settle();
    let stable_fp = w.last_deploy().fingerprint;
    w.jobs_start = false;
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT broken FROM t;"));
    w.settle();
    assert_eq!(w.deploys.len(), 2);
    assert_eq!(w.lifecycle(), Some(LifecycleState::Failed));
    let broken_start = w.last_deploy().restore_from;
    assert!(
        broken_start.is_some(),
        "the new spec started from the upgrade savepoint"
    );
    w.jobs_start = true;
    w.now += 60_001;
    w.settle();
    assert_eq!(w.deploys.len(), 3);
    let d = w.last_deploy();
    assert_eq!(d.fingerprint, stable_fp, "the last stable spec runs again");
    assert_eq!(
        d.restore_from, broken_start,
        "from the state the broken job started from"
    );
    assert_eq!(w.lifecycle(), Some(LifecycleState::RolledBack));
    assert!(w.reasons.contains(&"Rollback"));
    // A new spec from the user leaves the rollback behind.
    w.edit(|s| s["job"]["sql"] = json!("INSERT INTO s SELECT fixed FROM t;"));
    w.settle();
    assert_eq!(w.deploys.len(), 4);
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}

#[test]
fn an_invalid_change_is_reported_and_the_running_job_left_alone() {
    let mut w = World::new(app("savepoint"));
    w.settle();
    w.edit(|s| s["job"]["sql"] = json!("INSER INTO s;"));
    w.settle();
    assert_eq!(w.deploys.len(), 1);
    assert!(w.cluster.is_some());
    assert!(
        w.status
            .as_ref()
            .and_then(|s| s.error.clone())
            .is_some_and(|e| e.contains("spec.job.sql"))
    );
    assert!(w.reasons.contains(&"ValidationError"));
}

#[test]
fn ignored_changes_deploy_nothing_and_a_restart_nonce_redeploys() {
    let mut w = World::new(app("last-state"));
    w.settle();
    w.edit(|s| s["job"]["upgradeMode"] = json!("savepoint"));
    w.settle();
    assert_eq!(w.deploys.len(), 1);
    w.edit(|s| s["restartNonce"] = json!(1));
    w.settle();
    assert_eq!(w.deploys.len(), 2);
}

#[test]
fn a_session_cluster_is_stable_when_its_jobmanager_is_ready() {
    let mut w = World::new(json!({ "image": "riffle:test" }));
    w.settle();
    assert_eq!(w.deploys.len(), 1);
    assert_eq!(w.last_deploy().job_id, None);
    assert_eq!(w.lifecycle(), Some(LifecycleState::Stable));
}
