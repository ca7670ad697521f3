//! Every key Riffle interprets, one table per concern, declared with
//! [`config_options!`](crate::config_options). Defaults are Flink's where
//! Flink has the key; keys only Riffle has start with `riffle.`.
//!
//! Keys a Flink `config.yaml` commonly carries that Riffle accepts without
//! acting on them (memory sizes, JVM options) are declared too, with a doc
//! saying so: they are checked for type and never reported as unknown.

use super::option::ValueKind::{self, *};
use super::option::{MAX_INT, OptionTable};

const DURATION: ValueKind = Duration { positive: false };
const POSITIVE_DURATION: ValueKind = Duration { positive: true };
const COUNT: ValueKind = ValueKind::int_from(1);

/// Values of `restart-strategy.type` Flink accepts, aliases included.
pub const RESTART_STRATEGY_TYPES: &[&str] = &[
    "none",
    "off",
    "disable",
    "fixed-delay",
    "fixeddelay",
    "failure-rate",
    "failurerate",
    "exponential-delay",
    "exponentialdelay",
];

/// Values of `execution.checkpointing.externalized-checkpoint-retention`.
pub const RETENTION_VALUES: &[&str] = &[
    "DELETE_ON_CANCELLATION",
    "RETAIN_ON_CANCELLATION",
    "NO_EXTERNALIZED_CHECKPOINTS",
];

/// Values of `high-availability.type` Flink knows (any case).
pub const HA_TYPES: &[&str] = &["NONE", "kubernetes", "zookeeper"];

/// Values of `kubernetes.rest-service.exposed.type`.
pub const REST_SERVICE_TYPES: &[&str] = &[
    "ClusterIP",
    "NodePort",
    "LoadBalancer",
    "Headless_ClusterIP",
];

/// Values of `kubernetes.container.image.pull-policy`.
pub const PULL_POLICIES: &[&str] = &["IfNotPresent", "Always", "Never"];

/// Values of `execution.target` Riffle acts on.
pub const EXECUTION_TARGETS: &[&str] = &[
    "local",
    "remote",
    "kubernetes-session",
    "kubernetes-application",
];

/// Values of `riffle.log.format`.
pub const LOG_FORMATS: &[&str] = &["text", "json"];

crate::config_options! {
    /// How a job is planned and run: parallelism, key groups, watermarks, SQL session settings.
    EXECUTION_OPTIONS = "Execution" {
        /// default parallelism of operators
        PARALLELISM_DEFAULT = "parallelism.default": COUNT, default Some("1"), fallback [];
        /// number of key groups, the upper bound of parallelism
        MAX_PARALLELISM = "pipeline.max-parallelism": COUNT, default Some("128"), fallback [];
        /// parallelism per job vertex, overriding the planned one: vertex:parallelism,... where a vertex is its id in the job's REST API or its index in the job graph (0 = the first; the operator's autoscaler writes indexes)
        VERTEX_PARALLELISM_OVERRIDES = "pipeline.jobvertex-parallelism-overrides": Map, default None, fallback [];
        /// how often sources emit watermarks; 0 = after every batch
        AUTO_WATERMARK_INTERVAL = "pipeline.auto-watermark-interval": DURATION, default Some("200 ms"), fallback [];
        /// the job's name (default: insert-into_ and the sink tables' names)
        PIPELINE_NAME = "pipeline.name": Text, default None, fallback [];
        /// the id of an application cluster's job (32 hex; set by the operator per deployment)
        PIPELINE_FIXED_JOB_ID = "$internal.pipeline.job-id": Text, default None, fallback [];
        /// false: an application cluster stays up after its job ended, until deleted (the operator reads the end first)
        SHUTDOWN_ON_APPLICATION_FINISH = "execution.shutdown-on-application-finish": Bool, default Some("true"), fallback [];
        /// only streaming is supported
        RUNTIME_MODE = "execution.runtime-mode": Enum(&["streaming"]), default Some("streaming"), fallback [];
        /// a source split without records for this long is idle (0 = never)
        SOURCE_IDLE_TIMEOUT = "table.exec.source.idle-timeout": DURATION, default Some("0 ms"), fallback [];
        /// the session time zone (for TIMESTAMP_LTZ and PROCTIME())
        LOCAL_TIME_ZONE = "table.local-time-zone": TimeZone, default Some("UTC"), fallback [];
        /// accepted for compatibility; Riffle always processes in batches
        MINI_BATCH_ENABLED = "table.exec.mini-batch.enabled": Bool, default Some("false"), fallback [];
        /// accepted for compatibility; no effect
        MINI_BATCH_ALLOW_LATENCY = "table.exec.mini-batch.allow-latency": DURATION, default Some("0 ms"), fallback [];
        /// accepted for compatibility; no effect
        MINI_BATCH_SIZE = "table.exec.mini-batch.size": Int { min: -1, max: i64::MAX }, default Some("-1"), fallback [];
        /// accepted for compatibility; no effect
        DISTINCT_AGG_SPLIT = "table.optimizer.distinct-agg.split.enabled": Bool, default Some("false"), fallback [];
        /// how long joins and unbounded aggregates keep a key's state after its last write (processing time; 0 = for ever); the STATE_TTL hint overrides it per input
        STATE_TTL = "table.exec.state.ttl": DURATION, default Some("0 ms"), fallback [];
        /// plan a sub-plan the job reads more than once (the same table scan, the same aggregate) once and share its output, as Flink does
        REUSE_SUB_PLAN = "table.optimizer.reuse-sub-plan-enabled": Bool, default Some("true"), fallback [];
    }
}

crate::config_options! {
    /// When and how checkpoints are taken and kept, and which savepoint a job starts from.
    CHECKPOINTING_OPTIONS = "Checkpointing" {
        /// checkpoint interval; unset or 0 = checkpointing disabled
        CHECKPOINTING_INTERVAL = "execution.checkpointing.interval": DURATION, default None, fallback [];
        /// a checkpoint still running after this long is aborted
        CHECKPOINTING_TIMEOUT = "execution.checkpointing.timeout": POSITIVE_DURATION, default Some("10 min"), fallback [];
        /// least time between the end of a checkpoint and the start of the next
        CHECKPOINTING_MIN_PAUSE = "execution.checkpointing.min-pause": DURATION, default Some("0 ms"), fallback [];
        /// checkpoints in flight at once
        CHECKPOINTING_MAX_CONCURRENT = "execution.checkpointing.max-concurrent-checkpoints": COUNT, default Some("1"), fallback [];
        /// consecutive checkpoint failures tolerated before the job fails
        CHECKPOINTING_TOLERABLE_FAILURES = "execution.checkpointing.tolerable-failed-checkpoints": Int { min: 0, max: MAX_INT }, default Some("0"), fallback [];
        /// whether completed checkpoints outlive the job
        CHECKPOINTING_RETENTION = "execution.checkpointing.externalized-checkpoint-retention": Enum(RETENTION_VALUES), default Some("NO_EXTERNALIZED_CHECKPOINTS"), fallback [];
        /// where checkpoints are written (path, file://, s3://, gs://, abfs://, az://)
        CHECKPOINTS_DIR = "execution.checkpointing.dir": Text, default None, fallback ["state.checkpoints.dir"];
        /// completed checkpoints kept
        CHECKPOINTS_NUM_RETAINED = "execution.checkpointing.num-retained": COUNT, default Some("1"), fallback ["state.checkpoints.num-retained"];
        /// default target directory of savepoints
        SAVEPOINT_DIR = "execution.checkpointing.savepoint-dir": Text, default None, fallback ["state.savepoints.dir"];
        /// the savepoint or retained checkpoint the job starts from
        SAVEPOINT_PATH = "execution.savepoint.path": Text, default None, fallback [];
        /// true: savepoint state of operators missing from the job is skipped
        SAVEPOINT_IGNORE_UNCLAIMED_STATE = "execution.savepoint.ignore-unclaimed-state": Bool, default Some("false"), fallback [];
        /// where ended jobs' results are recorded, so a job id is not run twice (default with high-availability.type kubernetes: job-result-store/ and the cluster id under high-availability.storageDir, as in Flink; otherwise job-result-store under the checkpoint directory)
        JOB_RESULT_STORE_PATH = "job-result-store.storage-path": Text, default None, fallback [];
    }
}

/// `state.checkpoints.dir`: the Flink 1 name of [`CHECKPOINTS_DIR`].
pub const STATE_CHECKPOINTS_DIR: &str = "state.checkpoints.dir";
/// `state.checkpoints.num-retained`: the Flink 1 name of [`CHECKPOINTS_NUM_RETAINED`].
pub const STATE_CHECKPOINTS_NUM_RETAINED: &str = "state.checkpoints.num-retained";
/// `state.savepoints.dir`: the Flink 1 name of [`SAVEPOINT_DIR`].
pub const STATE_SAVEPOINTS_DIR: &str = "state.savepoints.dir";

crate::config_options! {
    /// What a job does after a failure. Without `restart-strategy.type` a job restarts with exponential delay when checkpointing is enabled, and not at all otherwise (Flink 2's rule).
    RESTART_OPTIONS = "Restart strategy" {
        /// none, fixed-delay, failure-rate or exponential-delay (default: derived from checkpointing)
        RESTART_STRATEGY_TYPE = "restart-strategy.type": Enum(RESTART_STRATEGY_TYPES), default None, fallback [];
        /// fixed-delay: restarts before the job fails
        FIXED_DELAY_ATTEMPTS = "restart-strategy.fixed-delay.attempts": Int { min: 0, max: MAX_INT }, default Some("1"), fallback [];
        /// fixed-delay: wait before each restart
        FIXED_DELAY_DELAY = "restart-strategy.fixed-delay.delay": DURATION, default Some("1 s"), fallback [];
        /// failure-rate: restarts allowed per interval
        FAILURE_RATE_MAX_FAILURES = "restart-strategy.failure-rate.max-failures-per-interval": COUNT, default Some("1"), fallback [];
        /// failure-rate: the measuring interval
        FAILURE_RATE_INTERVAL = "restart-strategy.failure-rate.failure-rate-interval": POSITIVE_DURATION, default Some("1 min"), fallback [];
        /// failure-rate: wait before each restart
        FAILURE_RATE_DELAY = "restart-strategy.failure-rate.delay": DURATION, default Some("1 s"), fallback [];
        /// exponential-delay: first wait
        EXPONENTIAL_DELAY_INITIAL_BACKOFF = "restart-strategy.exponential-delay.initial-backoff": POSITIVE_DURATION, default Some("1 s"), fallback [];
        /// exponential-delay: longest wait
        EXPONENTIAL_DELAY_MAX_BACKOFF = "restart-strategy.exponential-delay.max-backoff": POSITIVE_DURATION, default Some("1 min"), fallback [];
        /// exponential-delay: growth of the wait per failure
        EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER = "restart-strategy.exponential-delay.backoff-multiplier": Float { min: 1.0, max: f64::MAX }, default Some("1.5"), fallback [];
        /// exponential-delay: healthy running time that resets the wait
        EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD = "restart-strategy.exponential-delay.reset-backoff-threshold": POSITIVE_DURATION, default Some("1 h"), fallback [];
        /// exponential-delay: random spread of the wait, 0..1
        EXPONENTIAL_DELAY_JITTER_FACTOR = "restart-strategy.exponential-delay.jitter-factor": Float { min: 0.0, max: 1.0 }, default Some("0.1"), fallback [];
        /// exponential-delay: restarts before the job fails unless the wait resets
        EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET = "restart-strategy.exponential-delay.attempts-before-reset-backoff": COUNT, default Some("2147483647"), fallback [];
    }
}

crate::config_options! {
    /// File systems for checkpoints, savepoints and the filesystem connector: the keys of Flink's S3 plugins.
    STATE_OPTIONS = "State storage" {
        /// S3 service URL, e.g. http://minio:9000 (default: AWS)
        S3_ENDPOINT = "s3.endpoint": Text, default None, fallback [];
        /// true: endpoint/bucket addressing instead of bucket.endpoint
        S3_PATH_STYLE_ACCESS = "s3.path.style.access": Bool, default Some("false"), fallback [];
        /// S3 access key id
        S3_ACCESS_KEY = "s3.access-key": Text, default None, fallback ["s3.access.key"];
        /// S3 secret access key
        S3_SECRET_KEY = "s3.secret-key": Text, default None, fallback ["s3.secret.key"];
    }
}

crate::config_options! {
    /// The REST endpoint of the JobManager and how clients reach it.
    REST_OPTIONS = "REST" {
        /// address clients use for the REST API (default: jobmanager.rpc.address)
        REST_ADDRESS = "rest.address": Host, default None, fallback [];
        /// port clients use for the REST API
        REST_PORT = "rest.port": Port, default Some("8081"), fallback [];
        /// local address the REST server binds to
        REST_BIND_ADDRESS = "rest.bind-address": Host, default Some("0.0.0.0"), fallback [];
        /// port or range N-M the REST server binds to (default: rest.port)
        REST_BIND_PORT = "rest.bind-port": PortRange, default None, fallback [];
        /// largest request body the REST server accepts, in bytes
        REST_MAX_CONTENT_LENGTH = "rest.server.max-content-length": Int { min: 1, max: MAX_INT }, default Some("104857600"), fallback [];
        /// how long a one-job process waits at its end for savepoint and checkpoint results to be fetched
        REST_ASYNC_STORE_DURATION = "rest.async.store-duration": POSITIVE_DURATION, default Some("5 min"), fallback [];
    }
}

crate::config_options! {
    /// The JobManager process: its RPC endpoint, heartbeats, slot requests, logs.
    JOBMANAGER_OPTIONS = "JobManager" {
        /// address of the JobManager
        JOBMANAGER_RPC_ADDRESS = "jobmanager.rpc.address": Host, default Some("localhost"), fallback [];
        /// RPC port of the JobManager
        JOBMANAGER_RPC_PORT = "jobmanager.rpc.port": Port, default Some("6123"), fallback [];
        /// local address the JobManager binds to
        JOBMANAGER_BIND_HOST = "jobmanager.bind-host": Host, default Some("0.0.0.0"), fallback [];
        /// heartbeat interval between JobManager and TaskManagers
        HEARTBEAT_INTERVAL = "heartbeat.interval": POSITIVE_DURATION, default Some("10 s"), fallback [];
        /// silence after which a peer is lost (not below heartbeat.interval)
        HEARTBEAT_TIMEOUT = "heartbeat.timeout": POSITIVE_DURATION, default Some("50 s"), fallback [];
        /// how long a job waits for slots
        SLOT_REQUEST_TIMEOUT = "slot.request.timeout": POSITIVE_DURATION, default Some("5 min"), fallback [];
        /// accepted for compatibility; no effect yet
        JOBMANAGER_MEMORY_PROCESS_SIZE = "jobmanager.memory.process.size": MemorySize, default None, fallback [];
        /// accepted for compatibility; no effect yet
        JOBMANAGER_MEMORY_FLINK_SIZE = "jobmanager.memory.flink.size": MemorySize, default None, fallback [];
        /// accepted for compatibility; no effect yet
        BLOB_SERVER_PORT = "blob.server.port": Text, default Some("0"), fallback [];
        /// accepted for compatibility; no effect (no JVM)
        JAVA_OPTS_ALL = "env.java.opts.all": Text, default None, fallback [];
        /// log format: text or json
        LOG_FORMAT = "riffle.log.format": Enum(LOG_FORMATS), default Some("text"), fallback [];
    }
}

crate::config_options! {
    /// JobManager high availability: standby JobManagers and job metadata that survive a JobManager.
    HIGH_AVAILABILITY_OPTIONS = "High availability" {
        /// NONE (one JobManager) or kubernetes (Lease leader election, HA ConfigMaps); zookeeper is refused
        HA_TYPE = "high-availability.type": Enum(HA_TYPES), default Some("NONE"), fallback ["high-availability"];
        /// where submitted jobs are kept for the next leader (a directory, file:// or s3://...)
        HA_STORAGE_DIR = "high-availability.storageDir": Text, default None, fallback ["high-availability.storage-path"];
        /// the cluster's name in its Lease and HA ConfigMaps (default: kubernetes.cluster-id)
        HA_CLUSTER_ID = "high-availability.cluster-id": Text, default None, fallback [];
        /// how long a Lease that stopped being renewed is honoured before a standby takes over
        HA_LEASE_DURATION = "high-availability.kubernetes.leader-election.lease-duration": POSITIVE_DURATION, default Some("15 s"), fallback [];
        /// how long a leader keeps leading without a successful renewal (at most the lease duration)
        HA_RENEW_DEADLINE = "high-availability.kubernetes.leader-election.renew-deadline": POSITIVE_DURATION, default Some("15 s"), fallback [];
        /// pause between two attempts to acquire or renew the Lease
        HA_RETRY_PERIOD = "high-availability.kubernetes.leader-election.retry-period": POSITIVE_DURATION, default Some("5 s"), fallback [];
    }
}

crate::config_options! {
    /// A TaskManager process: its addresses, ports and slots.
    TASKMANAGER_OPTIONS = "TaskManager" {
        /// address a TaskManager advertises (default: detected)
        TASKMANAGER_HOST = "taskmanager.host": Host, default None, fallback [];
        /// local address a TaskManager binds to
        TASKMANAGER_BIND_HOST = "taskmanager.bind-host": Host, default Some("0.0.0.0"), fallback [];
        /// TaskManager RPC port or range N-M (0 = any free port)
        TASKMANAGER_RPC_PORT = "taskmanager.rpc.port": PortRange, default Some("0"), fallback [];
        /// TaskManager data-exchange port (0 = any free port)
        TASKMANAGER_DATA_PORT = "taskmanager.data.port": Port, default Some("0"), fallback [];
        /// task slots per TaskManager
        TASKMANAGER_SLOTS = "taskmanager.numberOfTaskSlots": COUNT, default Some("1"), fallback [];
        /// fixed id of a TaskManager (default: generated)
        TASKMANAGER_RESOURCE_ID = "taskmanager.resource-id": Text, default None, fallback [];
        /// accepted for compatibility; no effect yet
        TASKMANAGER_MEMORY_PROCESS_SIZE = "taskmanager.memory.process.size": MemorySize, default None, fallback [];
        /// accepted for compatibility; no effect yet
        TASKMANAGER_MEMORY_FLINK_SIZE = "taskmanager.memory.flink.size": MemorySize, default None, fallback [];
    }
}

crate::config_options! {
    /// Metric reporters: Riffle has one, Prometheus, on by default.
    METRICS_OPTIONS = "Metrics" {
        /// names of the reporters to start (default: all configured)
        METRICS_REPORTERS = "metrics.reporters": List, default None, fallback [];
        /// enables the Prometheus reporter named prom
        PROM_FACTORY_CLASS = "metrics.reporter.prom.factory.class": Text, default None, fallback [];
        /// Prometheus endpoint port or range N-M
        PROM_PORT = "metrics.reporter.prom.port": PortRange, default Some("9249"), fallback [];
    }
}

crate::config_options! {
    /// Settings every connector of a job shares.
    CONNECTOR_OPTIONS = "Connectors" {
        /// rows per batch produced by sources
        BATCH_SIZE = "riffle.batch-size": COUNT, default Some("8192"), fallback [];
        /// directory where every sink also writes its changelog as JSON lines
        SINK_TAP_DIR = "riffle.sink.tap-dir": Text, default None, fallback [];
        /// true: a bare SELECT's rows are kept for the SQL client to fetch
        RESULT_COLLECT = "riffle.result.collect": Bool, default Some("false"), fallback [];
    }
}

crate::config_options! {
    /// Kubernetes: the cluster's id and namespace, and in native mode (`kubernetes-session`, `run-application --target kubernetes-application`) the pods the client and the JobManager create. Keys ending in `.*` are prefixes.
    KUBERNETES_OPTIONS = "Kubernetes" {
        /// the cluster's id: names its Deployment, Services, ConfigMaps, TaskManager pods, Lease and HA ConfigMaps
        KUBERNETES_CLUSTER_ID = "kubernetes.cluster-id": Text, default None, fallback [];
        /// namespace of the cluster's objects (default: the pod's own namespace, or the kubeconfig's)
        KUBERNETES_NAMESPACE = "kubernetes.namespace": Text, default None, fallback [];
        /// where a client finds a native cluster: kubernetes-session or kubernetes-application (local and remote: not on Kubernetes)
        EXECUTION_TARGET = "execution.target": Enum(EXECUTION_TARGETS), default None, fallback [];
        /// kubeconfig file of a client (default: $KUBECONFIG, else ~/.kube/config)
        KUBERNETES_CONFIG_FILE = "kubernetes.config.file": Text, default None, fallback [];
        /// kubeconfig context of a client (default: the current context)
        KUBERNETES_CONTEXT = "kubernetes.context": Text, default None, fallback [];
        /// image of the JobManager and TaskManager pods (default: riffle:<version>)
        KUBERNETES_IMAGE = "kubernetes.container.image.ref": Text, default None, fallback ["kubernetes.container.image"];
        /// imagePullPolicy of the pods' main container
        KUBERNETES_PULL_POLICY = "kubernetes.container.image.pull-policy": Enum(PULL_POLICIES), default Some("IfNotPresent"), fallback [];
        /// names of Secrets to pull the image with (a;b)
        KUBERNETES_PULL_SECRETS = "kubernetes.container.image.pull-secrets": List, default None, fallback [];
        /// service account of the pods (needs the native Role: pods, services, configmaps)
        KUBERNETES_SERVICE_ACCOUNT = "kubernetes.service-account": Text, default Some("default"), fallback [];
        /// service account of the JobManager pods (default: kubernetes.service-account)
        KUBERNETES_JM_SERVICE_ACCOUNT = "kubernetes.jobmanager.service-account": Text, default None, fallback [];
        /// service account of the TaskManager pods (default: kubernetes.service-account)
        KUBERNETES_TM_SERVICE_ACCOUNT = "kubernetes.taskmanager.service-account": Text, default None, fallback [];
        /// number of JobManager pods; above 1 needs high-availability.type kubernetes
        KUBERNETES_JM_REPLICAS = "kubernetes.jobmanager.replicas": COUNT, default Some("1"), fallback [];
        /// CPU request of a JobManager pod, in cores
        KUBERNETES_JM_CPU = "kubernetes.jobmanager.cpu.amount": Float { min: 0.001, max: f64::MAX }, default Some("1.0"), fallback ["kubernetes.jobmanager.cpu"];
        /// JobManager CPU limit as a multiple of its request
        KUBERNETES_JM_CPU_LIMIT_FACTOR = "kubernetes.jobmanager.cpu.limit-factor": Float { min: 1.0, max: f64::MAX }, default Some("1.0"), fallback [];
        /// JobManager memory limit as a multiple of jobmanager.memory.process.size
        KUBERNETES_JM_MEMORY_LIMIT_FACTOR = "kubernetes.jobmanager.memory.limit-factor": Float { min: 1.0, max: f64::MAX }, default Some("1.0"), fallback [];
        /// CPU request of a TaskManager pod, in cores (default: taskmanager.numberOfTaskSlots)
        KUBERNETES_TM_CPU = "kubernetes.taskmanager.cpu.amount": Float { min: 0.001, max: f64::MAX }, default None, fallback ["kubernetes.taskmanager.cpu"];
        /// TaskManager CPU limit as a multiple of its request
        KUBERNETES_TM_CPU_LIMIT_FACTOR = "kubernetes.taskmanager.cpu.limit-factor": Float { min: 1.0, max: f64::MAX }, default Some("1.0"), fallback [];
        /// TaskManager memory limit as a multiple of taskmanager.memory.process.size
        KUBERNETES_TM_MEMORY_LIMIT_FACTOR = "kubernetes.taskmanager.memory.limit-factor": Float { min: 1.0, max: f64::MAX }, default Some("1.0"), fallback [];
        /// labels of the JobManager pods (k1:v1,k2:v2)
        KUBERNETES_JM_LABELS = "kubernetes.jobmanager.labels": Map, default None, fallback [];
        /// labels of the TaskManager pods
        KUBERNETES_TM_LABELS = "kubernetes.taskmanager.labels": Map, default None, fallback [];
        /// annotations of the JobManager pods
        KUBERNETES_JM_ANNOTATIONS = "kubernetes.jobmanager.annotations": Map, default None, fallback [];
        /// annotations of the TaskManager pods
        KUBERNETES_TM_ANNOTATIONS = "kubernetes.taskmanager.annotations": Map, default None, fallback [];
        /// nodeSelector of the JobManager pods
        KUBERNETES_JM_NODE_SELECTOR = "kubernetes.jobmanager.node-selector": Map, default None, fallback [];
        /// nodeSelector of the TaskManager pods
        KUBERNETES_TM_NODE_SELECTOR = "kubernetes.taskmanager.node-selector": Map, default None, fallback [];
        /// tolerations of the JobManager pods (key:k,operator:Equal,value:v,effect:NoSchedule;...)
        KUBERNETES_JM_TOLERATIONS = "kubernetes.jobmanager.tolerations": List, default None, fallback [];
        /// tolerations of the TaskManager pods
        KUBERNETES_TM_TOLERATIONS = "kubernetes.taskmanager.tolerations": List, default None, fallback [];
        /// type of the REST Service <cluster-id>-rest
        KUBERNETES_REST_SERVICE_TYPE = "kubernetes.rest-service.exposed.type": Enum(REST_SERVICE_TYPES), default Some("ClusterIP"), fallback [];
        /// which node address a client uses for a NodePort REST Service
        KUBERNETES_NODE_PORT_ADDRESS_TYPE = "kubernetes.rest-service.exposed.node-port-address-type": Enum(&["InternalIP", "ExternalIP"]), default Some("InternalIP"), fallback [];
        /// annotations of the REST Service
        KUBERNETES_REST_SERVICE_ANNOTATIONS = "kubernetes.rest-service.annotations": Map, default None, fallback [];
        /// pods on the node's network (hostNetwork) instead of the pod network
        KUBERNETES_HOST_NETWORK = "kubernetes.hostnetwork.enabled": Bool, default Some("false"), fallback [];
        /// pod template file for JobManager and TaskManager pods
        KUBERNETES_POD_TEMPLATE = "kubernetes.pod-template-file.default": Text, default None, fallback ["kubernetes.pod-template-file"];
        /// pod template file for the JobManager pods (default: kubernetes.pod-template-file.default)
        KUBERNETES_JM_POD_TEMPLATE = "kubernetes.pod-template-file.jobmanager": Text, default None, fallback [];
        /// pod template file for the TaskManager pods (default: kubernetes.pod-template-file.default)
        KUBERNETES_TM_POD_TEMPLATE = "kubernetes.pod-template-file.taskmanager": Text, default None, fallback [];
        /// environment variable NAME of the JobManager container (containerized.master.env.NAME)
        CONTAINERIZED_MASTER_ENV = "containerized.master.env.*": Text, default None, fallback [];
        /// environment variable NAME of the TaskManager containers (containerized.taskmanager.env.NAME)
        CONTAINERIZED_TASKMANAGER_ENV = "containerized.taskmanager.env.*": Text, default None, fallback [];
        /// an idle TaskManager pod is released after this long (native mode)
        TASKMANAGER_TIMEOUT = "resourcemanager.taskmanager-timeout": POSITIVE_DURATION, default Some("30 s"), fallback [];
    }
}

crate::config_options! {
    /// The Kubernetes operator (`riffle operator`): its own settings, and per resource in spec.flinkConfiguration.
    OPERATOR_OPTIONS = "Kubernetes operator" {
        /// namespaces whose resources the operator manages (a,b or a;b); unset = all
        OPERATOR_WATCHED_NAMESPACES = "kubernetes.operator.watched.namespaces": List, default None, fallback [];
        /// a resource whose state is settled is observed again after this long
        OPERATOR_RECONCILE_INTERVAL = "kubernetes.operator.reconcile.interval": POSITIVE_DURATION, default Some("1 min"), fallback [];
        /// a resource that is deploying, upgrading or taking a savepoint is observed again after this long
        OPERATOR_PROGRESS_CHECK_INTERVAL = "kubernetes.operator.observer.progress-check.interval": POSITIVE_DURATION, default Some("10 s"), fallback [];
        /// resources of one kind reconciled at once (each on a thread of its own)
        OPERATOR_RECONCILE_PARALLELISM = "kubernetes.operator.reconcile.parallelism": COUNT, default Some("50"), fallback [];
        /// timeout of the operator's REST calls to a JobManager
        OPERATOR_CLIENT_TIMEOUT = "kubernetes.operator.flink.client.timeout": POSITIVE_DURATION, default Some("10 s"), fallback [];
        /// roll back to the last stable spec when a new one does not become ready in time
        OPERATOR_ROLLBACK_ENABLED = "kubernetes.operator.deployment.rollback.enabled": Bool, default Some("false"), fallback [];
        /// how long a new spec may take to run its job before it counts as broken (rollback)
        OPERATOR_READINESS_TIMEOUT = "kubernetes.operator.deployment.readiness.timeout": POSITIVE_DURATION, default Some("5 min"), fallback [];
        /// a savepoint upgrade whose savepoint fails or times out goes on from the latest checkpoint instead of waiting
        OPERATOR_LAST_STATE_FALLBACK = "kubernetes.operator.job.upgrade.last-state-fallback.enabled": Bool, default Some("true"), fallback [];
        /// recreate a JobManager Deployment that disappeared, from the job's latest checkpoint
        OPERATOR_JM_RECOVERY = "kubernetes.operator.jm-deployment-recovery.enabled": Bool, default Some("true"), fallback [];
        /// with two operator replicas, one leads through a Lease
        OPERATOR_LEADER_ELECTION = "kubernetes.operator.leader-election.enabled": Bool, default Some("false"), fallback [];
        /// the Lease of the operator's leader election (required when it is enabled)
        OPERATOR_LEASE_NAME = "kubernetes.operator.leader-election.lease-name": Text, default None, fallback [];
        /// how long a Lease that stopped being renewed is honoured before another operator takes over
        OPERATOR_LEASE_DURATION = "kubernetes.operator.leader-election.lease-duration": POSITIVE_DURATION, default Some("15 s"), fallback [];
        /// how long the leader keeps leading without a successful renewal
        OPERATOR_RENEW_DEADLINE = "kubernetes.operator.leader-election.renew-deadline": POSITIVE_DURATION, default Some("10 s"), fallback [];
        /// pause between two attempts to acquire or renew the Lease
        OPERATOR_RETRY_PERIOD = "kubernetes.operator.leader-election.retry-period": POSITIVE_DURATION, default Some("2 s"), fallback [];
        /// serve /healthz and /metrics (Prometheus) on the probe port
        OPERATOR_PROBE_ENABLED = "kubernetes.operator.health.probe.enabled": Bool, default Some("true"), fallback [];
        /// port of /healthz and /metrics
        OPERATOR_PROBE_PORT = "kubernetes.operator.health.probe.port": Port, default Some("8085"), fallback [];
        /// first pause before a failed reconcile is retried
        OPERATOR_RETRY_INITIAL = "kubernetes.operator.retry.initial.interval": POSITIVE_DURATION, default Some("5 s"), fallback [];
        /// each further retry waits this many times longer
        OPERATOR_RETRY_MULTIPLIER = "kubernetes.operator.retry.interval.multiplier": Float { min: 1.0, max: f64::MAX }, default Some("1.5"), fallback [];
        /// the longest pause between retries
        OPERATOR_RETRY_MAX_INTERVAL = "kubernetes.operator.retry.max.interval": POSITIVE_DURATION, default Some("5 min"), fallback [];
        /// every FlinkStateSnapshot the operator triggers is a resource of its own (Riffle has no other way; false is refused)
        OPERATOR_SNAPSHOT_RESOURCES = "kubernetes.operator.snapshot.resource.enabled": Bool, default Some("true"), fallback [];
        /// take a savepoint of a running job this often: a duration, or a Quartz cron expression (sec min hour day month weekday [year])
        OPERATOR_PERIODIC_SAVEPOINT_INTERVAL = "kubernetes.operator.periodic.savepoint.interval": Text, default None, fallback [];
        /// trigger a checkpoint of a running job this often: a duration or a Quartz cron expression
        OPERATOR_PERIODIC_CHECKPOINT_INTERVAL = "kubernetes.operator.periodic.checkpoint.interval": Text, default None, fallback [];
        /// delete periodic and upgrade savepoints older than this (the newest completed one is always kept)
        OPERATOR_SAVEPOINT_HISTORY_MAX_AGE = "kubernetes.operator.savepoint.history.max.age": POSITIVE_DURATION, default Some("1 d"), fallback [];
        /// keep at most this many completed periodic and upgrade savepoints
        OPERATOR_SAVEPOINT_HISTORY_MAX_COUNT = "kubernetes.operator.savepoint.history.max.count": COUNT, default Some("10"), fallback [];
        /// clean the savepoint history up by the limits above
        OPERATOR_SAVEPOINT_CLEANUP = "kubernetes.operator.savepoint.cleanup.enabled": Bool, default Some("true"), fallback [];
        /// the savepoints the operator takes (periodic, upgrade) are deleted with their FlinkStateSnapshot
        OPERATOR_SAVEPOINT_DISPOSE_ON_DELETE = "kubernetes.operator.savepoint.dispose-on-delete": Bool, default Some("false"), fallback [];
        /// format of the savepoints the operator takes
        OPERATOR_SAVEPOINT_FORMAT = "kubernetes.operator.savepoint.format.type": Enum(&["CANONICAL", "NATIVE"]), default Some("CANONICAL"), fallback [];
        /// a savepoint that could not be triggered (job not running) for this long counts as a failed attempt
        OPERATOR_SAVEPOINT_GRACE_PERIOD = "kubernetes.operator.savepoint.trigger.grace-period": POSITIVE_DURATION, default Some("1 min"), fallback [];
        /// a checkpoint that could not be triggered (job not running) for this long counts as a failed attempt
        OPERATOR_CHECKPOINT_GRACE_PERIOD = "kubernetes.operator.checkpoint.trigger.grace-period": POSITIVE_DURATION, default Some("1 min"), fallback [];
    }
}

crate::config_options! {
    /// The operator's autoscaler, per resource in spec.flinkConfiguration (Flink's job.autoscaler.* keys; the legacy prefix kubernetes.operator.job.autoscaler.* is read too).
    AUTOSCALER_OPTIONS = "Autoscaler" {
        /// the operator scales the job's vertices to their load (per-vertex parallelism overrides, applied by a rescale)
        AUTOSCALER_ENABLED = "job.autoscaler.enabled": Bool, default Some("false"), fallback ["kubernetes.operator.job.autoscaler.enabled"];
        /// apply the decisions; false only evaluates and reports them in Events
        AUTOSCALER_SCALING_ENABLED = "job.autoscaler.scaling.enabled": Bool, default Some("true"), fallback ["kubernetes.operator.job.autoscaler.scaling.enabled"];
        /// the span of metrics a decision is made on
        AUTOSCALER_METRICS_WINDOW = "job.autoscaler.metrics.window": POSITIVE_DURATION, default Some("15 min"), fallback ["kubernetes.operator.job.autoscaler.metrics.window"];
        /// metrics of a job that started or rescaled less than this long ago are not collected
        AUTOSCALER_STABILIZATION = "job.autoscaler.stabilization.interval": DURATION, default Some("5 min"), fallback ["kubernetes.operator.job.autoscaler.stabilization.interval"];
        /// the busy share a vertex is scaled to
        AUTOSCALER_UTILIZATION_TARGET = "job.autoscaler.utilization.target": Float { min: 0.01, max: 1.0 }, default Some("0.7"), fallback ["job.autoscaler.target.utilization", "kubernetes.operator.job.autoscaler.utilization.target"];
        /// a vertex is left alone while its busy share is within the target plus or minus this
        AUTOSCALER_UTILIZATION_BOUNDARY = "job.autoscaler.target.utilization.boundary": Float { min: 0.0, max: 1.0 }, default Some("0.3"), fallback ["kubernetes.operator.job.autoscaler.target.utilization.boundary"];
        /// scale up above this busy share (default: target + boundary)
        AUTOSCALER_UTILIZATION_MAX = "job.autoscaler.utilization.max": Float { min: 0.01, max: 1.0 }, default None, fallback ["kubernetes.operator.job.autoscaler.utilization.max"];
        /// scale down below this busy share (default: target - boundary)
        AUTOSCALER_UTILIZATION_MIN = "job.autoscaler.utilization.min": Float { min: 0.0, max: 1.0 }, default None, fallback ["kubernetes.operator.job.autoscaler.utilization.min"];
        /// one scale-up multiplies a parallelism by at most 1 + this
        AUTOSCALER_SCALE_UP_MAX_FACTOR = "job.autoscaler.scale-up.max-factor": Float { min: 0.0, max: f64::MAX }, default Some("100000.0"), fallback ["kubernetes.operator.job.autoscaler.scale-up.max-factor"];
        /// one scale-down multiplies a parallelism by at least 1 - this
        AUTOSCALER_SCALE_DOWN_MAX_FACTOR = "job.autoscaler.scale-down.max-factor": Float { min: 0.0, max: 1.0 }, default Some("0.6"), fallback ["kubernetes.operator.job.autoscaler.scale-down.max-factor"];
        /// a scale-down is applied only once it was recommended for this long (the highest recommendation in that time)
        AUTOSCALER_SCALE_DOWN_INTERVAL = "job.autoscaler.scale-down.interval": DURATION, default Some("1 h"), fallback ["job.autoscaler.scale-up.grace-period", "kubernetes.operator.job.autoscaler.scale-down.interval"];
        /// no vertex is scaled below this parallelism
        AUTOSCALER_VERTEX_MIN = "job.autoscaler.vertex.min-parallelism": COUNT, default Some("1"), fallback ["kubernetes.operator.job.autoscaler.vertex.min-parallelism"];
        /// no vertex is scaled above this parallelism (nor above its max parallelism)
        AUTOSCALER_VERTEX_MAX = "job.autoscaler.vertex.max-parallelism": COUNT, default Some("200"), fallback ["kubernetes.operator.job.autoscaler.vertex.max-parallelism"];
        /// a backlog is to be worked off within this long
        AUTOSCALER_CATCH_UP = "job.autoscaler.catch-up.duration": POSITIVE_DURATION, default Some("30 min"), fallback ["kubernetes.operator.job.autoscaler.catch-up.duration"];
        /// how long a rescale is expected to stop the job (its records are to be caught up too)
        AUTOSCALER_RESTART_TIME = "job.autoscaler.restart.time": DURATION, default Some("5 min"), fallback ["kubernetes.operator.job.autoscaler.restart.time"];
        /// block further scale-ups of a vertex whose last scale-up did not raise its processing rate
        AUTOSCALER_EFFECTIVENESS_ENABLED = "job.autoscaler.scaling.effectiveness.detection.enabled": Bool, default Some("false"), fallback ["kubernetes.operator.job.autoscaler.scaling.effectiveness.detection.enabled"];
        /// a scale-up is ineffective when it gained less than this share of the rate it was expected to gain
        AUTOSCALER_EFFECTIVENESS_THRESHOLD = "job.autoscaler.scaling.effectiveness.threshold": Float { min: 0.0, max: 1.0 }, default Some("0.1"), fallback ["kubernetes.operator.job.autoscaler.scaling.effectiveness.threshold"];
        /// how the busy time of a vertex's subtasks is combined
        AUTOSCALER_BUSY_AGGREGATOR = "job.autoscaler.metrics.busy-time.aggregator": Enum(&["MAX", "AVG", "MIN"]), default Some("MAX"), fallback ["kubernetes.operator.job.autoscaler.metrics.busy-time.aggregator"];
        /// vertex ids the autoscaler leaves alone
        AUTOSCALER_VERTEX_EXCLUDE = "job.autoscaler.vertex.exclude.ids": List, default None, fallback ["kubernetes.operator.job.autoscaler.vertex.exclude.ids"];
    }
}

/// Every table, in the order `docs/config.md` lists them.
pub const TABLES: &[OptionTable] = &[
    EXECUTION_OPTIONS,
    CHECKPOINTING_OPTIONS,
    RESTART_OPTIONS,
    STATE_OPTIONS,
    REST_OPTIONS,
    JOBMANAGER_OPTIONS,
    HIGH_AVAILABILITY_OPTIONS,
    KUBERNETES_OPTIONS,
    OPERATOR_OPTIONS,
    AUTOSCALER_OPTIONS,
    TASKMANAGER_OPTIONS,
    METRICS_OPTIONS,
    CONNECTOR_OPTIONS,
];
