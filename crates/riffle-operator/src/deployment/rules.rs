//! The decisions of a FlinkDeployment's reconciliation: pure logic over
//! (resource, what was observed, now) → (status, actions).
//!
//! Rules:
//! - The status is a write-ahead record: a [`Decision`]'s `status` is
//!   written before its actions run and `after` once they all succeeded, so
//!   an operator that stops anywhere resumes from what the status says and
//!   what it observes, never from memory.
//! - A transition (first deployment, upgrade, suspend, resume, recovery,
//!   rollback) goes through the same steps, each chosen by observation:
//!   the old cluster is stopped per the upgrade mode; once it is gone, the
//!   state the next job starts from is fixed (`upgradeSavepointPath`) with
//!   the next job's id (`nextJobId`); then the new cluster is created.
//! - The state of a job that stopped is its newest snapshot: the upgrade
//!   savepoint, else its latest checkpoint (from the HA store or the
//!   checkpoint directory's metadata, not from a JobManager, which may be
//!   gone), else what it started from itself.
//! - A JobManager Deployment carries the fingerprint of the spec and the
//!   job id it runs: that tells a finished step from one still to do.
//! - Every job gets a new id, derived from the resource's uid and the job
//!   before it: restarts of a pod keep it, a new deployment never reuses it.
//! - An upgrade savepoint is bounded by `execution.checkpointing.timeout`;
//!   past it (or when it fails) the upgrade goes on from the latest
//!   checkpoint (`last-state-fallback`) or reports the error and tries again.

use std::time::Duration;

use riffle_kubernetes::native::observe::ClusterState;
use riffle_rpc::JobId;
use serde_json::Value;

use crate::crd::common::{
    Condition, JobState, JobStatus, JobStatusState, LifecycleState, ReconciliationState,
    ReconciliationStatus, UpgradeMode,
};
use crate::crd::deployment::{
    FlinkDeploymentSpec, FlinkDeploymentStatus, JobManagerDeploymentStatus,
};
use crate::rest::{JobOverview, Operation, RestError};
use crate::settings::ResourceSettings;
use crate::spec_diff::{
    self, DiffType, ReconciledMetadata, ReconciledSpec, job_state, upgrade_mode,
};
use crate::time::rfc3339;
use crate::upgrade::{self, SavepointStep};

/// The JobManager Deployment's annotation with the id of the job it runs.
pub const JOB_ID_ANNOTATION: &str = "riffle.dev/job-id";
/// The JobManager Deployment's annotation with the fingerprint of its spec.
pub const SPEC_ANNOTATION: &str = "riffle.dev/spec-fingerprint";
/// The apiVersion recorded with reconciled specs.
pub const API_VERSION: &str = "riffle.dev/v1beta1";

/// Whether a spec can be deployed (`Err` names what is wrong), worked out
/// the first time a rule asks: planning parses the job's SQL and builds the
/// cluster's pods, and the reconciliations of an unchanged spec (most of
/// them) never need to know.
pub struct Validity<'a> {
    check: Box<dyn Fn() -> Result<(), String> + 'a>,
    known: std::cell::OnceCell<Result<(), String>>,
}

impl<'a> Validity<'a> {
    /// Checked by `check` when first asked.
    pub fn lazy(check: impl Fn() -> Result<(), String> + 'a) -> Validity<'a> {
        Validity {
            check: Box::new(check),
            known: std::cell::OnceCell::new(),
        }
    }

    /// Already known.
    pub fn known(valid: Result<(), String>) -> Validity<'a> {
        let known = std::cell::OnceCell::new();
        let _ = known.set(valid);
        Validity {
            check: Box::new(|| Ok(())),
            known,
        }
    }

    /// The answer (checked now if it was not yet).
    pub fn get(&self) -> Result<(), String> {
        self.known.get_or_init(|| (self.check)()).clone()
    }
}

impl std::fmt::Debug for Validity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.known.get() {
            Some(v) => write!(f, "{v:?}"),
            None => f.write_str("(not checked)"),
        }
    }
}

/// The resource as the rules see it.
#[derive(Debug)]
pub struct Resource<'a> {
    /// `metadata.uid` (job ids derive from it).
    pub uid: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The spec.
    pub spec: &'a FlinkDeploymentSpec,
    /// The status, as last written.
    pub status: Option<&'a FlinkDeploymentStatus>,
    /// Whether the spec can be deployed.
    pub valid: Validity<'a>,
}

/// What the operator observed of the resource's cluster.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The JobManager Deployment and pods.
    pub cluster: ClusterState,
    /// The job of the cluster, as its JobManager reports it.
    pub job: JobSeen,
    /// The pending upgrade savepoint, when one is recorded.
    pub savepoint: SavepointSeen,
    /// The latest state of a stopped job, when the rules asked for it.
    pub last_state: Option<LastState>,
}

/// Whether a cached view of the resource's cluster (the watches') can stand
/// for a read from the apiserver. Only in a state that the cache confirms:
/// between a write of the operator and its echo in the watch the cache may
/// show the cluster before that write, and acting on that during an upgrade
/// could deploy twice. So the cache is not used while a transition runs
/// (UPGRADING, ROLLING_BACK), nor when it disagrees with the status on
/// whether the JobManager exists (a cluster deleted by hand, or a watch that
/// lags); those reconciliations read the apiserver. Nor while a deployed
/// JobManager is on its way to ready: a watch event missed or late there
/// would hold the job back (it is asked for only once its JobManager is
/// ready), so only a cluster that the status and the cache both show ready,
/// or both show gone, is observed from the cache. A resource never
/// reconciled (one created suspended stays so) trusts a cache that shows no
/// cluster: the operator has deployed nothing for it.
pub fn cache_is_current(status: Option<&FlinkDeploymentStatus>, cached: &ClusterState) -> bool {
    let cached_missing = cached.deployment.is_none() && cached.jobmanager_pods.is_empty();
    let state = status
        .and_then(|st| st.reconciliation_status.as_ref())
        .and_then(|r| r.state);
    match state {
        None => cached_missing,
        Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack) => false,
        Some(ReconciliationState::Deployed | ReconciliationState::RolledBack) => {
            let recorded = status.and_then(|st| st.job_manager_deployment_status);
            let recorded_missing =
                matches!(recorded, None | Some(JobManagerDeploymentStatus::Missing));
            let cached_ready = cached
                .deployment
                .as_ref()
                .is_some_and(|d| d.ready_replicas > 0 && !d.deleting);
            (recorded_missing && cached_missing)
                || (recorded == Some(JobManagerDeploymentStatus::Ready) && cached_ready)
        }
    }
}

/// The cluster's job, as its REST API reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum JobSeen {
    /// Not asked: no JobManager is ready, or the cluster runs no job.
    #[default]
    NotAsked,
    /// The REST API did not answer.
    Unreachable(String),
    /// The JobManager does not know the job (yet).
    Absent,
    /// The job.
    Seen(JobOverview),
}

/// The pending upgrade savepoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SavepointSeen {
    /// Not asked (none pending, or no JobManager to ask).
    #[default]
    NotAsked,
    /// Still running.
    InProgress,
    /// Done, at this location.
    Completed(String),
    /// Failed, with the reason.
    Failed(String),
    /// The JobManager does not know the trigger (it never arrived).
    Unknown,
    /// The REST API did not answer.
    Unreachable(String),
}

impl SavepointSeen {
    /// What a JobManager's answer about a savepoint trigger says.
    pub fn from_answer(answer: Result<Operation, RestError>) -> SavepointSeen {
        match answer {
            Ok(Operation::InProgress) => SavepointSeen::InProgress,
            Ok(Operation::Completed(location)) => SavepointSeen::Completed(location),
            Ok(Operation::Failed(reason)) => SavepointSeen::Failed(reason),
            Err(e) if e.is_not_found() => SavepointSeen::Unknown,
            Err(e) => SavepointSeen::Unreachable(e.to_string()),
        }
    }
}

/// The newest state of a stopped job.
#[derive(Debug, Clone, PartialEq)]
pub struct LastState {
    /// The job.
    pub job_id: String,
    /// Its latest completed checkpoint, if it has one.
    pub location: Option<String>,
    /// Where it was found (for events).
    pub source: String,
}

/// Something the operator does to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the cluster of `spec`.
    Deploy(DeployOrder),
    /// Delete the JobManager Deployment (and with it the cluster).
    DeleteCluster,
    /// Delete the cluster's HA ConfigMap and Lease.
    DeleteHaData,
    /// Stop the job with a savepoint, under this trigger id.
    StopWithSavepoint {
        /// The job.
        job_id: String,
        /// The trigger id (recorded first).
        trigger_id: String,
    },
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployOrder {
    /// The spec, as JSON.
    pub spec: Value,
    /// The job's id (application mode).
    pub job_id: Option<String>,
    /// The snapshot the job starts from.
    pub restore_from: Option<String>,
    /// The spec's fingerprint, for the Deployment's annotation.
    pub fingerprint: String,
}

/// An Event to record on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning, else Normal.
    pub warning: bool,
    /// The reason (CamelCase).
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status to write before the actions.
    pub status: FlinkDeploymentStatus,
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// The status to write once every action succeeded.
    pub after: Option<FlinkDeploymentStatus>,
    /// Events.
    pub notes: Vec<Note>,
    /// When to look again.
    pub requeue: Duration,
    /// Nothing was decided: observe the latest state of this job and ask again.
    pub needs_last_state: Option<String>,
}

/// Decides what to do about one FlinkDeployment.
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
        requeue: s.progress_interval,
        needs_last_state: None,
    };
    d.observe();
    d.decide();
    d.st.lifecycle_state = Some(lifecycle(&d.st));
    if let Some(after) = d.after.as_mut() {
        after.lifecycle_state = Some(lifecycle(after));
    }
    Decision {
        status: d.st,
        actions: d.actions,
        after: d.after,
        notes: d.notes,
        requeue: d.requeue,
        needs_last_state: d.needs_last_state,
    }
}

/// Flink's derivation of `status.lifecycleState`.
pub fn lifecycle(st: &FlinkDeploymentStatus) -> LifecycleState {
    let rec = st.reconciliation_status.clone().unwrap_or_default();
    let Some(last) = ReconciledSpec::parse(rec.last_reconciled_spec.as_deref())
        .ok()
        .flatten()
    else {
        return if st.error.as_deref().is_some_and(|e| !e.is_empty()) {
            LifecycleState::Failed
        } else {
            LifecycleState::Created
        };
    };
    match rec.state {
        Some(ReconciliationState::Upgrading) => return LifecycleState::Upgrading,
        Some(ReconciliationState::RollingBack) => return LifecycleState::RollingBack,
        _ => {}
    }
    if job_state(&last.spec) == JobState::Suspended {
        return LifecycleState::Suspended;
    }
    let job = st.job_status.as_ref().and_then(|j| j.state);
    if job == Some(JobStatusState::Failed) {
        return LifecycleState::Failed;
    }
    if rec.state == Some(ReconciliationState::RolledBack) {
        return LifecycleState::RolledBack;
    }
    if rec.last_stable_spec.is_some() && rec.last_stable_spec == rec.last_reconciled_spec {
        LifecycleState::Stable
    } else {
        LifecycleState::Deployed
    }
}

fn has_job(spec: &Value) -> bool {
    spec.get("job").is_some_and(|j| !j.is_null())
}

fn mode_name(m: UpgradeMode) -> &'static str {
    match m {
        UpgradeMode::Savepoint => "savepoint",
        UpgradeMode::LastState => "last-state",
        UpgradeMode::Stateless => "stateless",
    }
}

fn parse_state(name: &str) -> Option<JobStatusState> {
    serde_json::from_value(Value::String(name.to_string())).ok()
}

/// The id of the job after `previous` (or the first) of resource `uid`.
pub fn next_job_id(uid: &str, previous: Option<&str>, generation: Option<i64>) -> String {
    JobId::from_seed(&format!(
        "{uid}/{}/{}",
        previous.unwrap_or("first"),
        generation.unwrap_or(0)
    ))
    .to_string()
}

struct Decider<'a> {
    r: &'a Resource<'a>,
    seen: &'a Observed,
    now: i64,
    s: &'a ResourceSettings,
    st: FlinkDeploymentStatus,
    spec_json: Value,
    actions: Vec<Action>,
    after: Option<FlinkDeploymentStatus>,
    notes: Vec<Note>,
    requeue: Duration,
    needs_last_state: Option<String>,
}

impl Decider<'_> {
    fn note(&mut self, reason: &'static str, message: impl Into<String>) {
        self.notes.push(Note {
            warning: false,
            reason,
            message: message.into(),
        });
    }

    fn warn(&mut self, reason: &'static str, message: impl Into<String>) {
        self.notes.push(Note {
            warning: true,
            reason,
            message: message.into(),
        });
    }

    fn rec(&mut self) -> &mut ReconciliationStatus {
        self.st
            .reconciliation_status
            .get_or_insert_with(Default::default)
    }

    fn job(&mut self) -> &mut JobStatus {
        self.st.job_status.get_or_insert_with(Default::default)
    }

    /// `status.jobStatus.jobId`: the job whose state is carried.
    fn current(&self) -> Option<String> {
        self.st.job_status.as_ref().and_then(|j| j.job_id.clone())
    }

    /// `reconciliationStatus.nextJobId`: the job about to be deployed.
    fn next(&self) -> Option<String> {
        self.st
            .reconciliation_status
            .as_ref()
            .and_then(|r| r.next_job_id.clone())
    }

    /// `upgradeSavepointPath`: what the current job started (or starts) from.
    fn start_state(&self) -> Option<String> {
        self.st
            .job_status
            .as_ref()
            .and_then(|j| j.upgrade_savepoint_path.clone())
    }

    fn cluster_job(&self) -> Option<String> {
        self.seen
            .cluster
            .deployment
            .as_ref()
            .and_then(|d| d.annotations.get(JOB_ID_ANNOTATION).cloned())
    }

    /// Writes what was observed into the status.
    fn observe(&mut self) {
        let cluster = &self.seen.cluster;
        let failure = cluster
            .jobmanager_pods
            .iter()
            .find_map(|p| p.failure.clone().map(|f| format!("pod {}: {f}", p.name)));
        let jm = match (&cluster.deployment, &failure, &self.seen.job) {
            (None, _, _) => JobManagerDeploymentStatus::Missing,
            (Some(_), Some(_), _) => JobManagerDeploymentStatus::Error,
            (Some(d), None, JobSeen::Seen(_) | JobSeen::Absent) if d.ready_replicas > 0 => {
                JobManagerDeploymentStatus::Ready
            }
            (Some(d), None, _) if d.ready_replicas > 0 => {
                JobManagerDeploymentStatus::DeployedNotReady
            }
            (Some(_), None, _) => JobManagerDeploymentStatus::Deploying,
        };
        self.st.job_manager_deployment_status = Some(jm);
        if let Some(f) = failure {
            self.st.error = Some(format!("the JobManager cannot start: {f}"));
        }
        self.st.observed_generation = self.r.generation;
        let cluster_job = self.cluster_job();
        let (current, next) = (self.current(), self.next());
        let ours = cluster_job.is_some() && (cluster_job == current || cluster_job == next);
        match &self.seen.job {
            JobSeen::Seen(j) if ours => {
                let job = self.job();
                job.job_name = Some(j.name.clone());
                job.state = parse_state(&j.state).or(Some(JobStatusState::Reconciling));
                job.start_time = Some(j.start_time.to_string());
                job.update_time = Some(j.last_modification.to_string());
            }
            JobSeen::Absent | JobSeen::Unreachable(_) if ours => {
                self.job().state = Some(JobStatusState::Reconciling);
            }
            _ => {}
        }
        let running = match self.r.spec.job {
            Some(_) => {
                self.st.job_status.as_ref().and_then(|j| j.state) == Some(JobStatusState::Running)
            }
            None => jm == JobManagerDeploymentStatus::Ready,
        };
        let message = match self.r.spec.job {
            Some(_) => format!(
                "Job status {}",
                self.st
                    .job_status
                    .as_ref()
                    .and_then(|j| j.state)
                    .map(|s| format!("{s:?}").to_uppercase())
                    .unwrap_or_else(|| "UNKNOWN".into())
            ),
            None => format!("JobManager {jm:?}"),
        };
        let status = if running { "True" } else { "False" };
        let previous = self.st.conditions.as_ref().and_then(|c| c.first().cloned());
        let changed = previous.as_ref().map(|c| c.status.as_str()) != Some(status);
        self.st.conditions = Some(vec![Condition {
            type_: "Running".into(),
            status: status.into(),
            reason: Some(if running { "Running" } else { "NotRunning" }.into()),
            message: Some(message),
            last_transition_time: if changed {
                Some(rfc3339(self.now))
            } else {
                previous.and_then(|c| c.last_transition_time)
            },
            observed_generation: self.r.generation,
        }]);
    }

    fn decide(&mut self) {
        let rec = self.st.reconciliation_status.clone().unwrap_or_default();
        let last = match ReconciledSpec::parse(rec.last_reconciled_spec.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                self.st.error = Some(e.clone());
                self.warn("StatusUnreadable", e);
                self.requeue = self.s.reconcile_interval;
                return;
            }
        };
        match (last, rec.state) {
            (None, _) => self.first_deployment(),
            (
                Some(last),
                Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack),
            ) => self.transition(last),
            (Some(last), _) => self.steady(last),
        }
    }

    fn first_deployment(&mut self) {
        if let Err(e) = &self.r.valid.get() {
            self.invalid(e.clone());
            return;
        }
        if job_state(&self.spec_json) == JobState::Suspended {
            self.requeue = self.s.reconcile_interval;
            return;
        }
        let last = self.reconciled(self.spec_json.clone(), true, None, false);
        let initial = self
            .r
            .spec
            .job
            .as_ref()
            .and_then(|j| j.initial_savepoint_path.clone());
        self.job().upgrade_savepoint_path = initial;
        self.st.error = None;
        self.note("Submit", "Starting the deployment");
        self.transition(last);
    }

    /// Records `spec` as the one being moved to (state UPGRADING).
    fn reconciled(
        &mut self,
        spec: Value,
        first: bool,
        mode: Option<UpgradeMode>,
        savepoint_redeploy: bool,
    ) -> ReconciledSpec {
        let last = ReconciledSpec {
            spec,
            resource_metadata: ReconciledMetadata {
                api_version: API_VERSION.into(),
                first_deployment: first,
                upgrade_mode: mode,
                savepoint_redeploy,
            },
        };
        let now = self.now;
        let rec = self.rec();
        rec.last_reconciled_spec = Some(last.to_text());
        rec.state = Some(ReconciliationState::Upgrading);
        rec.reconciliation_timestamp = Some(now);
        last
    }

    fn invalid(&mut self, e: String) {
        if self.st.error.as_deref() != Some(e.as_str()) {
            self.warn("ValidationError", e.clone());
        }
        self.st.error = Some(e);
        self.requeue = self.s.reconcile_interval;
    }

    /// The mode of a transition caused by a change of this type.
    fn mode_for(&self, diff: DiffType, spec: &Value) -> Option<UpgradeMode> {
        let own = upgrade_mode(spec);
        match diff {
            // A rescale keeps the state even in stateless mode: the state is
            // the job's own, only its parallelism changes.
            DiffType::Scale if own != UpgradeMode::Savepoint => Some(UpgradeMode::LastState),
            DiffType::SavepointRedeploy => Some(UpgradeMode::Stateless),
            _ => None,
        }
    }

    fn begin_upgrade(&mut self, last: &ReconciledSpec, diff: DiffType) -> ReconciledSpec {
        let mode = self.mode_for(diff, &self.spec_json);
        let effective = mode.unwrap_or_else(|| upgrade_mode(&self.spec_json));
        // Resuming a suspended job in stateless mode drops its state.
        if job_state(&last.spec) == JobState::Suspended && effective == UpgradeMode::Stateless {
            self.job().upgrade_savepoint_path = None;
        }
        let what = match diff {
            DiffType::Scale => "Parallelism changed: rescaling",
            DiffType::SavepointRedeploy => {
                "savepointRedeployNonce changed: redeploying from initialSavepointPath"
            }
            _ => "Spec changed: upgrading",
        };
        self.note(
            "SpecChanged",
            format!("{what} ({} mode)", mode_name(effective)),
        );
        self.st.error = None;
        self.reconciled(
            self.spec_json.clone(),
            false,
            mode,
            diff == DiffType::SavepointRedeploy,
        )
    }

    /// No transition in progress: follow the deployed spec.
    fn steady(&mut self, last: ReconciledSpec) {
        let rec = self.st.reconciliation_status.clone().unwrap_or_default();
        let rolled_back = rec.state == Some(ReconciliationState::RolledBack);
        let diff = spec_diff::diff(&last.spec, &self.spec_json);
        if diff != DiffType::Ignore {
            match self.r.valid.get() {
                Ok(()) => {
                    let next = self.begin_upgrade(&last, diff);
                    self.transition(next);
                    return;
                }
                Err(e) => self.invalid(e),
            }
        }
        let deployed = if rolled_back {
            ReconciledSpec::parse(rec.last_stable_spec.as_deref())
                .ok()
                .flatten()
                .map_or(last.spec.clone(), |s| s.spec)
        } else {
            last.spec.clone()
        };
        if job_state(&deployed) == JobState::Suspended {
            self.requeue = self.s.reconcile_interval;
            return;
        }
        let cluster = &self.seen.cluster;
        if cluster.deployment.is_none() && cluster.jobmanager_pods.is_empty() {
            if !self.s.jm_recovery {
                self.st.error = Some(
                    "the JobManager Deployment is missing and \
                     kubernetes.operator.jm-deployment-recovery.enabled is false"
                        .into(),
                );
                self.requeue = self.s.reconcile_interval;
                return;
            }
            self.warn(
                "RecoverDeployment",
                "The JobManager Deployment is missing: recovering the job from its latest state",
            );
            if rolled_back {
                self.rec().state = Some(ReconciliationState::RollingBack);
                self.transition(last);
            } else {
                let mode = (upgrade_mode(&last.spec) != UpgradeMode::Stateless)
                    .then_some(UpgradeMode::LastState);
                let again = self.reconciled(last.spec.clone(), false, mode, false);
                self.transition(again);
            }
            return;
        }
        let app = has_job(&deployed);
        let job = self.st.job_status.as_ref().and_then(|j| j.state);
        let ready = if app {
            job == Some(JobStatusState::Running)
        } else {
            self.st.job_manager_deployment_status == Some(JobManagerDeploymentStatus::Ready)
        };
        if ready && !rolled_back && rec.last_stable_spec != rec.last_reconciled_spec {
            self.rec().last_stable_spec = rec.last_reconciled_spec.clone();
            self.st.error = None;
            self.note("Stable", "The deployment is stable: its job is running");
        }
        let stable = ReconciledSpec::parse(rec.last_stable_spec.as_deref())
            .ok()
            .flatten();
        let since = self.now - rec.reconciliation_timestamp.unwrap_or(self.now);
        if self.s.rollback
            && !ready
            && !rolled_back
            && since > self.s.readiness_timeout_ms
            && stable.is_some_and(|s| {
                rec.last_stable_spec != rec.last_reconciled_spec
                    && job_state(&s.spec) == JobState::Running
            })
        {
            self.warn(
                "Rollback",
                format!(
                    "The spec did not become ready within {} s \
                     (kubernetes.operator.deployment.readiness.timeout): rolling back to the \
                     last stable spec",
                    self.s.readiness_timeout_ms / 1000
                ),
            );
            self.rec().state = Some(ReconciliationState::RollingBack);
            self.rec().reconciliation_timestamp = Some(self.now);
            self.transition(last);
            return;
        }
        if app && job == Some(JobStatusState::Failed) && self.st.error.is_none() {
            self.st.error =
                Some("the job failed; see the JobManager's /jobs/<id>/exceptions".into());
        }
        self.requeue = if ready {
            self.s.reconcile_interval
        } else {
            self.s.progress_interval
        };
    }

    /// A transition is in progress towards the reconciled spec (or, rolling
    /// back, the last stable one).
    fn transition(&mut self, mut last: ReconciledSpec) {
        let rec = self.st.reconciliation_status.clone().unwrap_or_default();
        let rolling_back = rec.state == Some(ReconciliationState::RollingBack);
        // The user changed the spec again: that spec is the target now (a
        // rollback is given up for it).
        let diff = spec_diff::diff(&last.spec, &self.spec_json);
        if diff != DiffType::Ignore {
            match self.r.valid.get() {
                Ok(()) => last = self.begin_upgrade(&last, diff),
                Err(e) if !rolling_back => self.invalid(e),
                Err(_) => {}
            }
        }
        let rolling_back = self.st.reconciliation_status.as_ref().and_then(|r| r.state)
            == Some(ReconciliationState::RollingBack);
        let (target, mode) = if rolling_back {
            let stable = ReconciledSpec::parse(rec.last_stable_spec.as_deref())
                .ok()
                .flatten()
                .map_or(last.spec.clone(), |s| s.spec);
            let mode = match upgrade_mode(&stable) {
                UpgradeMode::Stateless => UpgradeMode::Stateless,
                _ => UpgradeMode::LastState,
            };
            (stable, mode)
        } else {
            let mode = last
                .resource_metadata
                .upgrade_mode
                .unwrap_or_else(|| upgrade_mode(&last.spec));
            (last.spec.clone(), mode)
        };
        let fingerprint = spec_diff::fingerprint(&target);
        let suspended = job_state(&target) == JobState::Suspended;
        let cluster = self.seen.cluster.clone();
        let cluster_job = self.cluster_job();
        let (current, next) = (self.current(), self.next());
        self.requeue = self.s.progress_interval;
        match &cluster.deployment {
            Some(d)
                if !d.deleting
                    && !suspended
                    && d.annotations.get(SPEC_ANNOTATION) == Some(&fingerprint)
                    && cluster_job == next.clone().or(current.clone()) =>
            {
                self.st = self.deployed(self.st.clone(), rolling_back);
            }
            Some(d) if d.deleting => {}
            Some(_) => self.stop_old(mode),
            None if !cluster.jobmanager_pods.is_empty() => {}
            None => self.start_new(&last, target, mode, suspended, fingerprint, rolling_back),
        }
    }

    /// The status once the target spec runs.
    fn deployed(&self, mut st: FlinkDeploymentStatus, rolling_back: bool) -> FlinkDeploymentStatus {
        // What went wrong before (a failing JobManager, a failed savepoint)
        // is behind: the target runs now.
        st.error = None;
        let rec = st
            .reconciliation_status
            .get_or_insert_with(Default::default);
        let next = rec.next_job_id.take();
        rec.state = Some(if rolling_back {
            ReconciliationState::RolledBack
        } else {
            ReconciliationState::Deployed
        });
        rec.reconciliation_timestamp = Some(self.now);
        if let Some(id) = next {
            let job = st.job_status.get_or_insert_with(Default::default);
            job.job_id = Some(id);
            job.state = Some(JobStatusState::Reconciling);
        }
        st
    }

    /// The cluster still runs something else than the target: stop it.
    fn stop_old(&mut self, mode: UpgradeMode) {
        let cluster_job = self.cluster_job();
        let next = self.next();
        // The next job already ran (the operator stopped before recording
        // its deployment): its own state is the one to carry now.
        if cluster_job.is_some() && cluster_job == next {
            self.rec().next_job_id = None;
            self.job().job_id = cluster_job.clone();
        }
        let captured = self.next().is_some();
        let current = self.current();
        match (captured, &cluster_job) {
            (false, Some(job))
                if Some(job) == current.as_ref() && mode == UpgradeMode::Savepoint =>
            {
                let job = job.clone();
                self.savepoint_stop(&job);
            }
            _ => {
                let how = match mode {
                    _ if captured => "its state is recorded",
                    UpgradeMode::LastState => "its latest checkpoint is kept",
                    UpgradeMode::Savepoint => {
                        "the job is not running, so its latest checkpoint is used"
                    }
                    UpgradeMode::Stateless => "stateless",
                };
                self.note(
                    "Suspending",
                    format!("Deleting the JobManager Deployment ({how})"),
                );
                self.actions.push(Action::DeleteCluster);
            }
        }
    }

    /// Savepoint mode, the old job is ours: stop it with a savepoint.
    fn savepoint_stop(&mut self, job_id: &str) {
        let running = matches!(&self.seen.job, JobSeen::Seen(j) if j.state == "RUNNING");
        let step = upgrade::savepoint_step(
            self.st.job_status.as_ref(),
            &self.seen.savepoint,
            running,
            self.now,
            self.s.savepoint_timeout_ms,
        );
        let now = self.now;
        match step {
            SavepointStep::Trigger(trigger_id) => {
                upgrade::record_trigger(self.job(), &trigger_id, now);
                self.note(
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
                self.job().state = Some(JobStatusState::Finished);
                self.rec().next_job_id = Some(id);
                self.note(
                    "SavepointCompleted",
                    format!("Upgrade savepoint completed: {location}"),
                );
                self.actions.push(Action::DeleteCluster);
            }
            SavepointStep::Failed(reason) => self.savepoint_failed(job_id, &reason),
            SavepointStep::NotRunning => {
                self.savepoint_impossible(job_id, "the job is not running")
            }
        }
    }

    fn savepoint_failed(&mut self, job_id: &str, reason: &str) {
        upgrade::clear_trigger(self.job());
        self.savepoint_impossible(job_id, &format!("the upgrade savepoint failed: {reason}"));
    }

    fn savepoint_impossible(&mut self, job_id: &str, why: &str) {
        if self.s.last_state_fallback {
            self.warn(
                "SavepointFailed",
                format!(
                    "Job {job_id}: {why}; upgrading from its latest checkpoint instead \
                     (kubernetes.operator.job.upgrade.last-state-fallback.enabled)"
                ),
            );
            self.actions.push(Action::DeleteCluster);
        } else {
            let e = format!(
                "Job {job_id}: {why}; the upgrade waits and tries again (set \
                 kubernetes.operator.job.upgrade.last-state-fallback.enabled to go on from the \
                 latest checkpoint)"
            );
            self.warn("SavepointFailed", e.clone());
            self.st.error = Some(e);
        }
    }

    /// The old cluster is gone: fix the state the next job starts from, then
    /// create the new cluster (unless the target is suspended).
    fn start_new(
        &mut self,
        last: &ReconciledSpec,
        target: Value,
        mode: UpgradeMode,
        suspended: bool,
        fingerprint: String,
        rolling_back: bool,
    ) {
        let app = has_job(&target);
        let rec = self.st.reconciliation_status.clone().unwrap_or_default();
        if app && rec.next_job_id.is_none() {
            let current = self.current();
            let own_start = self.start_state();
            let path = if last.resource_metadata.savepoint_redeploy && !rolling_back {
                target
                    .pointer("/job/initialSavepointPath")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            } else {
                match (mode, &current) {
                    (UpgradeMode::Stateless, _) => None,
                    (_, None) => own_start,
                    (_, Some(job)) => match &self.seen.last_state {
                        Some(ls) if &ls.job_id == job => match &ls.location {
                            Some(loc) => {
                                self.note(
                                    "LastState",
                                    format!(
                                        "Job {job} resumes from {loc} (found in {})",
                                        ls.source
                                    ),
                                );
                                Some(loc.clone())
                            }
                            None => own_start,
                        },
                        _ => {
                            self.needs_last_state = Some(job.clone());
                            return;
                        }
                    },
                }
            };
            let id = next_job_id(self.r.uid, current.as_deref(), self.r.generation);
            self.job().upgrade_savepoint_path = path;
            self.rec().next_job_id = Some(id);
        }
        if suspended {
            let now = self.now;
            let rec = self.rec();
            rec.state = Some(ReconciliationState::Deployed);
            rec.reconciliation_timestamp = Some(now);
            if app {
                self.job().state = Some(JobStatusState::Suspended);
            }
            self.note(
                "Suspended",
                "The job is suspended; its state is kept for resuming",
            );
            self.actions.push(Action::DeleteHaData);
            self.requeue = self.s.reconcile_interval;
            return;
        }
        let st = self.st.clone();
        let next = self.next();
        let restore_from = if app { self.start_state() } else { None };
        self.note(
            "Deploying",
            match (&next, &restore_from) {
                (Some(id), Some(p)) => format!("Deploying the cluster; job {id} starts from {p}"),
                (Some(id), None) => format!("Deploying the cluster; job {id} starts without state"),
                _ => "Deploying the session cluster".to_string(),
            },
        );
        self.actions.push(Action::DeleteHaData);
        self.actions.push(Action::Deploy(DeployOrder {
            spec: target,
            job_id: next,
            restore_from,
            fingerprint,
        }));
        self.after = Some(self.deployed(st, rolling_back));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_kubernetes::native::observe::DeploymentState;

    fn status(state: ReconciliationState, jm: JobManagerDeploymentStatus) -> FlinkDeploymentStatus {
        FlinkDeploymentStatus {
            job_manager_deployment_status: Some(jm),
            reconciliation_status: Some(ReconciliationStatus {
                state: Some(state),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running() -> ClusterState {
        ClusterState {
            deployment: Some(DeploymentState {
                replicas: 1,
                ready_replicas: 1,
                ..Default::default()
            }),
            jobmanager_pods: Vec::new(),
        }
    }

    #[test]
    fn the_cache_stands_for_a_read_only_in_a_settled_state_it_confirms() {
        use JobManagerDeploymentStatus::{DeployedNotReady, Deploying, Missing, Ready};
        use ReconciliationState::{Deployed, RolledBack, RollingBack, Upgrading};
        let gone = ClusterState::default();
        // Settled and confirmed: a suspended resource without a cluster, a
        // running one with its cluster.
        assert!(cache_is_current(Some(&status(Deployed, Missing)), &gone));
        assert!(cache_is_current(Some(&status(Deployed, Ready)), &running()));
        assert!(cache_is_current(
            Some(&status(RolledBack, Ready)),
            &running()
        ));
        // The cache disagrees with the status: a cluster deleted by hand or
        // a watch behind the apiserver.
        assert!(!cache_is_current(Some(&status(Deployed, Ready)), &gone));
        assert!(!cache_is_current(
            Some(&status(Deployed, Missing)),
            &running()
        ));
        // A JobManager on its way to ready: read until both show it ready.
        let starting = ClusterState {
            deployment: Some(DeploymentState {
                replicas: 1,
                ..Default::default()
            }),
            jobmanager_pods: Vec::new(),
        };
        assert!(!cache_is_current(
            Some(&status(RolledBack, Deploying)),
            &starting
        ));
        assert!(!cache_is_current(Some(&status(Deployed, Ready)), &starting));
        assert!(!cache_is_current(
            Some(&status(Deployed, DeployedNotReady)),
            &running()
        ));
        // A transition runs: the operator's own writes may not be in the
        // cache yet.
        assert!(!cache_is_current(Some(&status(Upgrading, Missing)), &gone));
        assert!(!cache_is_current(
            Some(&status(RollingBack, Ready)),
            &running()
        ));
        // Nothing reconciled yet (created suspended): nothing deployed, so
        // a cache without a cluster is right, one with a cluster is checked.
        assert!(cache_is_current(None, &gone));
        assert!(cache_is_current(
            Some(&FlinkDeploymentStatus::default()),
            &gone
        ));
        assert!(!cache_is_current(None, &running()));
    }
}
