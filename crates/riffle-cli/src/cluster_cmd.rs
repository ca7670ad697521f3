//! The cluster processes: `riffle jobmanager`, `riffle taskmanager` and
//! `riffle standalone-job`, configured like Flink's (`config.yaml` in
//! `RIFFLE_CONF_DIR` or `FLINK_CONF_DIR`, `FLINK_PROPERTIES`,
//! `RIFFLE_PROPERTIES`, `-D key=value`), resolved once at start-up.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use riffle_common::config::{
    self as keys, ClusterConfig, Configuration, HighAvailability, KubernetesHa, Origin,
    SAVEPOINT_IGNORE_UNCLAIMED_STATE, SAVEPOINT_PATH, load_cluster_config_from_env,
};
use riffle_jobmanager::SubmitError;
use riffle_jobmanager::job::{JobSpec, JobStatus, OnRecordedResult};
use riffle_jobmanager::{JobManager, JobManagerOptions, JobManagerState};

use crate::leading::{self, Contender, Ended};
use crate::native_cmd::NativeJobManager;
use riffle_rpc::{JobId, ResourceId};
use riffle_taskmanager::{TaskManager, TaskManagerOptions};

/// Arguments of `riffle jobmanager` and `riffle taskmanager`.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// A configuration entry, Flink's key=value form; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Accepted for compatibility with Flink's scripts (always in the foreground).
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

/// Arguments of `riffle standalone-job`.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// The job's SQL file.
    #[arg(long = "job-file")]
    pub job_file: std::path::PathBuf,
    /// The job id (32 hex characters).
    #[arg(long = "job-id", conflicts_with = "job_id_seed")]
    pub job_id: Option<String>,
    /// Derive the job id from this text, so it is stable across restarts.
    #[arg(long = "job-id-seed")]
    pub job_id_seed: Option<String>,
    /// A configuration entry; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Start from this savepoint (execution.savepoint.path); used when the
    /// job has no checkpoint of its own yet.
    #[arg(short = 's', long = "fromSavepoint", value_name = "PATH")]
    pub from_savepoint: Option<String>,
    /// Skip savepoint state of operators the job no longer has
    /// (execution.savepoint.ignore-unclaimed-state).
    #[arg(short = 'n', long = "allowNonRestoredState")]
    pub allow_non_restored_state: bool,
    /// Run the job even though the job result store records that its id
    /// already ended: the recorded result and the job's checkpoints are
    /// deleted first. Without it such a job reports its result and exits.
    #[arg(long)]
    pub rerun: bool,
}

/// A process's configuration: as collected (jobs start from it) and resolved.
#[derive(Clone)]
pub struct Loaded {
    /// File, variables and `-D`, with origins.
    pub collected: Configuration,
    /// The same, typed.
    pub cluster: ClusterConfig,
}

/// Loads and resolves the cluster configuration; unknown keys are warned about once.
pub fn cluster_config(define: &[String]) -> Result<Loaded> {
    load_with(define, |_| {})
}

/// [`cluster_config`] with entries from the command's own flags set by `extra`.
fn load_with(define: &[String], extra: impl FnOnce(&mut Configuration)) -> Result<Loaded> {
    let loaded = load_cluster_config_from_env(define)
        .context("cannot load the configuration")
        .and_then(|mut collected| {
            extra(&mut collected);
            let cluster = ClusterConfig::resolve(&collected).context("invalid configuration")?;
            // Job keys are checked now too, so a bad value fails at start, not at the first job.
            collected.validate().context("invalid configuration")?;
            Ok(Loaded { collected, cluster })
        });
    // Log in the configured format from here on; a broken configuration is
    // still reported (as text) before the process exits.
    let format = loaded
        .as_ref()
        .map_or(riffle_common::LogFormat::Text, |l| l.cluster.log_format);
    crate::logging::init(format, "info");
    let loaded = loaded?;
    for warning in loaded.collected.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(loaded)
}

fn start_jobmanager(loaded: Loaded) -> Result<JobManager> {
    start_jobmanager_with(loaded, None)
}

fn start_jobmanager_with(
    loaded: Loaded,
    job_store: Option<Arc<dyn riffle_jobmanager::ha::HaStore>>,
) -> Result<JobManager> {
    let c = &loaded.cluster;
    let options = JobManagerOptions {
        rpc_bind: c.jobmanager_bind_host.clone(),
        rpc_port: c.jobmanager_rpc_port,
        rest_bind: c.rest_bind_address.clone(),
        rest_port: *c.rest_bind_port.ports().start(),
        metrics_ports: c.metrics.prometheus,
        job_store,
        config: loaded.collected,
        cluster: loaded.cluster,
    };
    JobManager::start(options).map_err(|e| anyhow::anyhow!(e))
}

/// Set once SIGTERM or SIGINT arrives: how Kubernetes (SIGTERM, then
/// SIGKILL after the grace period) and a terminal (Ctrl-C) stop a process.
fn termination_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .context("cannot install the SIGTERM/SIGINT handler")?;
    }
    Ok(flag)
}

/// Sleeps until `flag` is set.
fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metrics_note(port: Option<u16>) -> String {
    port.map(|p| format!(", metrics on port {p}"))
        .unwrap_or_default()
}

/// `riffle jobmanager`: runs until SIGTERM or SIGINT.
pub fn jobmanager(args: ProcessArgs) -> Result<ExitCode> {
    let terminate = termination_flag()?;
    let loaded = cluster_config(&args.define)?;
    let native = NativeJobManager::of(&loaded.collected)?;
    if let HighAvailability::Kubernetes(ha) = &loaded.cluster.high_availability {
        return highly_available_jobmanager(loaded.clone(), ha, native, &terminate);
    }
    let config = loaded.collected.clone();
    let jm = start_jobmanager(loaded)?;
    tracing::info!(
        "JobManager running: RPC port {}, REST API at http://{}{}",
        jm.rpc_port,
        jm.state.rest_address,
        metrics_note(jm.metrics_port)
    );
    if let Some(native) = &native {
        native.start_resource_manager(&config, &jm)?;
    }
    wait_for(&terminate);
    tracing::info!("JobManager stopping (signal received)");
    Ok(ExitCode::SUCCESS)
}

/// `riffle jobmanager` with `high-availability.type: kubernetes`: a standby
/// until it wins the Lease, then the session's leader, which runs the jobs
/// the previous leader recorded.
fn highly_available_jobmanager(
    loaded: Loaded,
    ha: &KubernetesHa,
    native: Option<NativeJobManager>,
    terminate: &AtomicBool,
) -> Result<ExitCode> {
    let contender = Contender::join(ha)?;
    if !contender.wait_until_leading(terminate)? {
        tracing::info!("JobManager stopping (signal received) while standing by");
        return Ok(ExitCode::SUCCESS);
    }
    let store = contender.claim_job_store(&loaded.cluster)?;
    let jm = leading::start_when_bound(|| {
        start_jobmanager_with(loaded.clone(), Some(Arc::clone(&store) as _))
    })?;
    tracing::info!(
        "JobManager leading: RPC port {}, REST API at http://{}{}",
        jm.rpc_port,
        jm.state.rest_address,
        metrics_note(jm.metrics_port)
    );
    if let Some(native) = &native {
        native.start_resource_manager(&loaded.collected, &jm)?;
    }
    jm.state.recover_jobs();
    match contender.lead(terminate) {
        Ended::Stopped => {
            tracing::info!("JobManager stopping (signal received); the Lease is released");
            Ok(ExitCode::SUCCESS)
        }
        Ended::LostLeadership => bail!(
            "this JobManager lost the leadership (another one leads now); exiting so that it \
             starts again as a standby"
        ),
    }
}

/// `riffle taskmanager`: runs until SIGTERM or SIGINT, then leaves the cluster cleanly.
pub fn taskmanager(args: ProcessArgs) -> Result<ExitCode> {
    let terminate = termination_flag()?;
    let c = cluster_config(&args.define)?.cluster;
    let resource_id = match &c.taskmanager_resource_id {
        Some(s) => ResourceId::from_name(s),
        None => ResourceId::random(),
    };
    let options = TaskManagerOptions {
        resource_id,
        jobmanager: format!("{}:{}", c.jobmanager_rpc_address, c.jobmanager_rpc_port),
        host: c.taskmanager_host.clone(),
        bind_host: c.taskmanager_bind_host.clone(),
        data_port: c.taskmanager_data_port,
        slots: c.slots,
        heartbeat_interval: Duration::from_millis(c.heartbeat_interval_ms.unsigned_abs()),
        heartbeat_timeout: Duration::from_millis(c.heartbeat_timeout_ms.unsigned_abs()),
        metrics_ports: c.metrics.prometheus,
    };
    let tm = TaskManager::start(options).context("cannot start the TaskManager")?;
    tracing::info!(
        "TaskManager {} running: data port {}{}",
        tm.resource_id(),
        tm.data_port(),
        metrics_note(tm.metrics_port())
    );
    wait_for(&terminate);
    // Cancel the tasks and leave the JobManager now, so it restarts the
    // affected jobs at once instead of after heartbeat.timeout.
    tracing::info!("TaskManager stopping (signal received): cancelling its tasks");
    tm.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// `riffle standalone-job`: a JobManager that runs exactly one job and exits with it.
/// Keeps the REST API up after the job ended until every finished savepoint
/// or checkpoint request has had its result fetched once (at most
/// `rest.async.store-duration`), as Flink's dispatcher does: `stop` ends the
/// job with its savepoint, and the client still has to learn the path.
fn await_fetched_results(state: &JobManagerState, id: JobId, terminate: &AtomicBool) {
    let limit = Duration::from_millis(
        u64::try_from(state.cluster.rest_async_store_duration_ms).unwrap_or(0),
    );
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        let pending = state.unfetched_results(id);
        if pending.is_empty() || terminate.load(Ordering::Relaxed) {
            return;
        }
        if started.elapsed() >= limit {
            tracing::warn!(
                "exiting with {} operation result(s) of job {id} never fetched: {}",
                pending.len(),
                pending.join(", ")
            );
            return;
        }
        if !announced {
            tracing::info!(
                "waiting (at most {limit:?}, rest.async.store-duration) for the result of {} \
                 to be fetched before exiting",
                pending.join(", ")
            );
            announced = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn standalone_job(args: StandaloneArgs) -> Result<ExitCode> {
    let terminate = termination_flag()?;
    let loaded = load_with(&args.define, |c| {
        if let Some(path) = &args.from_savepoint {
            c.set_from(
                SAVEPOINT_PATH,
                path.clone(),
                Origin::Flag {
                    flag: "--fromSavepoint".into(),
                },
            );
        }
        if args.allow_non_restored_state {
            c.set_from(
                SAVEPOINT_IGNORE_UNCLAIMED_STATE,
                "true",
                Origin::Flag {
                    flag: "--allowNonRestoredState".into(),
                },
            );
        }
    })?;
    let script = std::fs::read_to_string(&args.job_file)
        .with_context(|| format!("cannot read job file '{}'", args.job_file.display()))?;
    let fixed_id = loaded.collected.opt_text(keys::PIPELINE_FIXED_JOB_ID)?;
    let id = match (&args.job_id, &args.job_id_seed, &fixed_id) {
        (Some(id), _, _) => id.parse::<JobId>()?,
        (None, Some(seed), _) => JobId::from_seed(seed),
        (None, None, Some(id)) => id
            .parse::<JobId>()
            .with_context(|| keys::PIPELINE_FIXED_JOB_ID.to_string())?,
        (None, None, None) => JobId::random(),
    };
    // An operator reads the job's end (and its final savepoint) from the
    // REST API before it removes the cluster itself.
    let shutdown_on_finish = loaded
        .collected
        .flag(keys::SHUTDOWN_ON_APPLICATION_FINISH)?;
    let job_config = loaded.collected.clone();
    let native = NativeJobManager::of(&loaded.collected)?;
    // With Kubernetes HA a standby application JobManager waits for the
    // Lease; the job id and checkpoints carry the job over between leaders.
    let contender = match &loaded.cluster.high_availability {
        HighAvailability::Kubernetes(ha) => {
            let contender = Contender::join(ha)?;
            if !contender.wait_until_leading(&terminate)? {
                return Ok(ExitCode::from(143));
            }
            Some(contender)
        }
        HighAvailability::None => None,
    };
    // The leader claims the HA ConfigMap: clients (and the operator) find
    // its REST address there, and the job's checkpoints are recorded in it.
    let jm = match &contender {
        Some(c) => {
            let store = c.claim_job_store(&loaded.cluster)?;
            leading::start_when_bound(|| {
                start_jobmanager_with(loaded.clone(), Some(Arc::clone(&store) as _))
            })?
        }
        None => start_jobmanager(loaded)?,
    };
    tracing::info!(
        "JobManager running job {id}: RPC port {}, REST API at http://{}{}",
        jm.rpc_port,
        jm.state.rest_address,
        metrics_note(jm.metrics_port)
    );
    if let Some(native) = &native {
        native.start_resource_manager(&job_config, &jm)?;
    }
    let job_ended = || {
        if !shutdown_on_finish {
            tracing::info!(
                "Job {id} ended; the cluster stays up (execution.shutdown-on-application-finish \
                 is false) until it is deleted"
            );
            while !terminate.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
            }
            return;
        }
        if let Some(native) = &native {
            native.job_ended();
        }
    };
    let on_recorded_result = if args.rerun {
        OnRecordedResult::RunAnew
    } else {
        OnRecordedResult::Report
    };
    let submitted = jm.state.submit_spec(JobSpec {
        id,
        script,
        config: job_config,
        on_recorded_result,
    });
    match submitted {
        Ok(_) => {}
        // A job that already ended is not run again (a restarted pod, a
        // second launch): its recorded result is the process's result.
        Err(SubmitError::AlreadyEnded(recorded)) => {
            let result = &recorded.result;
            tracing::info!(
                "Job {id} already ended: {} (recorded in {}). It is not run again; pass \
                 --rerun to run it anew.",
                result.describe(),
                recorded.location
            );
            job_ended();
            if result.state == JobStatus::Finished {
                return Ok(ExitCode::SUCCESS);
            }
            bail!(
                "job {id} ended in state {} (recorded in {})",
                result.describe(),
                recorded.location
            );
        }
        Err(e) => bail!("{}: {e}", args.job_file.display()),
    }
    // The process exits once the job's end is recorded and cleaned up, so
    // a start after this exit finds the result and does not run it again.
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(c) = &contender
            && !c.is_leading()
        {
            bail!(
                "this JobManager lost the leadership (another one leads now); job {id} goes on \
                 there from its latest checkpoint"
            );
        }
        if terminate.load(Ordering::Relaxed) {
            if let Some(c) = &contender {
                c.resign();
            }
            // Stopped from outside (a deleted pod): the job did not end, so
            // nothing is recorded and its checkpoints stay; the next start
            // with the same job id resumes from the latest one. A non-zero
            // status keeps a Kubernetes Job from counting this as success.
            tracing::info!(
                "JobManager stopping (signal received); job {id} keeps its checkpoints and \
                 resumes from the latest one when started again with the same job id"
            );
            return Ok(ExitCode::from(143));
        }
        match jm.state.ended(id) {
            Some(s) => {
                await_fetched_results(&jm.state, id, &terminate);
                if let Some(c) = &contender {
                    c.resign();
                }
                job_ended();
                if s == JobStatus::Finished {
                    tracing::info!("Job {id} finished.");
                    return Ok(ExitCode::SUCCESS);
                }
                bail!("job {id} ended in state {}", s.name())
            }
            None if jm.state.job_status(id).is_none() => bail!("job {id} vanished"),
            None => {}
        }
    }
}
