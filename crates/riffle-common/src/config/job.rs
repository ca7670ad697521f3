//! A job's configuration, resolved once: [`JobConfig`].
//!
//! The planner session resolves it from the collected [`Configuration`]
//! (cluster configuration, submission options, then the script's `SET`s) when
//! it builds the job graph. The JobManager and every TaskManager receive this
//! value in the deployment; nothing downstream reads configuration text.
//!
//! Derived defaults live here and only here: checkpointing is on exactly when
//! `execution.checkpointing.interval` is above zero, and the restart strategy
//! without `restart-strategy.type` follows from that (Flink 2's rule).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::reference::{EffectiveValue, effective_values};
use super::*;
use crate::Result;
use crate::restart::RestartStrategy;

/// Everything a job's planning and execution read from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    /// Parallelism, key groups, watermarks, batches.
    pub execution: ExecutionConfig,
    /// Checkpoint timing, retention and directories.
    pub checkpointing: CheckpointingConfig,
    /// The savepoint the job starts from, if any.
    pub savepoint: SavepointRestore,
    /// What happens after a failure (derived from checkpointing when unset).
    pub restart: RestartStrategy,
    /// How object stores are reached.
    pub storage: StorageConfig,
    /// Every key with its effective value and origin, for display (secrets masked).
    pub effective: Vec<EffectiveValue>,
}

/// Planning and execution settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionConfig {
    /// `parallelism.default`.
    pub parallelism: usize,
    /// `pipeline.max-parallelism`: the number of key groups.
    pub max_parallelism: usize,
    /// `pipeline.jobvertex-parallelism-overrides`: vertex id → parallelism.
    #[serde(default)]
    pub parallelism_overrides: BTreeMap<String, usize>,
    /// `pipeline.auto-watermark-interval` in ms.
    pub auto_watermark_interval_ms: i64,
    /// `table.exec.source.idle-timeout` in ms; 0 = never idle.
    pub source_idle_timeout_ms: i64,
    /// `table.exec.state.ttl` in ms; 0 = state never expires.
    #[serde(default)]
    pub state_ttl_ms: i64,
    /// `table.optimizer.reuse-sub-plan-enabled`.
    #[serde(default)]
    pub reuse_sub_plans: bool,
    /// `table.local-time-zone` as an offset from UTC in ms.
    pub local_time_zone_offset_ms: i64,
    /// `pipeline.name`.
    pub pipeline_name: Option<String>,
    /// `riffle.batch-size`: rows per batch produced by sources.
    pub batch_size: usize,
    /// `riffle.sink.tap-dir`: every sink also writes its changelog here.
    pub sink_tap_dir: Option<String>,
    /// `riffle.result.collect`: a bare SELECT's rows are kept for the SQL client.
    pub result_collect: bool,
}

/// Checkpoint settings; checkpointing is on when `interval_ms` is `Some`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointingConfig {
    /// `execution.checkpointing.interval`; `None`: no periodic checkpoints.
    pub interval_ms: Option<i64>,
    /// `execution.checkpointing.timeout`.
    pub timeout_ms: i64,
    /// `execution.checkpointing.min-pause`.
    pub min_pause_ms: i64,
    /// `execution.checkpointing.max-concurrent-checkpoints`.
    pub max_concurrent: usize,
    /// `execution.checkpointing.tolerable-failed-checkpoints`.
    pub tolerable_failures: u32,
    /// `execution.checkpointing.externalized-checkpoint-retention`.
    pub retention: ExternalizedCheckpointRetention,
    /// `execution.checkpointing.dir` (or `state.checkpoints.dir`), without a trailing `/`.
    pub dir: Option<String>,
    /// `execution.checkpointing.num-retained` (or `state.checkpoints.num-retained`).
    pub num_retained: usize,
    /// `execution.checkpointing.savepoint-dir` (or `state.savepoints.dir`), without a trailing `/`.
    pub savepoint_dir: Option<String>,
    /// Where the results of ended jobs are recorded: `job-result-store.storage-path`,
    /// else (Kubernetes high availability) `job-result-store/<cluster-id>` under
    /// `high-availability.storageDir`, else `job-result-store` beside the jobs'
    /// checkpoint directories; `None` without any of them (results then live
    /// only as long as the JobManager).
    pub result_store: Option<String>,
}

/// The job result store's directory under the checkpoint directory when
/// `job-result-store.storage-path` is unset (no job id can take this name).
pub const RESULT_STORE_DIR_NAME: &str = "job-result-store";

impl CheckpointingConfig {
    /// Whether the job takes periodic checkpoints.
    pub fn enabled(&self) -> bool {
        self.interval_ms.is_some()
    }

    /// The directory of checkpoint `id` of job `job` (its id as text).
    pub fn checkpoint_location(&self, job: impl fmt::Display, id: u64) -> Option<String> {
        self.dir.as_ref().map(|d| format!("{d}/{job}/chk-{id}"))
    }

    /// The directory holding every checkpoint of job `job`.
    pub fn job_directory(&self, job: impl fmt::Display) -> Option<String> {
        self.dir.as_ref().map(|d| format!("{d}/{job}"))
    }
}

/// The savepoint a job starts from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SavepointRestore {
    /// `execution.savepoint.path`.
    pub path: Option<String>,
    /// `execution.savepoint.ignore-unclaimed-state` (`--allowNonRestoredState`).
    pub ignore_unclaimed_state: bool,
}

/// How object stores are reached (Flink's S3 plugin keys).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StorageConfig {
    /// `s3.endpoint`; `None`: AWS.
    pub s3_endpoint: Option<String>,
    /// `s3.path.style.access` when set; `None` leaves the choice to
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` (default: virtual-hosted style).
    pub s3_path_style_access: Option<bool>,
    /// `s3.access-key` (or `s3.access.key`).
    pub s3_access_key: Option<String>,
    /// `s3.secret-key` (or `s3.secret.key`).
    pub s3_secret_key: Option<String>,
}

impl fmt::Debug for StorageConfig {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_path_style_access", &self.s3_path_style_access)
            .field("s3_access_key", &self.s3_access_key)
            .field(
                "s3_secret_key",
                &self.s3_secret_key.as_ref().map(|_| "******"),
            )
            .finish()
    }
}

impl StorageConfig {
    /// Reads the S3 keys.
    pub fn resolve(c: &Configuration) -> Result<StorageConfig> {
        let path_style = match c.entry(S3_PATH_STYLE_ACCESS) {
            Some(e) if !e.value.trim().is_empty() => Some(c.flag(S3_PATH_STYLE_ACCESS)?),
            _ => None,
        };
        Ok(StorageConfig {
            s3_endpoint: c.opt_text(S3_ENDPOINT)?,
            s3_path_style_access: path_style,
            s3_access_key: c.opt_text(S3_ACCESS_KEY)?,
            s3_secret_key: c.opt_text(S3_SECRET_KEY)?,
        })
    }
}

/// What happens to a job's completed checkpoints when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ExternalizedCheckpointRetention {
    /// Kept when the job fails, deleted when it is cancelled.
    DeleteOnCancellation,
    /// Kept when the job fails or is cancelled.
    RetainOnCancellation,
    /// Deleted whenever the job ends (the default).
    #[default]
    NoExternalizedCheckpoints,
}

impl fmt::Display for ExternalizedCheckpointRetention {
    /// Flink's spelling of the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DeleteOnCancellation => "DELETE_ON_CANCELLATION",
            Self::RetainOnCancellation => "RETAIN_ON_CANCELLATION",
            Self::NoExternalizedCheckpoints => "NO_EXTERNALIZED_CHECKPOINTS",
        })
    }
}

/// `pipeline.jobvertex-parallelism-overrides`, each parallelism a whole
/// number from 1 to the number of key groups.
fn parallelism_overrides(c: &Configuration) -> Result<BTreeMap<String, usize>> {
    let max = c.count(MAX_PARALLELISM)?;
    c.map(VERTEX_PARALLELISM_OVERRIDES)?
        .into_iter()
        .map(|(vertex, p)| {
            let n = p
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    c.invalid(
                        VERTEX_PARALLELISM_OVERRIDES,
                        format!(
                            "vertex {vertex}: '{p}' is not a parallelism from 1 to \
                             {MAX_PARALLELISM} ({max})"
                        ),
                    )
                })?;
            Ok((vertex.trim().to_string(), n))
        })
        .collect()
}

impl JobConfig {
    /// Resolves a job's collected configuration; the first bad value is an
    /// error naming key, value, expected form and origin.
    pub fn resolve(c: &Configuration) -> Result<JobConfig> {
        let execution = ExecutionConfig {
            parallelism: c.count(PARALLELISM_DEFAULT)?,
            max_parallelism: c.count(MAX_PARALLELISM)?,
            parallelism_overrides: parallelism_overrides(c)?,
            auto_watermark_interval_ms: c.ms(AUTO_WATERMARK_INTERVAL)?,
            source_idle_timeout_ms: c.ms(SOURCE_IDLE_TIMEOUT)?,
            state_ttl_ms: c.ms(STATE_TTL)?,
            reuse_sub_plans: c.flag(REUSE_SUB_PLAN)?,
            local_time_zone_offset_ms: parse::time_zone_offset_ms(&c.text(LOCAL_TIME_ZONE)?)
                .map_err(|e| c.invalid(LOCAL_TIME_ZONE, e.0))?,
            pipeline_name: c.opt_text(PIPELINE_NAME)?,
            batch_size: c.count(BATCH_SIZE)?,
            sink_tap_dir: c.opt_text(SINK_TAP_DIR)?,
            result_collect: c.flag(RESULT_COLLECT)?,
        };
        if execution.parallelism > execution.max_parallelism {
            return Err(c.invalid(
                PARALLELISM_DEFAULT,
                format!(
                    "must not exceed {MAX_PARALLELISM} ({}), the number of key groups",
                    execution.max_parallelism
                ),
            ));
        }
        let checkpointing = CheckpointingConfig::resolve(c)?;
        let restart = crate::restart::resolve(c, checkpointing.enabled())?;
        // Checked for type even though Riffle does not act on them.
        for key in [
            RUNTIME_MODE,
            MINI_BATCH_ENABLED,
            MINI_BATCH_ALLOW_LATENCY,
            MINI_BATCH_SIZE,
            DISTINCT_AGG_SPLIT,
        ] {
            c.value(key)?;
        }
        Ok(JobConfig {
            execution,
            savepoint: SavepointRestore {
                path: c.opt_text(SAVEPOINT_PATH)?,
                ignore_unclaimed_state: c.flag(SAVEPOINT_IGNORE_UNCLAIMED_STATE)?,
            },
            checkpointing,
            restart,
            storage: StorageConfig::resolve(c)?,
            effective: effective_values(c, &super::reference::JOB_TABLES),
        })
    }

    /// Whether the job takes periodic checkpoints (the one place that says so).
    pub fn checkpointing_enabled(&self) -> bool {
        self.checkpointing.enabled()
    }
}

impl CheckpointingConfig {
    /// Reads the checkpoint keys; periodic checkpoints need a directory.
    pub fn resolve(c: &Configuration) -> Result<CheckpointingConfig> {
        let dir = |key| -> Result<Option<String>> {
            Ok(c.opt_text(key)?
                .map(|d| d.trim_end_matches('/').to_string()))
        };
        let retention = match c.opt_enum(CHECKPOINTING_RETENTION)? {
            Some("DELETE_ON_CANCELLATION") => ExternalizedCheckpointRetention::DeleteOnCancellation,
            Some("RETAIN_ON_CANCELLATION") => ExternalizedCheckpointRetention::RetainOnCancellation,
            _ => ExternalizedCheckpointRetention::NoExternalizedCheckpoints,
        };
        let s = CheckpointingConfig {
            interval_ms: c.opt_ms(CHECKPOINTING_INTERVAL)?.filter(|ms| *ms > 0),
            timeout_ms: c.ms(CHECKPOINTING_TIMEOUT)?,
            min_pause_ms: c.ms(CHECKPOINTING_MIN_PAUSE)?,
            max_concurrent: c.count(CHECKPOINTING_MAX_CONCURRENT)?,
            tolerable_failures: u32::try_from(c.int(CHECKPOINTING_TOLERABLE_FAILURES)?)
                .unwrap_or(u32::MAX),
            retention,
            dir: dir(CHECKPOINTS_DIR)?,
            num_retained: c.count(CHECKPOINTS_NUM_RETAINED)?,
            savepoint_dir: dir(SAVEPOINT_DIR)?,
            result_store: None,
        };
        // The explicit key, else Flink's default with high availability, else
        // beside the checkpoints (Riffle's default without high availability,
        // where Flink keeps results in memory only).
        let result_store = match dir(JOB_RESULT_STORE_PATH)? {
            Some(path) => Some(path),
            None => match ha_result_store(c)? {
                Some(path) => Some(path),
                None => s
                    .dir
                    .as_ref()
                    .map(|d| format!("{d}/{RESULT_STORE_DIR_NAME}")),
            },
        };
        let s = CheckpointingConfig { result_store, ..s };
        if s.enabled() && s.dir.is_none() {
            return Err(c.invalid(
                CHECKPOINTING_INTERVAL,
                "checkpointing is enabled but there is no checkpoint directory: set \
                 execution.checkpointing.dir (or state.checkpoints.dir) to a path or an \
                 s3://, gs:// or abfs:// location",
            ));
        }
        Ok(s)
    }
}

/// Flink's default of `job-result-store.storage-path` with Kubernetes high
/// availability: `<high-availability.storageDir>/job-result-store/<cluster-id>`.
/// Every JobManager of the cluster (a standby that becomes leader, a pod
/// started again) reads the same place, whatever checkpoint directory a job
/// sets. `None` without high availability, or without the storage directory or
/// cluster id that the JobManager itself refuses to start without.
fn ha_result_store(c: &Configuration) -> Result<Option<String>> {
    if c.opt_enum(HA_TYPE)? != Some("kubernetes") {
        return Ok(None);
    }
    let Some(storage_dir) = c.opt_text(HA_STORAGE_DIR)? else {
        return Ok(None);
    };
    // The same fallback as the JobManager's election (`ClusterConfig`).
    let cluster_id = match c.opt_text(HA_CLUSTER_ID)? {
        Some(id) => Some(id),
        None => c.opt_text(KUBERNETES_CLUSTER_ID)?,
    };
    Ok(cluster_id.map(|id| {
        format!(
            "{}/{RESULT_STORE_DIR_NAME}/{id}",
            storage_dir.trim_end_matches('/')
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart::ExponentialDelay;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        pairs.iter().copied().collect()
    }

    #[test]
    fn flink_defaults() -> Result<()> {
        let j = JobConfig::resolve(&Configuration::new())?;
        assert_eq!(j.execution.parallelism, 1);
        assert_eq!(j.execution.max_parallelism, 128);
        assert_eq!(j.execution.auto_watermark_interval_ms, 200);
        assert_eq!(j.execution.source_idle_timeout_ms, 0);
        assert_eq!(j.execution.local_time_zone_offset_ms, 0);
        assert_eq!(j.execution.batch_size, 8192);
        assert!(!j.checkpointing_enabled());
        assert_eq!(j.checkpointing.timeout_ms, 600_000);
        assert_eq!(j.checkpointing.max_concurrent, 1);
        assert_eq!(j.checkpointing.num_retained, 1);
        assert_eq!(
            j.checkpointing.retention,
            ExternalizedCheckpointRetention::NoExternalizedCheckpoints
        );
        assert_eq!(j.restart, RestartStrategy::None);
        assert_eq!(j.savepoint, SavepointRestore::default());
        assert_eq!(j.storage, StorageConfig::default());
        Ok(())
    }

    #[test]
    fn checkpointing_alone_makes_restarts_exponential() -> Result<()> {
        let j = JobConfig::resolve(&config(&[
            (CHECKPOINTING_INTERVAL, "1s"),
            (CHECKPOINTS_DIR, "/chk/"),
        ]))?;
        assert_eq!(j.checkpointing.interval_ms, Some(1000));
        assert_eq!(j.checkpointing.dir.as_deref(), Some("/chk"));
        assert_eq!(
            j.restart,
            RestartStrategy::ExponentialDelay(ExponentialDelay::default())
        );
        // An explicit none still wins.
        let j = JobConfig::resolve(&config(&[
            (CHECKPOINTING_INTERVAL, "1s"),
            (CHECKPOINTS_DIR, "/chk"),
            (RESTART_STRATEGY_TYPE, "none"),
        ]))?;
        assert_eq!(j.restart, RestartStrategy::None);
        // Interval 0 is off.
        let j = JobConfig::resolve(&config(&[(CHECKPOINTING_INTERVAL, "0")]))?;
        assert!(!j.checkpointing_enabled());
        Ok(())
    }

    #[test]
    fn set_values_are_typed() -> Result<()> {
        let j = JobConfig::resolve(&config(&[
            (PARALLELISM_DEFAULT, "4"),
            (LOCAL_TIME_ZONE, "+08:00"),
            (CHECKPOINTING_INTERVAL, "10 s"),
            (CHECKPOINTING_TIMEOUT, "2 min"),
            (CHECKPOINTING_MIN_PAUSE, "500 ms"),
            (CHECKPOINTING_MAX_CONCURRENT, "3"),
            (CHECKPOINTING_TOLERABLE_FAILURES, "2"),
            (CHECKPOINTING_RETENTION, "retain_on_cancellation"),
            (STATE_CHECKPOINTS_DIR, "s3://b/chk"),
            (STATE_SAVEPOINTS_DIR, "s3://b/sp/"),
            (SAVEPOINT_PATH, " s3://b/sp/savepoint-1 "),
            (SAVEPOINT_IGNORE_UNCLAIMED_STATE, "TRUE"),
            (S3_ENDPOINT, "http://127.0.0.1:9000"),
            (S3_PATH_STYLE_ACCESS, "true"),
            ("s3.access.key", "old-access"),
            (S3_SECRET_KEY, "secret"),
        ]))?;
        assert_eq!(j.execution.parallelism, 4);
        assert_eq!(j.execution.local_time_zone_offset_ms, 8 * 3_600_000);
        let cp = &j.checkpointing;
        assert_eq!(
            (cp.interval_ms, cp.timeout_ms, cp.min_pause_ms),
            (Some(10_000), 120_000, 500)
        );
        assert_eq!((cp.max_concurrent, cp.tolerable_failures), (3, 2));
        assert_eq!(cp.retention.to_string(), "RETAIN_ON_CANCELLATION");
        assert_eq!(cp.dir.as_deref(), Some("s3://b/chk"));
        assert_eq!(cp.savepoint_dir.as_deref(), Some("s3://b/sp"));
        assert_eq!(
            cp.checkpoint_location("j", 3).as_deref(),
            Some("s3://b/chk/j/chk-3")
        );
        assert_eq!(j.savepoint.path.as_deref(), Some("s3://b/sp/savepoint-1"));
        assert!(j.savepoint.ignore_unclaimed_state);
        assert_eq!(j.storage.s3_path_style_access, Some(true));
        assert_eq!(j.storage.s3_access_key.as_deref(), Some("old-access"));
        assert!(!format!("{:?}", j.storage).contains("secret\""));
        let shown: Vec<_> = j
            .effective
            .iter()
            .filter(|e| e.key == S3_SECRET_KEY)
            .collect();
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].value, "******");
        Ok(())
    }

    #[test]
    fn rules_spanning_keys() {
        for (pairs, key) in [
            (
                vec![(CHECKPOINTING_INTERVAL, "1 s")],
                CHECKPOINTING_INTERVAL,
            ),
            (
                vec![(PARALLELISM_DEFAULT, "8"), (MAX_PARALLELISM, "4")],
                PARALLELISM_DEFAULT,
            ),
            (vec![(CHECKPOINTING_TIMEOUT, "0")], CHECKPOINTING_TIMEOUT),
            (
                vec![(CHECKPOINTING_MAX_CONCURRENT, "0")],
                CHECKPOINTING_MAX_CONCURRENT,
            ),
            (
                vec![(CHECKPOINTING_RETENTION, "forever")],
                CHECKPOINTING_RETENTION,
            ),
        ] {
            let e = JobConfig::resolve(&config(&pairs))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{pairs:?}: {e}");
        }
    }

    /// The explicit key, else Flink's high-availability default, else beside
    /// the checkpoints (issue 15, case 2).
    #[test]
    fn the_result_store_defaults_to_the_high_availability_storage() -> Result<()> {
        let store = |pairs: &[(&str, &str)]| -> Result<Option<String>> {
            Ok(JobConfig::resolve(&config(pairs))?
                .checkpointing
                .result_store)
        };
        let ha = [
            (HA_TYPE, "KUBERNETES"),
            (HA_STORAGE_DIR, "s3://b/ha/"),
            (KUBERNETES_CLUSTER_ID, "my-cluster"),
        ];
        assert_eq!(store(&[])?, None);
        assert_eq!(
            store(&[(CHECKPOINTS_DIR, "/chk")])?.as_deref(),
            Some("/chk/job-result-store")
        );
        // With high availability, even when there is a checkpoint directory.
        let mut pairs = ha.to_vec();
        pairs.push((CHECKPOINTS_DIR, "/chk"));
        assert_eq!(
            store(&pairs)?.as_deref(),
            Some("s3://b/ha/job-result-store/my-cluster")
        );
        // high-availability.cluster-id before kubernetes.cluster-id.
        pairs.push((HA_CLUSTER_ID, "ha-id"));
        assert_eq!(
            store(&pairs)?.as_deref(),
            Some("s3://b/ha/job-result-store/ha-id")
        );
        // The key wins.
        pairs.push((JOB_RESULT_STORE_PATH, "file:///jrs/"));
        assert_eq!(store(&pairs)?.as_deref(), Some("file:///jrs"));
        // A storage directory alone is not high availability.
        assert_eq!(
            store(&[(HA_STORAGE_DIR, "/ha"), (CHECKPOINTS_DIR, "/chk")])?.as_deref(),
            Some("/chk/job-result-store")
        );
        Ok(())
    }

    #[test]
    fn travels_as_json_unchanged() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let j = JobConfig::resolve(&config(&[
            (CHECKPOINTING_INTERVAL, "1 s"),
            (CHECKPOINTS_DIR, "/chk"),
            (S3_SECRET_KEY, "secret"),
        ]))?;
        let back: JobConfig = serde_json::from_str(&serde_json::to_string(&j)?)?;
        assert_eq!(back, j);
        Ok(())
    }
}
