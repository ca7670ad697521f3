//! `riffle operator`: the Kubernetes operator's commands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// Arguments of `riffle operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    command: OperatorCommand,
}

#[derive(Debug, clap::Subcommand)]
enum OperatorCommand {
    /// Print the resources' field reference (Markdown), generated from the
    /// resource types.
    Reference,
    /// Run the operator: reconcile FlinkDeployments in the watched
    /// namespaces (kubernetes.operator.watched.namespaces) until stopped.
    /// Its configuration (config.yaml, RIFFLE_PROPERTIES, -D) holds the
    /// kubernetes.operator.* settings and the defaults of every cluster.
    Run {
        /// A configuration entry; repeatable.
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        define: Vec<String>,
        /// Create or upgrade the operator's CRDs first (Helm never upgrades CRDs).
        #[arg(long)]
        install_crds: bool,
    },
    /// Print the operator's CustomResourceDefinitions (FlinkDeployment,
    /// FlinkSessionJob, FlinkStateSnapshot in riffle.dev) for `kubectl apply -f -`.
    Crds {
        /// Write one file per CRD into this directory instead.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
}

impl OperatorArgs {
    /// `riffle operator run`: a long-running process that starts its own
    /// logging once its configuration is read.
    pub fn is_server(&self) -> bool {
        matches!(self.command, OperatorCommand::Run { .. })
    }
}

/// Runs `riffle operator ...`.
pub fn operator(args: OperatorArgs) -> Result<ExitCode> {
    match args.command {
        OperatorCommand::Crds { write } => crds(write),
        OperatorCommand::Reference => {
            print!("{}", riffle_operator::crd::reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::Run {
            define,
            install_crds,
        } => {
            // Loaded (and logging started, at info) as a cluster process's.
            let config = crate::cluster_cmd::cluster_config(&define)?.collected;
            riffle_operator::run(riffle_operator::RunOptions {
                config,
                install_crds,
                on_settled: Some(drop_settled_pages),
            })
            .context("the operator stopped")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Once the operator's work has settled: the code and data it ran for
/// start-up or for checking new specs need not stay resident.
fn drop_settled_pages() {
    match crate::footprint::release_executable_pages() {
        Ok(bytes) => tracing::debug!(bytes, "the executable's start-up pages released"),
        Err(e) => tracing::debug!(error = %e, "the executable's pages stay resident"),
    }
}

fn crds(write: Option<PathBuf>) -> Result<ExitCode> {
    let mut documents = Vec::new();
    for crd in riffle_operator::crd::crds() {
        let (name, text) =
            riffle_operator::crd::crd_file(&crd).context("cannot serialize a CRD")?;
        match &write {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let path = dir.join(&name);
                std::fs::write(&path, &text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            None => documents.push(text),
        }
    }
    if write.is_none() {
        print!("{}", documents.join("---\n"));
    }
    Ok(ExitCode::SUCCESS)
}
