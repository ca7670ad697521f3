//! `riffle run` and `riffle explain`.
//!
//! `riffle run FILE.sql` runs the job on the embedded mini-cluster
//! ([`MiniCluster`]); with `-m HOST:PORT` it submits to a session cluster.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use riffle_common::config::{Configuration, PARALLELISM_DEFAULT};
use riffle_jobmanager::job::JobStatus;
use riffle_runtime::metrics::JobMetrics;
use riffle_sql::Session;

use crate::minicluster::MiniCluster;
use crate::progress::Progress;

/// Arguments of `riffle run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The SQL file: DDL, SET statements and one or more INSERTs (they form one job).
    pub file: PathBuf,
    /// Parallelism of every operator (same as -D parallelism.default=N).
    #[arg(short = 'p', long)]
    pub parallelism: Option<usize>,
    /// A configuration entry, Flink's key=value form; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Never show the live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Submit to the JobManager at this REST address (host:port) instead of running embedded.
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub jobmanager: Option<String>,
    /// With -m: return after submission instead of waiting for the job's end.
    #[arg(short = 'd', long, requires = "jobmanager")]
    pub detached: bool,
    /// Start from this savepoint (execution.savepoint.path).
    #[arg(short = 's', long = "fromSavepoint", value_name = "PATH")]
    pub from_savepoint: Option<String>,
    /// Skip savepoint state of operators the job no longer has.
    #[arg(short = 'n', long = "allowNonRestoredState")]
    pub allow_non_restored_state: bool,
}

/// Arguments of `riffle explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The SQL file.
    pub file: PathBuf,
    /// Parallelism (as in `run`).
    #[arg(short = 'p', long)]
    pub parallelism: Option<usize>,
    /// A configuration entry; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
}

fn config_from(parallelism: Option<usize>, define: &[String]) -> Result<Configuration> {
    let mut config = Configuration::new();
    for d in define {
        config.set_pair(d)?;
    }
    if let Some(p) = parallelism {
        config.set(PARALLELISM_DEFAULT, p.to_string());
    }
    for k in config.unknown_keys() {
        tracing::warn!(key = %k, "configuration key is not used by Riffle");
    }
    Ok(config)
}

fn read(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file)
        .with_context(|| format!("cannot read SQL file '{}'", file.display()))
}

/// Plans and runs a file's job, showing progress.
pub fn run(mut args: RunArgs) -> Result<ExitCode> {
    let sql = read(&args.file)?;
    if let Some(path) = &args.from_savepoint {
        args.define
            .push(format!("{}={path}", riffle_common::config::SAVEPOINT_PATH));
    }
    if args.allow_non_restored_state {
        args.define.push(format!(
            "{}=true",
            riffle_common::config::SAVEPOINT_IGNORE_UNCLAIMED_STATE
        ));
    }
    if let Some(jm) = &args.jobmanager {
        let mut pairs = Vec::new();
        for d in &args.define {
            let (k, v) = d
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("-D {d}: expected key=value"))?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        let target = crate::client::Target {
            jobmanager: jm.clone(),
        };
        return crate::client::submit(&target, sql, args.parallelism, &pairs, args.detached);
    }
    let config = config_from(args.parallelism, &args.define)?;
    // Planned here first: errors name the file, EXPLAIN and SET print, and
    // the graph says how many slots the embedded cluster needs.
    let mut session = Session::new(config.clone());
    let script = session
        .run_script(&sql, &Arc::new(JobMetrics::default()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    for m in &script.messages {
        println!("{m}");
    }
    let Some(job) = script.job else {
        eprintln!(
            "{}: no INSERT or SELECT statement, nothing to run",
            args.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let slots = job
        .vertices
        .iter()
        .map(|v| v.parallelism)
        .max()
        .unwrap_or(1);
    let cluster = MiniCluster::start(&config, slots)?;
    let started = std::time::Instant::now();
    let id = cluster
        .submit(&sql, &config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::Relaxed));
    }
    let show = !args.quiet && std::io::stderr().is_terminal();
    let progress = Progress::start(cluster.metrics_fn(id), show);
    // Ctrl-C cancels the job through the JobManager, as `riffle cancel` would.
    let status = loop {
        if interrupted.load(Ordering::Relaxed) {
            cluster.cancel(id);
            break cluster.wait(id)?;
        }
        match cluster.wait_for(id, std::time::Duration::from_millis(50))? {
            Some(s) => break s,
            None => continue,
        }
    };
    let elapsed = progress.stop();
    let (read, written) = cluster
        .metrics(id)
        .map(|m| {
            (
                m.source_records.load(Ordering::Relaxed),
                m.sink_records.load(Ordering::Relaxed),
            )
        })
        .unwrap_or_default();
    match status {
        JobStatus::Finished => {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "Job '{}' finished in {:.2} s: {} records read ({:.0} records/s), {} records written.",
                job.name,
                secs,
                read,
                read as f64 / secs,
                written
            );
            Ok(ExitCode::SUCCESS)
        }
        JobStatus::Canceled if interrupted.load(Ordering::Relaxed) => {
            eprintln!(
                "Job '{}' cancelled after {:.1} s.",
                job.name,
                elapsed.as_secs_f64()
            );
            Ok(ExitCode::from(130))
        }
        other => Err(anyhow::anyhow!(
            "job '{}' failed: {}",
            job.name,
            cluster
                .failure(id)
                .unwrap_or_else(|| format!("it ended in state {}", other.name()))
        )),
    }
}

/// Prints the plans of a file's job.
pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let sql = read(&args.file)?;
    let mut session = Session::new(config_from(args.parallelism, &args.define)?);
    let text = session
        .explain_script(&sql, &Arc::new(JobMetrics::default()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}
