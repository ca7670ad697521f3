//! The JobManager: the process that coordinates a cluster.
//!
//! Place in the system: TaskManagers register here and heartbeat
//! ([`rpc`]); jobs arrive as SQL scripts through the REST API ([`rest`]) or,
//! in application mode, at start-up; the JobManager plans each script to
//! learn its vertices, places the subtasks into free slots and deploys them,
//! and follows task states to the job's end. Failures (a task error, a lost
//! TaskManager) restart the job per its restart strategy. The rules live in
//! [`cluster`], free of I/O; this module wires them to sockets and a clock.

pub mod checkpoints;
pub mod cluster;
pub mod coordination;
pub mod ha;
pub mod job;
pub mod metrics;
pub mod resources;
pub mod rest;
pub mod restore;
pub mod result_store;
pub mod results;
pub mod rpc;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use riffle_common::config::{ClusterConfig, Configuration, Origin, PortRange};
use riffle_common::restart::RestartTracker;
use riffle_rpc::{JobId, ResourceId};
use riffle_runtime::metrics::JobMetrics;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, Timeouts, new_job};
use crate::job::{JobSpec, JobStatus, OnRecordedResult, VertexInfo};
use crate::rpc::{Connections, Shared};

/// The Flink REST API version this server follows (for `flink-version` fields).
pub const FLINK_API_VERSION: &str = "2.3.0";

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The body of `POST /v1/sql/jobs`; also what a highly available session
/// keeps of each job for the next leader.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSubmission {
    /// The SQL script: DDL, SET statements and INSERTs.
    pub script: String,
    /// A job id to use (32 hex), else random.
    #[serde(rename = "jobId")]
    pub job_id: Option<String>,
    /// Default parallelism of the job.
    pub parallelism: Option<usize>,
    /// Extra configuration for this job.
    #[serde(rename = "flinkConfiguration", default)]
    pub flink_configuration: BTreeMap<String, String>,
}

/// Why a submission was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The script or options are wrong.
    #[error("{0}")]
    Invalid(String),
    /// A job with that id exists.
    #[error("{0}")]
    Conflict(String),
    /// The job result store records that a job with that id already ended.
    #[error(
        "Job {} already reached the globally terminal state {} (recorded in {}); \
         it is not run again: submit it with another job id",
        .0.result.job_id,
        .0.result.describe(),
        .0.location
    )]
    AlreadyEnded(Box<result_store::Recorded>),
}

/// Everything the REST handlers and background threads share.
pub struct JobManagerState {
    /// Cluster rules and connections.
    pub shared: Arc<Shared>,
    /// The cluster configuration as collected: every job's starting point.
    pub cluster_config: Configuration,
    /// The cluster configuration resolved (for `/jobmanager/config`, storage).
    pub cluster: ClusterConfig,
    /// Where the REST API listens.
    pub rest_address: String,
    /// Savepoint disposals by trigger id.
    pub disposals: Mutex<BTreeMap<String, checkpoints::Operation>>,
    /// Trigger ids whose finished result a client has fetched at least once. A
    /// process that runs one job waits for these before it exits, so that
    /// `stop` learns its savepoint's path even though the job ends with it.
    fetched_results: Mutex<BTreeSet<String>>,
}

impl JobManagerState {
    /// Plans and registers a job; it is deployed as soon as slots are free.
    /// With high availability the job is recorded for the next leader first
    /// and forgotten again when it is refused.
    pub fn submit(&self, mut req: SqlSubmission) -> Result<JobId, SubmitError> {
        let id = match &req.job_id {
            Some(s) => s
                .parse::<JobId>()
                .map_err(|e| SubmitError::Invalid(e.to_string()))?,
            None => JobId::random(),
        };
        let Some(store) = &self.shared.job_store else {
            return self.submit_new(id, req);
        };
        req.job_id = Some(id.to_string());
        store.put_job(&req).map_err(|e| {
            SubmitError::Invalid(format!(
                "cannot record job {id} for high availability, so it is not run: {e}"
            ))
        })?;
        let submitted = self.submit_new(id, req);
        if let Err(SubmitError::Invalid(_) | SubmitError::AlreadyEnded(_)) = &submitted
            && let Err(e) = store.remove_job(id)
        {
            tracing::warn!(job_id = %id, error = %e, "cannot forget a refused job in the HA store");
        }
        submitted
    }

    /// Runs the jobs a previous leader recorded (this JobManager just
    /// became leader): each resumes from its latest checkpoint; one whose
    /// end is already recorded is forgotten.
    pub fn recover_jobs(&self) {
        let Some(store) = &self.shared.job_store else {
            return;
        };
        let jobs = match store.jobs() {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the submitted jobs from the HA store; none recovered");
                return;
            }
        };
        for job in jobs {
            let Some(id) = job.job_id.as_deref().and_then(|s| s.parse::<JobId>().ok()) else {
                tracing::warn!(job_id = ?job.job_id, "a recorded job without a valid id is skipped");
                continue;
            };
            match self.submit_new(id, job) {
                Ok(_) => tracing::info!(job_id = %id, "recovered a job of the previous leader"),
                Err(SubmitError::AlreadyEnded(recorded)) => {
                    tracing::info!(job_id = %id, result = %recorded.result.describe(), "a recorded job already ended; forgetting it");
                    if let Err(e) = store.remove_job(id) {
                        tracing::warn!(job_id = %id, error = %e, "cannot forget an ended job in the HA store");
                    }
                }
                Err(SubmitError::Conflict(_)) => {}
                Err(e) => {
                    tracing::error!(job_id = %id, error = %e, "cannot recover a job of the previous leader")
                }
            }
        }
    }

    fn submit_new(&self, id: JobId, req: SqlSubmission) -> Result<JobId, SubmitError> {
        let mut config = self.cluster_config.clone();
        for (k, v) in &req.flink_configuration {
            config.set_from(k.clone(), v.clone(), Origin::Submission);
            if let Some(warning) = config.warning_for(k) {
                tracing::warn!(job_id = %id, "{warning}");
            }
        }
        if let Some(p) = req.parallelism {
            config.set_from(
                riffle_common::config::PARALLELISM_DEFAULT,
                p.to_string(),
                Origin::Submission,
            );
        }
        let spec = JobSpec {
            id,
            script: req.script,
            config,
            on_recorded_result: OnRecordedResult::Report,
        };
        self.submit_spec(spec)
    }

    /// Plans and registers a job from a spec.
    pub fn submit_spec(&self, spec: JobSpec) -> Result<JobId, SubmitError> {
        // Planned on riffle-sql's planner thread (its large stack, not this
        // REST worker's, takes whatever the script nests).
        let script = riffle_sql::Session::new(spec.config.clone())
            .plan(&spec.script, &Arc::new(JobMetrics::default()))
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        let mut graph = script.job.ok_or_else(|| {
            SubmitError::Invalid(
                "the script has no INSERT or SELECT statement: nothing to run".into(),
            )
        })?;
        // Resolved once by the planner session, SETs included: the restart
        // strategy, checkpoint settings and storage all come from here.
        let config = Arc::clone(&graph.config);
        let job_id = spec.id;
        graph
            .apply_parallelism_overrides(
                |i| riffle_rpc::ids::vertex_id(job_id, i).to_string(),
                &config.execution.parallelism_overrides,
            )
            .map_err(SubmitError::Invalid)?;
        let max_parallelism = config.execution.max_parallelism;
        self.check_result_store(&spec, &config)?;
        let restore = self.find_restore(&spec, &graph)?;
        let vertices: Vec<VertexInfo> = graph
            .vertices
            .iter()
            .map(|v| VertexInfo {
                id: riffle_rpc::ids::vertex_id(spec.id, v.id),
                name: v.name.clone(),
                parallelism: v.parallelism,
                max_parallelism,
                inputs: graph
                    .inputs_of(v.id)
                    .map(|e| (e.from, e.partitioning.ship_strategy()))
                    .collect(),
            })
            .collect();
        let id = spec.id;
        let name = graph.name.clone();
        let result = self.shared.apply(|c, now| {
            // As Flink: a job id is run once per cluster; a finished,
            // cancelled or failed job keeps its history and result.
            if let Some(existing) = c.jobs.get(&id) {
                let message = if existing.status.is_globally_terminal() {
                    format!(
                        "Job {id} was already submitted and reached the globally terminal \
                         state {}; submit it with another job id to run it again",
                        existing.status.name()
                    )
                } else {
                    format!("Job {id} already exists and is not finished")
                };
                return (Err(SubmitError::Conflict(message)), Vec::new());
            }
            let coordinator = checkpoints::Coordinator::new(
                config.checkpointing.clone(),
                config.storage.clone(),
                restore,
                now,
            );
            let job = new_job(
                spec,
                Arc::clone(&config),
                name,
                vertices,
                RestartTracker::new(config.restart),
                coordinator,
                now,
            );
            (Ok(id), c.submit(job))
        });
        result.unwrap_or_else(|| Err(SubmitError::Invalid("JobManager state is poisoned".into())))
    }

    /// Refuses a job id the job result store records as ended, after
    /// finishing a clean-up an earlier JobManager left undone; with
    /// [`OnRecordedResult::RunAnew`] forgets the result and the job's
    /// checkpoints instead, so the job starts over.
    fn check_result_store(
        &self,
        spec: &JobSpec,
        config: &riffle_common::JobConfig,
    ) -> Result<(), SubmitError> {
        let Some(location) = &config.checkpointing.result_store else {
            return Ok(());
        };
        let invalid = |e: result_store::ResultStoreError| SubmitError::Invalid(e.to_string());
        let store =
            result_store::JobResultStore::open(location, &config.storage).map_err(invalid)?;
        let Some(recorded) = store.find(spec.id).map_err(invalid)? else {
            return Ok(());
        };
        let job_dir = config.checkpointing.job_directory(spec.id);
        match spec.on_recorded_result {
            OnRecordedResult::Report => {
                if !recorded.clean {
                    let keeps = checkpoints::retention_keeps(
                        config.checkpointing.retention,
                        recorded.result.state,
                    );
                    let deletes: Vec<String> = job_dir.into_iter().filter(|_| !keeps).collect();
                    tracing::info!(job_id = %spec.id, "finishing the clean-up of an ended job");
                    result_store::record_and_clean_up(
                        &recorded.result,
                        Some(location),
                        &deletes,
                        &config.storage,
                    );
                }
                Err(SubmitError::AlreadyEnded(Box::new(recorded)))
            }
            OnRecordedResult::RunAnew => {
                tracing::warn!(
                    job_id = %spec.id,
                    previous = %recorded.result.describe(),
                    entry = %recorded.location,
                    "running a job id that already ended again: its recorded result and checkpoints are removed"
                );
                if let Some(dir) = &job_dir {
                    if config
                        .savepoint
                        .path
                        .as_deref()
                        .is_some_and(|p| p.starts_with(dir.as_str()))
                    {
                        return Err(SubmitError::Invalid(format!(
                            "cannot run job {} anew from {}: that checkpoint is in the job's own \
                             directory {dir}, which running anew deletes; copy it elsewhere first",
                            spec.id,
                            config.savepoint.path.as_deref().unwrap_or_default()
                        )));
                    }
                    restore::delete_directory(dir, &config.storage)
                        .map_err(SubmitError::Invalid)?;
                }
                store.remove(spec.id).map_err(invalid)
            }
        }
    }

    /// What a new job restores from: the savepoint it names, else the
    /// latest checkpoint its id already has in the checkpoint directory.
    fn find_restore(
        &self,
        spec: &JobSpec,
        graph: &riffle_runtime::JobGraph,
    ) -> Result<Option<restore::RestoreSource>, SubmitError> {
        let config = &graph.config;
        let storage = &config.storage;
        let allow = config.savepoint.ignore_unclaimed_state;
        // A job that already checkpointed (a JobManager restarted with the
        // same job id) resumes from its own latest checkpoint; the savepoint
        // only seeds a job's first start, as in Flink.
        let recorded = match &self.shared.job_store {
            Some(store) => store.latest_checkpoint(spec.id).map_err(|e| {
                SubmitError::Invalid(format!(
                    "cannot read job {}'s latest checkpoint from the HA store: {e}",
                    spec.id
                ))
            })?,
            None => None,
        };
        // With high availability the recorded pointer is the truth (it was
        // written before that checkpoint's output was committed); else the
        // newest complete checkpoint in the job's directory.
        let own = match (recorded, &config.checkpointing.dir) {
            (Some(location), _) => {
                Some(restore::read_metadata(&location, storage).map_err(|e| {
                    SubmitError::Invalid(format!(
                        "cannot restore job {} from its recorded checkpoint {location}: {e}",
                        spec.id
                    ))
                })?)
            }
            (None, Some(dir)) => {
                restore::latest_checkpoint(dir, spec.id, storage).map_err(SubmitError::Invalid)?
            }
            (None, None) => None,
        };
        let found = match (own, &config.savepoint.path) {
            (Some(own), _) => restore::RestoreSource::OwnCheckpoint(own),
            (None, Some(path)) => {
                restore::RestoreSource::Savepoint(restore::read_metadata(path, storage).map_err(
                    |e| SubmitError::Invalid(format!("cannot restore from savepoint {path}: {e}")),
                )?)
            }
            (None, None) => return Ok(None),
        };
        let spec_found = found.spec();
        tracing::info!(job_id = %spec.id, location = %spec_found.location, checkpoint_id = spec_found.metadata.checkpoint_id, "restoring");
        let planned = restore::planned_operators(graph, config.execution.max_parallelism);
        let checked = |s| restore::check(s, &planned, allow).map_err(SubmitError::Invalid);
        Ok(Some(match found {
            restore::RestoreSource::OwnCheckpoint(s) => {
                restore::RestoreSource::OwnCheckpoint(checked(s)?)
            }
            restore::RestoreSource::Savepoint(s) => restore::RestoreSource::Savepoint(checked(s)?),
        }))
    }

    /// Deletes a savepoint directory (after checking it is one).
    pub fn dispose_savepoint(&self, path: &str) -> Result<(), String> {
        restore::read_metadata(path, &self.cluster.storage)?;
        restore::delete_directory(path, &self.cluster.storage)
    }

    /// Cancels a job; `Err` says why it cannot be (unknown, already ended).
    pub fn cancel(&self, id: JobId) -> Result<(), String> {
        self.shared
            .apply(|c, now| match c.cancel(id, now) {
                Ok(out) => (Ok(()), out),
                Err(e) => (Err(e), Vec::new()),
            })
            .unwrap_or_else(|| Err("JobManager state is poisoned".into()))
    }

    /// The latest failure of a job (its root cause when the job FAILED).
    pub fn last_failure(&self, id: JobId) -> Option<String> {
        let c = self.shared.cluster.lock().ok()?;
        c.jobs.get(&id)?.failures.last().map(|f| f.message.clone())
    }

    /// The final status of a job once its end is fully handled (result
    /// recorded, checkpoints cleaned up): what a process that runs one job
    /// waits for before it exits. `None` while it runs or is unknown.
    pub fn ended(&self, id: JobId) -> Option<JobStatus> {
        let c = self.shared.cluster.lock().ok()?;
        let job = c.jobs.get(&id)?;
        (job.status.is_globally_terminal() && job.checkpoints.end == checkpoints::EndHandling::Done)
            .then_some(job.status)
    }

    /// Records that a client fetched the finished result of the operation
    /// with this trigger id.
    pub(crate) fn result_fetched(&self, trigger_id: &str) {
        if let Ok(mut f) = self.fetched_results.lock() {
            f.insert(trigger_id.to_owned());
        }
    }

    /// Trigger ids of the job's finished savepoint and checkpoint requests
    /// whose result no client has fetched yet.
    pub fn unfetched_results(&self, id: JobId) -> Vec<String> {
        let Ok(c) = self.shared.cluster.lock() else {
            return Vec::new();
        };
        let Some(job) = c.jobs.get(&id) else {
            return Vec::new();
        };
        let Ok(fetched) = self.fetched_results.lock() else {
            return Vec::new();
        };
        job.checkpoints
            .operations
            .iter()
            .filter(|(t, op)| **op != checkpoints::Operation::InProgress && !fetched.contains(*t))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The status of a job, if known.
    pub fn job_status(&self, id: JobId) -> Option<JobStatus> {
        self.shared
            .cluster
            .lock()
            .ok()?
            .jobs
            .get(&id)
            .map(|j| j.status)
    }
}

/// How a JobManager is set up.
#[derive(Debug, Clone)]
pub struct JobManagerOptions {
    /// The cluster configuration as collected (every job's starting point).
    pub config: Configuration,
    /// The same, resolved.
    pub cluster: ClusterConfig,
    /// Address the RPC port binds to.
    pub rpc_bind: String,
    /// RPC port (0 = any).
    pub rpc_port: u16,
    /// Address the REST API binds to.
    pub rest_bind: String,
    /// REST port (0 = any).
    pub rest_port: u16,
    /// Ports the Prometheus endpoint may bind to (`metrics.reporter.prom.port`);
    /// `None` runs no endpoint.
    pub metrics_ports: Option<PortRange>,
    /// With high availability: where submitted jobs are kept for the next leader.
    pub job_store: Option<Arc<dyn ha::HaStore>>,
}

/// A running JobManager.
pub struct JobManager {
    /// Shared state.
    pub state: Arc<JobManagerState>,
    /// The bound RPC port.
    pub rpc_port: u16,
    /// The bound REST port.
    pub rest_port: u16,
    /// The bound Prometheus port, if the endpoint runs.
    pub metrics_port: Option<u16>,
}

impl std::fmt::Debug for JobManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobManager")
            .field("rpc_port", &self.rpc_port)
            .field("rest_port", &self.rest_port)
            .finish()
    }
}

/// Starts the Prometheus endpoint; a port that cannot be bound is logged
/// and the JobManager runs without one, as Flink's reporter does.
fn serve_metrics(bind: &str, ports: &PortRange, host: String, shared: &Arc<Shared>) -> Option<u16> {
    let shared = Arc::clone(shared);
    let cpu = riffle_common::process::CpuMeter::default();
    let render: riffle_common::prometheus::Render = Arc::new(move || {
        shared
            .cluster
            .lock()
            .map(|c| metrics::render(&c, &host, now_ms(), &cpu))
            .unwrap_or_default()
    });
    match riffle_common::prometheus::serve(bind, ports, render, None) {
        Ok(port) => Some(port),
        Err(e) => {
            tracing::warn!(ports = %ports, error = %e, "cannot start the Prometheus endpoint (metrics.reporter.prom.port)");
            None
        }
    }
}

impl JobManager {
    /// Binds the RPC and REST ports and starts serving.
    pub fn start(options: JobManagerOptions) -> Result<JobManager, String> {
        let cluster = &options.cluster;
        let timeouts = Timeouts {
            heartbeat_ms: cluster.heartbeat_timeout_ms,
            slot_request_ms: cluster.slot_request_timeout_ms,
            cancel_ms: 10_000,
        };
        let heartbeat_interval_ms = cluster.heartbeat_interval_ms.unsigned_abs();
        let rpc =
            TcpListener::bind((options.rpc_bind.as_str(), options.rpc_port)).map_err(|e| {
                format!(
                    "cannot bind the JobManager RPC port {}:{}: {e}",
                    options.rpc_bind, options.rpc_port
                )
            })?;
        let rpc_port = rpc.local_addr().map_err(|e| e.to_string())?.port();
        let rest =
            TcpListener::bind((options.rest_bind.as_str(), options.rest_port)).map_err(|e| {
                format!(
                    "cannot bind the REST port {}:{} (rest.port / rest.bind-port): {e}",
                    options.rest_bind, options.rest_port
                )
            })?;
        let rest_port = rest.local_addr().map_err(|e| e.to_string())?.port();
        rest.set_nonblocking(true).map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            cluster: Mutex::new(Cluster::new(timeouts)),
            connections: Connections::default(),
            resource_id: ResourceId::random(),
            heartbeat_interval_ms,
            storage_worker: std::sync::OnceLock::new(),
            job_store: options.job_store.clone(),
        });
        rpc::start_storage_worker(&shared).map_err(|e| e.to_string())?;
        let state = Arc::new(JobManagerState {
            shared: Arc::clone(&shared),
            cluster_config: options.config.clone(),
            cluster: cluster.clone(),
            rest_address: format!("{}:{rest_port}", options.rest_bind),
            disposals: Mutex::new(BTreeMap::new()),
            fetched_results: Mutex::new(BTreeSet::new()),
        });
        rpc::serve(rpc, Arc::clone(&shared)).map_err(|e| e.to_string())?;
        let ticker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("jm-tick".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    ticker.apply(|c, now| ((), c.tick(now)));
                }
            })
            .map_err(|e| e.to_string())?;
        let app = rest::router(Arc::clone(&state));
        std::thread::Builder::new()
            .name("jm-rest".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the REST runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(rest) {
                        Ok(l) => {
                            if let Err(e) = axum::serve(l, app).await {
                                tracing::error!(error = %e, "REST server stopped");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "cannot serve REST"),
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        let metrics_port = match &options.metrics_ports {
            Some(ports) => {
                let host = cluster.jobmanager_rpc_address.clone();
                serve_metrics(&options.rpc_bind, ports, host, &shared)
            }
            None => None,
        };
        tracing::info!(
            rpc_port,
            rest_port,
            metrics_port = %metrics_port.map_or_else(|| "off".to_string(), |p| p.to_string()),
            "JobManager started"
        );
        Ok(JobManager {
            state,
            rpc_port,
            rest_port,
            metrics_port,
        })
    }
}
