//! `riffle`: one binary, every mode a subcommand.
//!
//! Exit codes: 0 when a job finishes (bounded sources exhausted), 1 on any
//! error (the message says what to do), 130 when stopped with Ctrl-C.

mod client;
mod cluster_cmd;
mod config_cmd;
mod footprint;
mod gen_cmd;
mod leading;
mod logging;
mod minicluster;
mod native_cmd;
mod operator_cmd;
mod progress;
mod run;
mod sql_client;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: keyed state allocates and
/// frees one small block per key, and after a checkpoint's copy-on-write
/// frees many at once glibc's malloc spends a fifth of the task thread's
/// time consolidating free lists (measured with `perf`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Riffle: Flink SQL streaming in one small binary.
#[derive(Debug, Parser)]
#[command(name = "riffle", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a SQL file's job on the embedded mini-cluster (all cores of this machine).
    Run(run::RunArgs),
    /// Print the optimized logical plan and the job graph of a SQL file.
    Explain(run::ExplainArgs),
    /// Generate data files (e.g. Nexmark events as Flink JSON) for other engines to read.
    Gen(gen_cmd::GenArgs),
    /// Run a JobManager (session cluster) until killed.
    Jobmanager(cluster_cmd::ProcessArgs),
    /// Run a TaskManager until killed.
    Taskmanager(cluster_cmd::ProcessArgs),
    /// Run a JobManager for exactly one job (application / job cluster); exits with the job.
    StandaloneJob(cluster_cmd::StandaloneArgs),
    /// Create a native Kubernetes session cluster (Flink's kubernetes-session.sh).
    KubernetesSession(native_cmd::SessionArgs),
    /// Create a native Kubernetes application cluster for one job (--target kubernetes-application).
    RunApplication(native_cmd::ApplicationArgs),
    /// The Kubernetes operator's commands (its CRDs).
    Operator(operator_cmd::OperatorArgs),
    /// List the jobs of a cluster.
    List(client::ListArgs),
    /// Cancel a job.
    Cancel(client::CancelArgs),
    /// Show a cluster's overview.
    Info(client::InfoArgs),
    /// Take a savepoint of a job (or dispose one with -d PATH).
    Savepoint(client::SavepointArgs),
    /// Stop a job with a savepoint.
    Stop(client::StopArgs),
    /// Take a checkpoint of a job now.
    Checkpoint(client::CheckpointArgs),
    /// The interactive SQL client (on a cluster with -m, else embedded).
    Sql(sql_client::SqlArgs),
    /// Print the effective configuration with each value's origin (or, with
    /// --reference, every key Riffle reads).
    Config(config_cmd::ConfigArgs),
}

fn main() -> ExitCode {
    // Before the first allocation: see `footprint`.
    let huge_pages = footprint::HugePages::off();
    let cli = Cli::parse();
    if !matches!(&cli.command, Command::Operator(a) if a.is_server()) {
        huge_pages.restore();
    }
    // The cluster processes start logging once their configuration is read.
    match &cli.command {
        Command::Jobmanager(_) | Command::Taskmanager(_) | Command::StandaloneJob(_) => {}
        Command::Operator(a) if a.is_server() => {}
        // The embedded cluster's own warnings (a failed attempt, no restart)
        // repeat what the run's final error says.
        Command::Run(a) if a.cluster.jobmanager.is_none() && a.cluster.target.is_none() => {
            logging::init(
                riffle_common::LogFormat::Text,
                "warn,riffle_jobmanager=off,riffle_taskmanager=off",
            )
        }
        Command::Sql(a) if a.jobmanager.is_none() => logging::init(
            riffle_common::LogFormat::Text,
            "warn,riffle_jobmanager=off,riffle_taskmanager=off",
        ),
        _ => logging::init(riffle_common::LogFormat::Text, "warn"),
    }
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Explain(a) => run::explain(a),
        Command::Gen(a) => gen_cmd::generate(a),
        Command::Jobmanager(a) => cluster_cmd::jobmanager(a),
        Command::Taskmanager(a) => cluster_cmd::taskmanager(a),
        Command::StandaloneJob(a) => cluster_cmd::standalone_job(a),
        Command::KubernetesSession(a) => native_cmd::kubernetes_session(a),
        Command::RunApplication(a) => native_cmd::run_application(a),
        Command::Operator(a) => operator_cmd::operator(a),
        Command::List(a) => client::list(a),
        Command::Cancel(a) => client::cancel(a),
        Command::Info(a) => client::info(a),
        Command::Savepoint(a) => client::savepoint(a),
        Command::Stop(a) => client::stop(a),
        Command::Checkpoint(a) => client::checkpoint(a),
        Command::Sql(a) => sql_client::sql(a),
        Command::Config(a) => config_cmd::config(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
