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

/// Values of `riffle.log.format`.
pub const LOG_FORMATS: &[&str] = &["text", "json"];

crate::config_options! {
    /// How a job is planned and run: parallelism, key groups, watermarks, SQL session settings.
    EXECUTION_OPTIONS = "Execution" {
        /// default parallelism of operators
        PARALLELISM_DEFAULT = "parallelism.default": COUNT, default Some("1"), fallback [];
        /// number of key groups, the upper bound of parallelism
        MAX_PARALLELISM = "pipeline.max-parallelism": COUNT, default Some("128"), fallback [];
        /// how often sources emit watermarks; 0 = after every batch
        AUTO_WATERMARK_INTERVAL = "pipeline.auto-watermark-interval": DURATION, default Some("200 ms"), fallback [];
        /// the job's name (default: insert-into_ and the sink tables' names)
        PIPELINE_NAME = "pipeline.name": Text, default None, fallback [];
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
        /// accepted; state TTL is not enforced yet
        STATE_TTL = "table.exec.state.ttl": DURATION, default Some("0 ms"), fallback [];
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
        /// where ended jobs' results are recorded, so a job id is not run twice (default: job-result-store under the checkpoint directory)
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
        /// the cluster's id: the name of its Lease and HA ConfigMaps
        KUBERNETES_CLUSTER_ID = "kubernetes.cluster-id": Text, default None, fallback [];
        /// namespace of the Lease and HA ConfigMaps (default: the pod's own namespace)
        KUBERNETES_NAMESPACE = "kubernetes.namespace": Text, default None, fallback [];
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

/// Every table, in the order `docs/config.md` lists them.
pub const TABLES: &[OptionTable] = &[
    EXECUTION_OPTIONS,
    CHECKPOINTING_OPTIONS,
    RESTART_OPTIONS,
    STATE_OPTIONS,
    REST_OPTIONS,
    JOBMANAGER_OPTIONS,
    HIGH_AVAILABILITY_OPTIONS,
    TASKMANAGER_OPTIONS,
    METRICS_OPTIONS,
    CONNECTOR_OPTIONS,
];
