//! `riffle config`: the effective configuration, each value with where it
//! came from, and the reference of every key; plus the loading every client
//! command shares.
//!
//! Without a file it shows what a cluster process started here would use
//! (config file, properties variables, `-D`). With a SQL file it shows the
//! job's configuration after the script's `SET` statements, exactly as the
//! planner resolves it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use riffle_common::config::{
    ClusterConfig, Configuration, JobConfig, Origin, PARALLELISM_DEFAULT, format_effective,
    load_cluster_config_from_env, reference_markdown,
};
use riffle_runtime::metrics::JobMetrics;
use riffle_sql::Session;

/// Arguments of `riffle config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// A SQL file whose `SET` statements apply on top (the job's view).
    pub file: Option<PathBuf>,
    /// Parallelism (as in `run`).
    #[arg(short = 'p', long)]
    pub parallelism: Option<usize>,
    /// A configuration entry, Flink's key=value form; repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Print the reference of every key (Markdown, as in docs/config.md) instead.
    #[arg(long, conflicts_with_all = ["file", "define", "parallelism"])]
    pub reference: bool,
}

/// The configuration of a command run here: config file, properties
/// variables and `-D`, in Flink's order; unknown keys are warned about.
pub fn load(define: &[String]) -> Result<Configuration> {
    let config = load_cluster_config_from_env(define).context("cannot load the configuration")?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// Sets `-p` on a configuration, naming the flag as the value's origin.
pub fn set_parallelism(config: &mut Configuration, parallelism: Option<usize>) {
    if let Some(p) = parallelism {
        config.set_from(
            PARALLELISM_DEFAULT,
            p.to_string(),
            Origin::Flag { flag: "-p".into() },
        );
    }
}

/// `riffle config`.
pub fn config(args: ConfigArgs) -> Result<ExitCode> {
    if args.reference {
        print!("{}", reference_markdown());
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = load(&args.define)?;
    set_parallelism(&mut config, args.parallelism);
    let effective = match &args.file {
        None => {
            ClusterConfig::resolve(&config)
                .context("invalid configuration")?
                .effective
        }
        Some(file) => {
            let sql = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read SQL file '{}'", file.display()))?;
            let mut session = Session::new(config);
            let script = session
                .run_script(&sql, &Arc::new(JobMetrics::default()))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            match script.job {
                Some(job) => job.config.effective.clone(),
                None => {
                    JobConfig::resolve(&session.config)
                        .with_context(|| format!("{}: invalid configuration", file.display()))?
                        .effective
                }
            }
        }
    };
    print!("{}", format_effective(&effective));
    Ok(ExitCode::SUCCESS)
}
