//! Commands that talk to a running JobManager over its REST API, with the
//! flags and output of Flink's `flink` CLI: `list`, `cancel`, `info`,
//! `savepoint`, `stop`, `checkpoint` and `run -m` (submission through
//! Riffle's SQL endpoint).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Where the cluster is: `-m HOST:PORT`, or `--target kubernetes-session
/// -Dkubernetes.cluster-id=ID` for a native Kubernetes cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The JobManager's REST address (host:port) to connect to (default:
    /// rest.address and rest.port of the configuration, as `flink` does;
    /// for `run`, the embedded mini-cluster).
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub jobmanager: Option<String>,
    /// kubernetes-session or kubernetes-application: find the native cluster
    /// named by -Dkubernetes.cluster-id through the Kubernetes API.
    #[arg(
        short = 't',
        long = "target",
        value_name = "TARGET",
        conflicts_with = "jobmanager"
    )]
    pub target: Option<String>,
    /// A configuration entry, Flink's key=value form (kubernetes.cluster-id,
    /// kubernetes.namespace, ...); repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
}

/// The REST address of `--target`: a native Kubernetes cluster's, found by
/// its id, or for `remote` the configured one; `None` without a target.
pub fn target_address(target: Option<&str>, define: &[String]) -> Result<Option<String>> {
    match target {
        None => Ok(None),
        Some("remote") => configured_address(define).map(Some),
        Some(t) if crate::native_cmd::is_native_target(t) => {
            crate::native_cmd::rest_address(define).map(Some)
        }
        Some(other) => bail!(
            "unknown --target '{other}': use kubernetes-session, kubernetes-application or \
             remote (or -m HOST:PORT)"
        ),
    }
}

/// `rest.address:rest.port` of the configuration (`RIFFLE_CONF_DIR` or
/// `FLINK_CONF_DIR`, the properties variables, `-D`), else Flink's default
/// `localhost:8081`.
fn configured_address(define: &[String]) -> Result<String> {
    let loaded = riffle_common::config::load_cluster_config_from_env(define)
        .context("cannot load the configuration to find the JobManager (or pass -m HOST:PORT)")?;
    let cluster = riffle_common::ClusterConfig::resolve(&loaded)
        .context("invalid configuration (or pass -m HOST:PORT)")?;
    Ok(format!("{}:{}", cluster.rest_address, cluster.rest_port))
}

impl Target {
    /// `-m`, else the cluster of `--target`; `None` without either (a
    /// command that then runs embedded).
    pub fn remote_address(&self) -> Result<Option<String>> {
        match &self.jobmanager {
            Some(m) => Ok(Some(m.clone())),
            None => target_address(self.target.as_deref(), &self.define),
        }
    }

    /// The address to connect to: `-m`, else the cluster of `--target`,
    /// else the configured one.
    pub fn address(&self) -> Result<String> {
        match self.remote_address()? {
            Some(address) => Ok(address),
            None => configured_address(&self.define),
        }
    }
}

/// Arguments of `riffle list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: Target,
    /// Show running and restarting jobs.
    #[arg(short = 'r', long)]
    pub running: bool,
    /// Show scheduled jobs.
    #[arg(short = 's', long)]
    pub scheduled: bool,
    /// Show all jobs, finished ones included.
    #[arg(short = 'a', long)]
    pub all: bool,
}

/// Arguments of `riffle cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub target: Target,
    /// The job to cancel.
    pub job_id: String,
}

/// Arguments of `riffle info`.
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub target: Target,
}

/// Arguments of `riffle savepoint`.
#[derive(Debug, clap::Args)]
pub struct SavepointArgs {
    #[command(flatten)]
    pub target: Target,
    /// The job to take a savepoint of.
    #[arg(required_unless_present = "dispose")]
    pub job_id: Option<String>,
    /// Where the savepoint goes (else execution.checkpointing.savepoint-dir).
    pub target_directory: Option<String>,
    /// Delete the savepoint at this path instead.
    #[arg(
        short = 'd',
        long = "dispose",
        value_name = "PATH",
        conflicts_with = "job_id"
    )]
    pub dispose: Option<String>,
    /// Return after triggering instead of waiting for the savepoint.
    #[arg(long)]
    pub detached: bool,
}

/// Arguments of `riffle stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub target: Target,
    /// The job to stop.
    pub job_id: String,
    /// Where the savepoint goes (else execution.checkpointing.savepoint-dir).
    #[arg(short = 'p', long = "savepointPath", value_name = "DIR")]
    pub savepoint_path: Option<String>,
    /// Complete all event time first (fires every window) before the savepoint.
    #[arg(short = 'd', long = "drain")]
    pub drain: bool,
    /// Return after triggering instead of waiting for the savepoint.
    #[arg(long)]
    pub detached: bool,
}

/// Arguments of `riffle checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub target: Target,
    /// The job to checkpoint.
    pub job_id: String,
    /// Take a full checkpoint (Riffle's checkpoints are always full).
    #[arg(long)]
    pub full: bool,
}

/// A JobManager's REST API.
pub(crate) struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of `address` (`host:port` or a URL).
    pub(crate) fn new(address: &str) -> Client {
        let base = if address.starts_with("http") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", address.trim_end_matches('/'))
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client { base, agent }
    }

    fn answer(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut r = r.with_context(|| {
            format!(
                "cannot reach the JobManager at {} ({what}); is it running?",
                self.base
            )
        })?;
        let status = r.status();
        let body: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        if !status.is_success() {
            let errors = body["errors"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            bail!("{what} failed ({status}): {errors}");
        }
        Ok(body)
    }

    /// `GET /v1{path}`.
    pub(crate) fn get(&self, path: &str) -> Result<Value> {
        let r = self.agent.get(format!("{}/v1{path}", self.base)).call();
        self.answer(&format!("GET {path}"), r)
    }

    /// Submits a script through `POST /v1/sql/jobs`; returns the job id.
    pub(crate) fn submit_sql(&self, body: &Value) -> Result<String> {
        let r = self
            .agent
            .post(format!("{}/v1/sql/jobs", self.base))
            .send_json(body);
        let answer = self.answer("job submission", r)?;
        Ok(answer["jobid"].as_str().unwrap_or("").to_string())
    }

    /// `POST /v1{path}` with a JSON body.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .agent
            .post(format!("{}/v1{path}", self.base))
            .send_json(body);
        self.answer(&format!("POST {path}"), r)
    }

    /// Polls an asynchronous operation until it completes; returns its
    /// `operation` object, or the failure as an error.
    pub(crate) fn await_operation(&self, path: &str) -> Result<Value> {
        loop {
            let v = self.get(path)?;
            if v["status"]["id"].as_str() == Some("COMPLETED") {
                let op = v["operation"].clone();
                let failure = &op["failure-cause"];
                if !failure.is_null() {
                    let m = failure["message"]
                        .as_str()
                        .or_else(|| failure["stack-trace"].as_str())
                        .unwrap_or("unknown failure");
                    bail!("{m}");
                }
                return Ok(op);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cancels a job (`PATCH /v1/jobs/:id?mode=cancel`).
    pub(crate) fn cancel_job(&self, id: &str) -> Result<()> {
        let r = self
            .agent
            .patch(format!("{}/v1/jobs/{id}?mode=cancel", self.base))
            .send_empty();
        self.answer("cancel", r).map(drop)
    }
}

fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%d.%m.%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `riffle list`.
pub fn list(args: ListArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    println!("Waiting for response...");
    let body = client.get("/jobs/overview")?;
    let jobs = body["jobs"].as_array().cloned().unwrap_or_default();
    let (mut running, mut scheduled, mut terminated) = (Vec::new(), Vec::new(), Vec::new());
    for j in &jobs {
        let state = j["state"].as_str().unwrap_or("");
        match state {
            "CREATED" | "INITIALIZING" => scheduled.push(j),
            "FINISHED" | "FAILED" | "CANCELED" => terminated.push(j),
            _ => running.push(j),
        }
    }
    let by_start = |v: &mut Vec<&Value>| v.sort_by_key(|j| j["start-time"].as_i64().unwrap_or(0));
    by_start(&mut running);
    by_start(&mut scheduled);
    by_start(&mut terminated);
    let line = |j: &Value| {
        format!(
            "{} : {} : {} ({})",
            format_time(j["start-time"].as_i64().unwrap_or(0)),
            j["jid"].as_str().unwrap_or(""),
            j["name"].as_str().unwrap_or(""),
            j["state"].as_str().unwrap_or("")
        )
    };
    let (show_running, show_scheduled) = if args.all || (!args.running && !args.scheduled) {
        (true, true)
    } else {
        (args.running, args.scheduled)
    };
    let section = |title: &str, list: &[&Value], empty: &str| {
        if list.is_empty() {
            println!("{empty}");
        } else {
            println!("{title}");
            for j in list {
                println!("{}", line(j));
            }
            println!("--------------------------------------------------------------");
        }
    };
    if show_running {
        section(
            "------------------ Running/Restarting Jobs -------------------",
            &running,
            "No running jobs.",
        );
    }
    if show_scheduled {
        section(
            "----------------------- Scheduled Jobs -----------------------",
            &scheduled,
            "No scheduled jobs.",
        );
    }
    if args.all {
        section(
            "---------------------- Terminated Jobs -----------------------",
            &terminated,
            "No terminated jobs.",
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `riffle cancel`.
pub fn cancel(args: CancelArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    println!("Cancelling job {}.", args.job_id);
    client.cancel_job(&args.job_id)?;
    println!("Cancelled job {}.", args.job_id);
    Ok(ExitCode::SUCCESS)
}

fn trigger_id(v: &Value) -> Result<String> {
    v["request-id"]
        .as_str()
        .map(str::to_string)
        .context("the JobManager's answer has no request-id")
}

/// `riffle savepoint`: trigger (and wait for) a savepoint, or dispose one.
pub fn savepoint(args: SavepointArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    if let Some(path) = &args.dispose {
        println!("Disposing savepoint '{path}'.");
        let t =
            trigger_id(&client.post("/savepoint-disposal", &json!({ "savepoint-path": path }))?)?;
        println!("Waiting for response...");
        client
            .await_operation(&format!("/savepoint-disposal/{t}"))
            .with_context(|| format!("disposing savepoint '{path}' failed"))?;
        println!("Savepoint '{path}' disposed.");
        return Ok(ExitCode::SUCCESS);
    }
    let job = args.job_id.as_deref().unwrap_or_default();
    println!("Triggering savepoint for job {job}.");
    let body = json!({
        "target-directory": args.target_directory,
        "cancel-job": false,
        "formatType": "CANONICAL",
    });
    let t = trigger_id(&client.post(&format!("/jobs/{job}/savepoints"), &body)?)?;
    if args.detached {
        println!("Savepoint has been triggered with trigger id {t}.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Waiting for response...");
    let op = client
        .await_operation(&format!("/jobs/{job}/savepoints/{t}"))
        .with_context(|| format!("triggering a savepoint for job {job} failed"))?;
    println!(
        "Savepoint completed. Path: {}",
        op["location"].as_str().unwrap_or_default()
    );
    println!("You can resume your program from this savepoint with the run command.");
    Ok(ExitCode::SUCCESS)
}

/// `riffle stop`: stop a job with a savepoint.
pub fn stop(args: StopArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    let job = &args.job_id;
    println!("Suspending job \"{job}\" with a CANONICAL savepoint.");
    let body = json!({
        "targetDirectory": args.savepoint_path,
        "drain": args.drain,
        "formatType": "CANONICAL",
    });
    let t = trigger_id(&client.post(&format!("/jobs/{job}/stop"), &body)?)?;
    if args.detached {
        println!("Stop-with-savepoint has been triggered with trigger id {t}.");
        return Ok(ExitCode::SUCCESS);
    }
    let op = client
        .await_operation(&format!("/jobs/{job}/savepoints/{t}"))
        .with_context(|| format!("stopping job {job} with a savepoint failed"))?;
    println!(
        "Savepoint completed. Path: {}",
        op["location"].as_str().unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// `riffle checkpoint`: take a checkpoint now.
pub fn checkpoint(args: CheckpointArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    let job = &args.job_id;
    let kind = if args.full { "FULL" } else { "CONFIGURED" };
    println!("Triggering checkpoint for job {job}.");
    let t = trigger_id(&client.post(
        &format!("/jobs/{job}/checkpoints"),
        &json!({ "checkpointType": kind }),
    )?)?;
    println!("Waiting for response...");
    let op = client
        .await_operation(&format!("/jobs/{job}/checkpoints/{t}"))
        .with_context(|| format!("triggering a checkpoint for job {job} failed"))?;
    println!("Checkpoint {} for job {job} completed.", op["checkpointId"]);
    println!("You can resume your program from this checkpoint with the run command.");
    Ok(ExitCode::SUCCESS)
}

/// `riffle info`: the cluster overview.
pub fn info(args: InfoArgs) -> Result<ExitCode> {
    let client = Client::new(&args.target.address()?);
    let o = client.get("/overview")?;
    println!(
        "TaskManagers: {}, slots: {} total, {} available; jobs: {} running, {} finished, {} cancelled, {} failed",
        o["taskmanagers"],
        o["slots-total"],
        o["slots-available"],
        o["jobs-running"],
        o["jobs-finished"],
        o["jobs-cancelled"],
        o["jobs-failed"]
    );
    Ok(ExitCode::SUCCESS)
}

/// `riffle run -m`: submits a script; waits for the end unless `detached`.
pub fn submit(
    address: &str,
    script: String,
    parallelism: Option<usize>,
    config: &[(String, String)],
    detached: bool,
) -> Result<ExitCode> {
    let client = Client::new(address);
    let conf: serde_json::Map<String, Value> = config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut body = json!({ "script": script, "flinkConfiguration": conf });
    if let Some(p) = parallelism {
        body["parallelism"] = json!(p);
    }
    let id = client.submit_sql(&body)?;
    println!("Job has been submitted with JobID {id}");
    if detached {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let s = client.get(&format!("/jobs/{id}/status"))?;
        match s["status"].as_str().unwrap_or("") {
            "FINISHED" => {
                println!("Job {id} finished.");
                return Ok(ExitCode::SUCCESS);
            }
            st @ ("FAILED" | "CANCELED") => {
                let ex = client.get(&format!("/jobs/{id}/exceptions"))?;
                let cause = ex["exceptionHistory"]["entries"][0]["stacktrace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                bail!(
                    "job {id} ended in state {st}{}",
                    if cause.is_empty() {
                        String::new()
                    } else {
                        format!(": {cause}")
                    }
                );
            }
            _ => {}
        }
    }
}
