//! `riffle run` and `riffle explain`.
//!
//! `riffle run FILE.sql` runs the job on the embedded mini-cluster
//! ([`MiniCluster`]); with `-m HOST:PORT` it submits to a session cluster.
//! The live progress line is drawn only where it cannot mix with printed
//! rows (see [`crate::progress`]).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use riffle_common::config::{
    Configuration, Origin, SAVEPOINT_IGNORE_UNCLAIMED_STATE, SAVEPOINT_PATH,
};
use riffle_jobmanager::job::JobStatus;
use riffle_runtime::metrics::JobMetrics;
use riffle_sql::Session;

use crate::minicluster::MiniCluster;
use crate::progress::{Progress, RowOutput};

/// Arguments of `riffle run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The SQL file: DDL, SET statements and one or more INSERTs (they form one job).
    pub file: PathBuf,
    /// Parallelism of every operator (same as -D parallelism.default=N).
    #[arg(short = 'p', long)]
    pub parallelism: Option<usize>,
    /// Where to run (-m, --target) and the configuration entries (-D) of the job.
    #[command(flatten)]
    pub cluster: crate::client::Target,
    /// Never show the live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// With -m or --target: return after submission instead of waiting for the job's end.
    #[arg(short = 'd', long)]
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

/// The job's configuration before its script: config file, properties
/// variables, `-D`, then the command's own flags.
fn config_from(
    parallelism: Option<usize>,
    define: &[String],
    savepoint: Option<&str>,
    allow_non_restored_state: bool,
) -> Result<Configuration> {
    let mut config = crate::config_cmd::load(define)?;
    crate::config_cmd::set_parallelism(&mut config, parallelism);
    if let Some(path) = savepoint {
        config.set_from(
            SAVEPOINT_PATH,
            path,
            Origin::Flag {
                flag: "--fromSavepoint".into(),
            },
        );
    }
    if allow_non_restored_state {
        config.set_from(
            SAVEPOINT_IGNORE_UNCLAIMED_STATE,
            "true",
            Origin::Flag {
                flag: "--allowNonRestoredState".into(),
            },
        );
    }
    Ok(config)
}

fn read(file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file)
        .with_context(|| format!("cannot read SQL file '{}'", file.display()))
}

/// Plans and runs a file's job, showing progress.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let sql = read(&args.file)?;
    let remote = args.cluster.remote_address()?;
    if args.detached && remote.is_none() {
        anyhow::bail!(
            "-d/--detached needs a cluster to submit to: -m HOST:PORT or --target kubernetes-session"
        );
    }
    if let Some(jm) = &remote {
        // Only what this command sets travels: the cluster has its own file.
        let mut sent = Configuration::new();
        for d in &args.cluster.define {
            sent.set_pair(d, Origin::Dynamic)?;
        }
        if let Some(path) = &args.from_savepoint {
            sent.set_from(SAVEPOINT_PATH, path.clone(), Origin::Dynamic);
        }
        if args.allow_non_restored_state {
            sent.set_from(SAVEPOINT_IGNORE_UNCLAIMED_STATE, "true", Origin::Dynamic);
        }
        for warning in sent.warnings() {
            tracing::warn!("{warning}");
        }
        let pairs: Vec<(String, String)> = sent
            .entries()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        return crate::client::submit(jm, sql, args.parallelism, &pairs, args.detached);
    }
    let config = config_from(
        args.parallelism,
        &args.cluster.define,
        args.from_savepoint.as_deref(),
        args.allow_non_restored_state,
    )?;
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
    let rows = row_output(
        session.catalog.tables.values().map(|t| &t.ddl.options),
        !script.query_columns.is_empty(),
    );
    let show = crate::progress::should_draw(
        args.quiet,
        std::io::stderr().is_terminal(),
        std::io::stdout().is_terminal(),
        rows,
    );
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
                "Job '{}' cancelled after {:.1} s: {} records read, {} records written.",
                job.name,
                elapsed.as_secs_f64(),
                read,
                written
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

/// Where a job prints its rows, from the `WITH` options of the script's
/// tables and whether it has bare `SELECT`s (printed to standard output).
/// Every `print` table counts: the connector only writes, so a script
/// declares one to insert into it.
fn row_output<'a>(
    tables: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
    bare_selects: bool,
) -> RowOutput {
    let mut rows = RowOutput {
        stdout: bare_selects,
        stderr: false,
    };
    for options in tables {
        if options.get("connector").map(|c| c.trim()) != Some("print") {
            continue;
        }
        let to_stderr = options
            .get("standard-error")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        if to_stderr {
            rows.stderr = true;
        } else {
            rows.stdout = true;
        }
    }
    rows
}

/// Prints the plans of a file's job.
pub fn explain(args: ExplainArgs) -> Result<ExitCode> {
    let sql = read(&args.file)?;
    let mut session = Session::new(config_from(args.parallelism, &args.define, None, false)?);
    let text = session
        .explain_script(&sql, &Arc::new(JobMetrics::default()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rows_are_printed_by_print_tables_and_bare_selects() {
        let print = options(&[("connector", "print")]);
        let print_err = options(&[("connector", "print"), ("standard-error", " True ")]);
        let print_not_err = options(&[("connector", "print"), ("standard-error", "false")]);
        let blackhole = options(&[("connector", "blackhole")]);
        let nexmark = options(&[("connector", "nexmark")]);
        let out = |stdout, stderr| RowOutput { stdout, stderr };

        assert_eq!(row_output([&nexmark, &blackhole], false), out(false, false));
        assert_eq!(row_output([&nexmark, &blackhole], true), out(true, false));
        assert_eq!(row_output([&nexmark, &print], false), out(true, false));
        assert_eq!(row_output([&print_not_err], false), out(true, false));
        assert_eq!(row_output([&print_err], false), out(false, true));
        assert_eq!(row_output([&print_err, &print], false), out(true, true));
    }
}
