//! The cluster processes: `riffle jobmanager`, `riffle taskmanager` and
//! `riffle standalone-job`, configured like Flink's (`$RIFFLE_CONF_DIR/config.yaml`,
//! `RIFFLE_PROPERTIES`, `-D key=value`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use riffle_common::config::{Configuration, load_cluster_config_from_env};
use riffle_jobmanager::job::{JobSpec, JobStatus};
use riffle_jobmanager::{JobManager, JobManagerOptions};
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
}

/// Loads and checks the cluster configuration; unknown keys are warned about once.
pub fn cluster_config(define: &[String]) -> Result<Configuration> {
    let config = load_cluster_config_from_env(define);
    // Log in the configured format from here on; a broken configuration is
    // still reported (as text) before the process exits.
    let format = config
        .as_ref()
        .ok()
        .and_then(|c| c.log_format().ok())
        .unwrap_or_default();
    crate::logging::init(format, "info");
    let config = config.context("cannot load the configuration")?;
    config.validate().context("invalid configuration")?;
    for k in config.unknown_keys() {
        tracing::warn!(key = %k, "configuration key is not used by Riffle");
    }
    Ok(config)
}

fn start_jobmanager(config: Configuration) -> Result<JobManager> {
    let options = JobManagerOptions {
        rpc_bind: config.jobmanager_bind_host()?,
        rpc_port: config.jobmanager_rpc_port()?,
        rest_bind: config.rest_bind_address()?,
        rest_port: *config.rest_bind_port()?.ports().start(),
        metrics_ports: config.prometheus_endpoint()?,
        config,
    };
    JobManager::start(options).map_err(|e| anyhow::anyhow!(e))
}

fn metrics_note(port: Option<u16>) -> String {
    port.map(|p| format!(", metrics on port {p}"))
        .unwrap_or_default()
}

/// `riffle jobmanager`: runs until killed.
pub fn jobmanager(args: ProcessArgs) -> Result<ExitCode> {
    let jm = start_jobmanager(cluster_config(&args.define)?)?;
    tracing::info!(
        "JobManager running: RPC port {}, REST API at http://{}{}",
        jm.rpc_port,
        jm.state.rest_address,
        metrics_note(jm.metrics_port)
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `riffle taskmanager`: runs until killed.
pub fn taskmanager(args: ProcessArgs) -> Result<ExitCode> {
    let config = cluster_config(&args.define)?;
    let resource_id = match config.taskmanager_resource_id() {
        Some(s) => s.parse().unwrap_or_else(|_| ResourceId::from_seed(&s)),
        None => ResourceId::random(),
    };
    let options = TaskManagerOptions {
        resource_id,
        jobmanager: format!(
            "{}:{}",
            config.jobmanager_rpc_address()?,
            config.jobmanager_rpc_port()?
        ),
        host: match config.taskmanager_host()? {
            Some(h) => h,
            None => "127.0.0.1".to_string(),
        },
        bind_host: config.taskmanager_bind_host()?,
        data_port: config.taskmanager_data_port()?,
        slots: config.number_of_task_slots()?,
        heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms()? as u64),
        heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms()? as u64),
        metrics_ports: config.prometheus_endpoint()?,
    };
    let tm = TaskManager::start(options).context("cannot start the TaskManager")?;
    tracing::info!(
        "TaskManager {} running: data port {}{}",
        tm.resource_id(),
        tm.data_port(),
        metrics_note(tm.metrics_port())
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `riffle standalone-job`: a JobManager that runs exactly one job and exits with it.
pub fn standalone_job(args: StandaloneArgs) -> Result<ExitCode> {
    let mut define = args.define.clone();
    if let Some(path) = &args.from_savepoint {
        define.push(format!("{}={path}", riffle_common::config::SAVEPOINT_PATH));
    }
    if args.allow_non_restored_state {
        define.push(format!(
            "{}=true",
            riffle_common::config::SAVEPOINT_IGNORE_UNCLAIMED_STATE
        ));
    }
    let config = cluster_config(&define)?;
    let script = std::fs::read_to_string(&args.job_file)
        .with_context(|| format!("cannot read job file '{}'", args.job_file.display()))?;
    let id = match (&args.job_id, &args.job_id_seed) {
        (Some(id), _) => id.parse::<JobId>()?,
        (None, Some(seed)) => JobId::from_seed(seed),
        (None, None) => JobId::random(),
    };
    let job_config = config
        .entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let jm = start_jobmanager(config)?;
    tracing::info!(
        "JobManager running job {id}: RPC port {}, REST API at http://{}{}",
        jm.rpc_port,
        jm.state.rest_address,
        metrics_note(jm.metrics_port)
    );
    jm.state
        .submit_spec(JobSpec {
            id,
            script,
            config: job_config,
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.job_file.display()))?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        match jm.state.job_status(id) {
            Some(JobStatus::Finished) => {
                tracing::info!("Job {id} finished.");
                return Ok(ExitCode::SUCCESS);
            }
            Some(s) if s.is_globally_terminal() => {
                bail!("job {id} ended in state {}", s.name());
            }
            Some(_) => {}
            None => bail!("job {id} vanished"),
        }
    }
}
