//! Native Kubernetes mode at the command line: `riffle kubernetes-session`
//! and `riffle run-application --target kubernetes-application` create a
//! cluster through the Kubernetes API (Flink's `kubernetes-session.sh` and
//! `flink run-application`); `--target kubernetes-session` on the client
//! commands finds a cluster by its id; a JobManager started by native mode
//! runs the resource manager that creates its TaskManager pods, and an
//! application's JobManager deletes its cluster when the job ends.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use riffle_common::config::{
    self as keys, Configuration, Origin, SAVEPOINT_IGNORE_UNCLAIMED_STATE, SAVEPOINT_PATH,
};
use riffle_jobmanager::JobManager;
use riffle_kubernetes::Kube;
use riffle_kubernetes::native::descriptor::{self, JobSource};
use riffle_kubernetes::native::objects::Unset;
use riffle_kubernetes::native::spec::NativeSpec;
use riffle_kubernetes::native::{deploy, workers::TaskManagerPods};

/// Flink's `kubernetes.*` keys Riffle does not act on, with what to use instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "kubernetes.secrets",
        "mount Secrets with a pod template (kubernetes.pod-template-file.*)",
    ),
    (
        "kubernetes.env.secretKeyRef",
        "set env from Secrets with a pod template (kubernetes.pod-template-file.*)",
    ),
    (
        "kubernetes.jobmanager.owner.reference",
        "Riffle's objects are owned by the JobManager Deployment",
    ),
    (
        "kubernetes.entry.path",
        "the image's entry point is the riffle binary",
    ),
    (
        "kubernetes.flink.conf.dir",
        "the configuration is mounted at /opt/riffle/conf",
    ),
    (
        "kubernetes.hadoop.conf.config-map.name",
        "Riffle does not use Hadoop",
    ),
    (
        "kubernetes.jobmanager.entrypoint.args",
        "use a pod template or -D keys",
    ),
    (
        "kubernetes.taskmanager.entrypoint.args",
        "use a pod template or -D keys",
    ),
];

/// Warns about Flink Kubernetes keys that Riffle accepts but does not act on.
fn warn_unsupported(config: &Configuration) {
    for (key, _) in config.entries() {
        if let Some((_, instead)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
            tracing::warn!("'{key}' is a Flink key Riffle does not support: {instead}");
        }
    }
}

/// Arguments of `riffle kubernetes-session`.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// A configuration entry (kubernetes.cluster-id is required); repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
}

/// Arguments of `riffle run-application`.
#[derive(Debug, clap::Args)]
pub struct ApplicationArgs {
    /// The job's SQL file: a path on this machine (shipped in the cluster's
    /// ConfigMap) or local:///path of a file in the image.
    pub file: String,
    /// Where to run: kubernetes-application.
    #[arg(short = 't', long = "target", value_name = "TARGET")]
    pub target: String,
    /// A configuration entry (kubernetes.cluster-id is required); repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Parallelism of every operator (same as -D parallelism.default=N).
    #[arg(short = 'p', long)]
    pub parallelism: Option<usize>,
    /// Start from this savepoint (execution.savepoint.path).
    #[arg(short = 's', long = "fromSavepoint", value_name = "PATH")]
    pub from_savepoint: Option<String>,
    /// Skip savepoint state of operators the job no longer has.
    #[arg(short = 'n', long = "allowNonRestoredState")]
    pub allow_non_restored_state: bool,
}

/// Connects as a client to the namespace the configuration names.
fn client_kube(config: &Configuration) -> Result<Kube> {
    Ok(Kube::connect_client(
        config.opt_text(keys::KUBERNETES_NAMESPACE)?.as_deref(),
        config.opt_text(keys::KUBERNETES_CONFIG_FILE)?.as_deref(),
        config.opt_text(keys::KUBERNETES_CONTEXT)?.as_deref(),
    )?)
}

/// Creates a native cluster from the client's configuration.
fn create(config: &Configuration, job: Option<JobSource>) -> Result<(Kube, NativeSpec)> {
    config.validate().context("invalid configuration")?;
    warn_unsupported(config);
    let spec = NativeSpec::resolve(config)?;
    let kube = client_kube(config)?;
    let d =
        descriptor::describe(config, &spec, kube.namespace(), job).map_err(anyhow::Error::msg)?;
    deploy::create_cluster(&kube, &spec, &d)?;
    Ok((kube, spec))
}

/// `riffle kubernetes-session`: creates a session cluster and returns.
pub fn kubernetes_session(args: SessionArgs) -> Result<ExitCode> {
    let config = crate::config_cmd::load(&args.define)?;
    let (kube, spec) = create(&config, None)?;
    let (id, ns) = (&spec.cluster_id, kube.namespace());
    println!("Created Riffle session cluster {id} in namespace {ns}.");
    if let Ok(endpoint) = deploy::rest_endpoint(&kube, id) {
        println!("JobManager REST endpoint: http://{endpoint}");
    }
    println!(
        "Submit a job:  riffle run --target kubernetes-session -Dkubernetes.cluster-id={id} \
         -Dkubernetes.namespace={ns} job.sql"
    );
    println!("Delete it:     kubectl -n {ns} delete deployment/{id}");
    Ok(ExitCode::SUCCESS)
}

/// `riffle run-application --target kubernetes-application`: creates an
/// application cluster for one job and returns.
pub fn run_application(args: ApplicationArgs) -> Result<ExitCode> {
    if args.target != "kubernetes-application" {
        bail!(
            "run-application supports --target kubernetes-application (got '{}'); to run on \
             this machine use `riffle run`",
            args.target
        );
    }
    let mut config = crate::config_cmd::load(&args.define)?;
    crate::config_cmd::set_parallelism(&mut config, args.parallelism);
    if let Some(path) = &args.from_savepoint {
        config.set_from(
            SAVEPOINT_PATH,
            path.clone(),
            Origin::Flag { flag: "-s".into() },
        );
    }
    if args.allow_non_restored_state {
        config.set_from(
            SAVEPOINT_IGNORE_UNCLAIMED_STATE,
            "true",
            Origin::Flag { flag: "-n".into() },
        );
    }
    let job = match args.file.strip_prefix("local://") {
        Some(path) => JobSource::InImage(path.to_string()),
        None => {
            let path = PathBuf::from(&args.file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read SQL file '{}'", path.display()))?;
            // Parsed here first, so a syntax error fails now, not in a pod
            // (planning waits for the pod: paths in the script are the pod's).
            riffle_sql::parse_statements(&text).with_context(|| format!("{}", path.display()))?;
            JobSource::Shipped(text)
        }
    };
    let (kube, spec) = create(&config, Some(job))?;
    let (id, ns) = (&spec.cluster_id, kube.namespace());
    println!(
        "Created Riffle application cluster {id} in namespace {ns}; it deletes itself when \
         the job ends."
    );
    println!(
        "Follow it:   riffle list --target kubernetes-application -Dkubernetes.cluster-id={id} \
         -Dkubernetes.namespace={ns}"
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether a target names a native cluster.
pub fn is_native_target(target: &str) -> bool {
    matches!(target, "kubernetes-session" | "kubernetes-application")
}

/// The REST address of the native cluster the configuration's
/// `kubernetes.cluster-id` names.
pub fn rest_address(define: &[String]) -> Result<String> {
    let config = crate::config_cmd::load(define)?;
    let id = config
        .opt_text(keys::KUBERNETES_CLUSTER_ID)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--target kubernetes-* needs the cluster's id: -Dkubernetes.cluster-id=<id>"
            )
        })?;
    let kube = client_kube(&config)?;
    Ok(deploy::rest_endpoint(&kube, &id)?)
}

/// What a JobManager process does in native mode.
pub struct NativeJobManager {
    kube: Kube,
    cluster_id: String,
    application: bool,
}

impl NativeJobManager {
    /// `Some` when the process was started by native mode
    /// (`execution.target` kubernetes-session or kubernetes-application).
    pub fn of(config: &Configuration) -> Result<Option<NativeJobManager>> {
        let target = config.opt_enum(keys::EXECUTION_TARGET)?;
        let Some(target) = target.filter(|t| is_native_target(t)) else {
            return Ok(None);
        };
        let id = config
            .opt_text(keys::KUBERNETES_CLUSTER_ID)?
            .ok_or_else(|| {
                anyhow::anyhow!("execution.target {target} needs kubernetes.cluster-id")
            })?;
        let kube = Kube::connect(config.opt_text(keys::KUBERNETES_NAMESPACE)?.as_deref())
            .context("execution.target is a native Kubernetes target")?;
        Ok(Some(NativeJobManager {
            kube,
            cluster_id: id,
            application: target == "kubernetes-application",
        }))
    }

    /// Starts the resource manager: TaskManager pods for the jobs' slots.
    pub fn start_resource_manager(&self, config: &Configuration, jm: &JobManager) -> Result<()> {
        let spec = NativeSpec::resolve(config)?;
        let unset = Unset {
            rest_address: false,
            taskmanager_host: config.get(keys::TASKMANAGER_HOST).is_none(),
        };
        let pods = TaskManagerPods::new(self.kube.clone(), spec, unset)?;
        let worker_spec = pods.worker_spec();
        tracing::info!(
            cluster_id = %self.cluster_id,
            slots_per_taskmanager = worker_spec.slots_per_worker,
            idle_timeout_ms = worker_spec.idle_timeout_ms,
            "native Kubernetes resource manager starting"
        );
        riffle_jobmanager::resources::start_pool(
            Arc::clone(&jm.state.shared),
            Arc::new(pods),
            worker_spec,
        )
        .context("cannot start the resource manager thread")
    }

    /// An application cluster removes itself once its job ended (Flink's
    /// application mode); a session cluster stays.
    pub fn job_ended(&self) {
        if !self.application {
            return;
        }
        tracing::info!(
            deployment = %self.cluster_id,
            "the application's job ended: deleting the cluster"
        );
        if let Err(e) = deploy::delete_cluster(&self.kube, &self.cluster_id) {
            tracing::error!(error = %e, "cannot delete the application cluster; delete Deployment {} by hand", self.cluster_id);
        }
    }
}
