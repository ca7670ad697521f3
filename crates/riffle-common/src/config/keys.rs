//! The catalogue of keys Riffle interprets: what each means ([`KNOWN_KEYS`],
//! for messages and docs) and what type its value has ([`key_kind`], for
//! [`Configuration::validate`](super::Configuration::validate)).
//!
//! The two tables are kept side by side and a test checks they list the same
//! keys, so a key cannot be documented without being validated or the reverse.

use super::cluster::{
    HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, JOBMANAGER_BIND_HOST, JOBMANAGER_RPC_ADDRESS,
    JOBMANAGER_RPC_PORT, LOG_FORMAT, LOG_FORMATS, METRICS_REPORTERS, PROM_FACTORY_CLASS, PROM_PORT,
    REST_ADDRESS, REST_BIND_ADDRESS, REST_BIND_PORT, REST_PORT, RESULT_COLLECT,
    SLOT_REQUEST_TIMEOUT, TASKMANAGER_BIND_HOST, TASKMANAGER_DATA_PORT, TASKMANAGER_HOST,
    TASKMANAGER_RESOURCE_ID, TASKMANAGER_RPC_PORT, TASKMANAGER_SLOTS,
};
use super::state::{
    CHECKPOINTING_INTERVAL, CHECKPOINTING_MAX_CONCURRENT, CHECKPOINTING_MIN_PAUSE,
    CHECKPOINTING_RETENTION, CHECKPOINTING_TIMEOUT, CHECKPOINTING_TOLERABLE_FAILURES,
    CHECKPOINTS_DIR, CHECKPOINTS_NUM_RETAINED, RETENTION_VALUES, S3_ACCESS_KEY,
    S3_ACCESS_KEY_ALIAS, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_SECRET_KEY, S3_SECRET_KEY_ALIAS,
    SAVEPOINT_DIR, SAVEPOINT_IGNORE_UNCLAIMED_STATE, SAVEPOINT_PATH, STATE_CHECKPOINTS_DIR,
    STATE_CHECKPOINTS_NUM_RETAINED, STATE_SAVEPOINTS_DIR,
};
use super::{
    AUTO_WATERMARK_INTERVAL, BATCH_SIZE, LOCAL_TIME_ZONE, MAX_PARALLELISM, PARALLELISM_DEFAULT,
    RUNTIME_MODE, SINK_TAP_DIR, SOURCE_IDLE_TIMEOUT,
};
use crate::restart::{
    EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET, EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER,
    EXPONENTIAL_DELAY_INITIAL_BACKOFF, EXPONENTIAL_DELAY_JITTER_FACTOR,
    EXPONENTIAL_DELAY_MAX_BACKOFF, EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD, FAILURE_RATE_DELAY,
    FAILURE_RATE_INTERVAL, FAILURE_RATE_MAX_FAILURES, FIXED_DELAY_ATTEMPTS, FIXED_DELAY_DELAY,
    RESTART_STRATEGY_TYPE, RESTART_STRATEGY_TYPES,
};

/// The type a known key's value must have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    /// Any text (also keys accepted for compatibility that Riffle ignores).
    Text,
    /// A host name or address: not empty, no spaces.
    Host,
    /// `true` or `false`.
    Bool,
    /// An integer of at least 1.
    PositiveInt,
    /// An integer from `min` up to Flink's `Integer.MAX_VALUE`.
    Int32 {
        /// Smallest accepted value.
        min: u32,
    },
    /// Any 64-bit integer.
    Long,
    /// A decimal number within `min..=max`.
    Float {
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// A Flink duration (`500 ms`, `10 s`, `1 min`; a bare number is ms).
    Duration,
    /// A Flink duration above zero.
    PositiveDuration,
    /// A TCP port, `0..=65535`.
    Port,
    /// A port or an inclusive range `N-M`.
    PortRange,
    /// One of the listed words, any case.
    OneOf(&'static [&'static str]),
    /// `UTC`, `Z`, `GMT` or a fixed offset such as `+08:00`.
    TimeZone,
}

/// Every key Riffle interprets, with a one-line description (for messages and docs).
pub const KNOWN_KEYS: &[(&str, &str)] = &[
    // Job and SQL options.
    (PARALLELISM_DEFAULT, "default parallelism of operators"),
    (MAX_PARALLELISM, "number of key groups (default 128)"),
    (
        AUTO_WATERMARK_INTERVAL,
        "watermark emission interval; 0 = after every record",
    ),
    (
        SOURCE_IDLE_TIMEOUT,
        "time after which a silent source is idle (0 = never)",
    ),
    (LOCAL_TIME_ZONE, "session time zone (default UTC)"),
    (RUNTIME_MODE, "streaming (batch is not supported)"),
    (
        BATCH_SIZE,
        "rows per batch produced by sources (default 8192)",
    ),
    (
        SINK_TAP_DIR,
        "directory where every sink also writes its changelog as JSON lines",
    ),
    (
        "table.exec.mini-batch.enabled",
        "accepted for compatibility; Riffle always batches",
    ),
    (
        "table.exec.mini-batch.allow-latency",
        "accepted for compatibility",
    ),
    ("table.exec.mini-batch.size", "accepted for compatibility"),
    (
        "table.optimizer.distinct-agg.split.enabled",
        "accepted for compatibility",
    ),
    (
        "table.exec.state.ttl",
        "accepted; state TTL is not enforced yet",
    ),
    ("pipeline.name", "job name"),
    (
        CHECKPOINTING_INTERVAL,
        "checkpoint interval; unset = checkpointing disabled",
    ),
    // Checkpoints and savepoints.
    (
        CHECKPOINTING_TIMEOUT,
        "a checkpoint still running after this long is aborted (default 10 min)",
    ),
    (
        CHECKPOINTING_MIN_PAUSE,
        "least time between the end of a checkpoint and the start of the next (default 0)",
    ),
    (
        CHECKPOINTING_MAX_CONCURRENT,
        "checkpoints in flight at once (default 1)",
    ),
    (
        CHECKPOINTING_TOLERABLE_FAILURES,
        "consecutive checkpoint failures tolerated before the job fails (default 0)",
    ),
    (
        CHECKPOINTING_RETENTION,
        "DELETE_ON_CANCELLATION, RETAIN_ON_CANCELLATION or NO_EXTERNALIZED_CHECKPOINTS (default)",
    ),
    (
        CHECKPOINTS_DIR,
        "where checkpoints are written (local path, file://, s3://, gs://, abfs://, az://)",
    ),
    (
        STATE_CHECKPOINTS_DIR,
        "Flink 1 name of execution.checkpointing.dir",
    ),
    (
        CHECKPOINTS_NUM_RETAINED,
        "completed checkpoints kept (default 1)",
    ),
    (
        STATE_CHECKPOINTS_NUM_RETAINED,
        "Flink 1 name of execution.checkpointing.num-retained",
    ),
    (SAVEPOINT_DIR, "default directory for savepoints"),
    (
        STATE_SAVEPOINTS_DIR,
        "Flink 1 name of execution.checkpointing.savepoint-dir",
    ),
    (
        SAVEPOINT_PATH,
        "savepoint or retained checkpoint the job starts from",
    ),
    (
        SAVEPOINT_IGNORE_UNCLAIMED_STATE,
        "true: savepoint state of operators missing from the job is skipped (default false)",
    ),
    // S3 file system.
    (
        S3_ENDPOINT,
        "S3 service URL, e.g. http://minio:9000 (default: AWS)",
    ),
    (
        S3_PATH_STYLE_ACCESS,
        "true: endpoint/bucket addressing instead of bucket.endpoint (default false)",
    ),
    (S3_ACCESS_KEY, "S3 access key id"),
    (S3_ACCESS_KEY_ALIAS, "older name of s3.access-key"),
    (S3_SECRET_KEY, "S3 secret access key"),
    (S3_SECRET_KEY_ALIAS, "older name of s3.secret-key"),
    // Cluster options.
    (
        JOBMANAGER_RPC_ADDRESS,
        "address of the JobManager (default localhost)",
    ),
    (
        JOBMANAGER_RPC_PORT,
        "RPC port of the JobManager (default 6123)",
    ),
    (
        JOBMANAGER_BIND_HOST,
        "local address the JobManager binds to (default 0.0.0.0)",
    ),
    (
        REST_ADDRESS,
        "address clients use for the REST API (default jobmanager.rpc.address)",
    ),
    (
        REST_PORT,
        "port clients use for the REST API (default 8081)",
    ),
    (
        REST_BIND_ADDRESS,
        "local address the REST server binds to (default 0.0.0.0)",
    ),
    (
        REST_BIND_PORT,
        "port or range N-M the REST server binds to (default rest.port)",
    ),
    (
        TASKMANAGER_HOST,
        "address a TaskManager advertises (default: detected)",
    ),
    (
        TASKMANAGER_BIND_HOST,
        "local address a TaskManager binds to (default 0.0.0.0)",
    ),
    (
        TASKMANAGER_RPC_PORT,
        "TaskManager RPC port or range N-M (default 0 = any free port)",
    ),
    (
        TASKMANAGER_DATA_PORT,
        "TaskManager data-exchange port (default 0 = any free port)",
    ),
    (TASKMANAGER_SLOTS, "task slots per TaskManager (default 1)"),
    (
        TASKMANAGER_RESOURCE_ID,
        "fixed id of a TaskManager (default: generated)",
    ),
    (HEARTBEAT_INTERVAL, "heartbeat interval (default 10 s)"),
    (
        HEARTBEAT_TIMEOUT,
        "silence after which a peer is lost (default 50 s)",
    ),
    (
        SLOT_REQUEST_TIMEOUT,
        "how long a job waits for slots (default 300 s)",
    ),
    (
        METRICS_REPORTERS,
        "names of the metric reporters to start (default: all configured)",
    ),
    (
        PROM_FACTORY_CLASS,
        "enables the Prometheus reporter named prom",
    ),
    (
        PROM_PORT,
        "Prometheus endpoint port or range N-M (default 9249)",
    ),
    (LOG_FORMAT, "log format: text (default) or json"),
    (
        RESULT_COLLECT,
        "true: a bare SELECT's rows are kept for the SQL client to fetch",
    ),
    (
        "taskmanager.memory.process.size",
        "accepted for compatibility; no effect yet",
    ),
    (
        "jobmanager.memory.process.size",
        "accepted for compatibility; no effect yet",
    ),
    (
        "taskmanager.memory.flink.size",
        "accepted for compatibility; no effect yet",
    ),
    (
        "jobmanager.memory.flink.size",
        "accepted for compatibility; no effect yet",
    ),
    (
        "blob.server.port",
        "accepted for compatibility; no effect yet",
    ),
    (
        "env.java.opts.all",
        "accepted for compatibility; no effect (no JVM)",
    ),
    (
        "kubernetes.cluster-id",
        "accepted for compatibility; no effect yet",
    ),
    // Restart strategy.
    (
        RESTART_STRATEGY_TYPE,
        "none, fixed-delay, failure-rate or exponential-delay (default: none without checkpointing, else exponential-delay)",
    ),
    (
        FIXED_DELAY_ATTEMPTS,
        "fixed-delay: restarts before the job fails (default 1)",
    ),
    (
        FIXED_DELAY_DELAY,
        "fixed-delay: wait before each restart (default 1 s)",
    ),
    (
        FAILURE_RATE_MAX_FAILURES,
        "failure-rate: restarts allowed per interval (default 1)",
    ),
    (
        FAILURE_RATE_INTERVAL,
        "failure-rate: the measuring interval (default 1 min)",
    ),
    (
        FAILURE_RATE_DELAY,
        "failure-rate: wait before each restart (default 1 s)",
    ),
    (
        EXPONENTIAL_DELAY_INITIAL_BACKOFF,
        "exponential-delay: first wait (default 1 s)",
    ),
    (
        EXPONENTIAL_DELAY_MAX_BACKOFF,
        "exponential-delay: longest wait (default 1 min)",
    ),
    (
        EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER,
        "exponential-delay: growth of the wait per failure (default 1.5)",
    ),
    (
        EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD,
        "exponential-delay: healthy running time that resets the wait (default 1 h)",
    ),
    (
        EXPONENTIAL_DELAY_JITTER_FACTOR,
        "exponential-delay: random spread of the wait, 0..1 (default 0.1)",
    ),
    (
        EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET,
        "exponential-delay: restarts before the job fails unless the wait resets (default unlimited)",
    ),
];

/// Each known key's value type; same keys as [`KNOWN_KEYS`].
const KEY_KINDS: &[(&str, ValueKind)] = &[
    (PARALLELISM_DEFAULT, ValueKind::PositiveInt),
    (MAX_PARALLELISM, ValueKind::PositiveInt),
    (AUTO_WATERMARK_INTERVAL, ValueKind::Duration),
    (SOURCE_IDLE_TIMEOUT, ValueKind::Duration),
    (LOCAL_TIME_ZONE, ValueKind::TimeZone),
    (RUNTIME_MODE, ValueKind::OneOf(&["streaming"])),
    (BATCH_SIZE, ValueKind::PositiveInt),
    (SINK_TAP_DIR, ValueKind::Text),
    ("table.exec.mini-batch.enabled", ValueKind::Bool),
    ("table.exec.mini-batch.allow-latency", ValueKind::Duration),
    ("table.exec.mini-batch.size", ValueKind::Long),
    (
        "table.optimizer.distinct-agg.split.enabled",
        ValueKind::Bool,
    ),
    ("table.exec.state.ttl", ValueKind::Duration),
    ("pipeline.name", ValueKind::Text),
    (CHECKPOINTING_INTERVAL, ValueKind::Duration),
    (CHECKPOINTING_TIMEOUT, ValueKind::PositiveDuration),
    (CHECKPOINTING_MIN_PAUSE, ValueKind::Duration),
    (CHECKPOINTING_MAX_CONCURRENT, ValueKind::Int32 { min: 1 }),
    (
        CHECKPOINTING_TOLERABLE_FAILURES,
        ValueKind::Int32 { min: 0 },
    ),
    (CHECKPOINTING_RETENTION, ValueKind::OneOf(RETENTION_VALUES)),
    (CHECKPOINTS_DIR, ValueKind::Text),
    (STATE_CHECKPOINTS_DIR, ValueKind::Text),
    (CHECKPOINTS_NUM_RETAINED, ValueKind::Int32 { min: 1 }),
    (STATE_CHECKPOINTS_NUM_RETAINED, ValueKind::Int32 { min: 1 }),
    (SAVEPOINT_DIR, ValueKind::Text),
    (STATE_SAVEPOINTS_DIR, ValueKind::Text),
    (SAVEPOINT_PATH, ValueKind::Text),
    (SAVEPOINT_IGNORE_UNCLAIMED_STATE, ValueKind::Bool),
    (S3_ENDPOINT, ValueKind::Text),
    (S3_PATH_STYLE_ACCESS, ValueKind::Bool),
    (S3_ACCESS_KEY, ValueKind::Text),
    (S3_ACCESS_KEY_ALIAS, ValueKind::Text),
    (S3_SECRET_KEY, ValueKind::Text),
    (S3_SECRET_KEY_ALIAS, ValueKind::Text),
    (JOBMANAGER_RPC_ADDRESS, ValueKind::Host),
    (JOBMANAGER_RPC_PORT, ValueKind::Port),
    (JOBMANAGER_BIND_HOST, ValueKind::Host),
    (REST_ADDRESS, ValueKind::Host),
    (REST_PORT, ValueKind::Port),
    (REST_BIND_ADDRESS, ValueKind::Host),
    (REST_BIND_PORT, ValueKind::PortRange),
    (TASKMANAGER_HOST, ValueKind::Host),
    (TASKMANAGER_BIND_HOST, ValueKind::Host),
    (TASKMANAGER_RPC_PORT, ValueKind::PortRange),
    (TASKMANAGER_DATA_PORT, ValueKind::Port),
    (TASKMANAGER_SLOTS, ValueKind::PositiveInt),
    (TASKMANAGER_RESOURCE_ID, ValueKind::Text),
    (HEARTBEAT_INTERVAL, ValueKind::PositiveDuration),
    (HEARTBEAT_TIMEOUT, ValueKind::PositiveDuration),
    (SLOT_REQUEST_TIMEOUT, ValueKind::PositiveDuration),
    (METRICS_REPORTERS, ValueKind::Text),
    (PROM_FACTORY_CLASS, ValueKind::Text),
    (PROM_PORT, ValueKind::PortRange),
    (LOG_FORMAT, ValueKind::OneOf(LOG_FORMATS)),
    (RESULT_COLLECT, ValueKind::Bool),
    ("taskmanager.memory.process.size", ValueKind::Text),
    ("jobmanager.memory.process.size", ValueKind::Text),
    ("taskmanager.memory.flink.size", ValueKind::Text),
    ("jobmanager.memory.flink.size", ValueKind::Text),
    ("blob.server.port", ValueKind::Text),
    ("env.java.opts.all", ValueKind::Text),
    ("kubernetes.cluster-id", ValueKind::Text),
    (
        RESTART_STRATEGY_TYPE,
        ValueKind::OneOf(RESTART_STRATEGY_TYPES),
    ),
    (FIXED_DELAY_ATTEMPTS, ValueKind::Int32 { min: 0 }),
    (FIXED_DELAY_DELAY, ValueKind::Duration),
    (FAILURE_RATE_MAX_FAILURES, ValueKind::Int32 { min: 1 }),
    (FAILURE_RATE_INTERVAL, ValueKind::PositiveDuration),
    (FAILURE_RATE_DELAY, ValueKind::Duration),
    (
        EXPONENTIAL_DELAY_INITIAL_BACKOFF,
        ValueKind::PositiveDuration,
    ),
    (EXPONENTIAL_DELAY_MAX_BACKOFF, ValueKind::PositiveDuration),
    (
        EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER,
        ValueKind::Float {
            min: 1.0,
            max: f64::MAX,
        },
    ),
    (
        EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD,
        ValueKind::PositiveDuration,
    ),
    (
        EXPONENTIAL_DELAY_JITTER_FACTOR,
        ValueKind::Float { min: 0.0, max: 1.0 },
    ),
    (
        EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET,
        ValueKind::Int32 { min: 1 },
    ),
];

/// The value type of a known key; `None` for keys Riffle does not interpret.
pub fn key_kind(key: &str) -> Option<ValueKind> {
    KEY_KINDS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_a_kind_and_the_reverse() {
        for (key, _) in KNOWN_KEYS {
            assert!(key_kind(key).is_some(), "{key} has no ValueKind");
        }
        for (key, _) in KEY_KINDS {
            assert!(
                KNOWN_KEYS.iter().any(|(k, _)| k == key),
                "{key} is not in KNOWN_KEYS"
            );
        }
        assert_eq!(KNOWN_KEYS.len(), KEY_KINDS.len(), "a key is listed twice");
    }
}
