//! Checkpoint, savepoint and S3 options: how often and how carefully a job
//! checkpoints, where checkpoints and savepoints are stored, which savepoint a
//! job starts from, and how the S3 file system is reached.
//!
//! Keys, values and defaults are Flink's. Flink 2 renamed the storage keys
//! (`state.checkpoints.dir` became `execution.checkpointing.dir`, and so on);
//! both spellings are accepted and the Flink 2 name wins when both are set, so
//! a `config.yaml` from either Flink generation works. The S3 keys are the ones
//! Flink's S3 file system plugins read (`s3.access-key` with its older alias
//! `s3.access.key`); `riffle-storage` turns them into an object-store client.
//!
//! Text options (directories, endpoint, credentials) read as `None` when unset
//! or blank; typed options are errors naming the key when malformed.

use std::fmt;

use super::Configuration;
use super::value::{invalid, parse_bool, parse_positive_duration_ms, parse_u32};
use crate::Result;

/// `execution.checkpointing.interval`: checkpoint interval; unset = checkpointing disabled.
pub const CHECKPOINTING_INTERVAL: &str = "execution.checkpointing.interval";
/// `execution.checkpointing.timeout`: a checkpoint not complete after this long is aborted.
pub const CHECKPOINTING_TIMEOUT: &str = "execution.checkpointing.timeout";
/// `execution.checkpointing.min-pause`: least time between the end of one checkpoint
/// and the start of the next.
pub const CHECKPOINTING_MIN_PAUSE: &str = "execution.checkpointing.min-pause";
/// `execution.checkpointing.max-concurrent-checkpoints`: checkpoints in flight at once.
pub const CHECKPOINTING_MAX_CONCURRENT: &str = "execution.checkpointing.max-concurrent-checkpoints";
/// `execution.checkpointing.tolerable-failed-checkpoints`: consecutive checkpoint
/// failures tolerated before the job fails.
pub const CHECKPOINTING_TOLERABLE_FAILURES: &str =
    "execution.checkpointing.tolerable-failed-checkpoints";
/// `execution.checkpointing.externalized-checkpoint-retention`: whether completed
/// checkpoints outlive the job (see [`ExternalizedCheckpointRetention`]).
pub const CHECKPOINTING_RETENTION: &str =
    "execution.checkpointing.externalized-checkpoint-retention";
/// `execution.checkpointing.dir` (Flink 2): where checkpoints are written.
pub const CHECKPOINTS_DIR: &str = "execution.checkpointing.dir";
/// `state.checkpoints.dir`: the Flink 1 name of [`CHECKPOINTS_DIR`].
pub const STATE_CHECKPOINTS_DIR: &str = "state.checkpoints.dir";
/// `execution.checkpointing.num-retained` (Flink 2): completed checkpoints kept.
pub const CHECKPOINTS_NUM_RETAINED: &str = "execution.checkpointing.num-retained";
/// `state.checkpoints.num-retained`: the Flink 1 name of [`CHECKPOINTS_NUM_RETAINED`].
pub const STATE_CHECKPOINTS_NUM_RETAINED: &str = "state.checkpoints.num-retained";
/// `execution.checkpointing.savepoint-dir` (Flink 2): default savepoint target directory.
pub const SAVEPOINT_DIR: &str = "execution.checkpointing.savepoint-dir";
/// `state.savepoints.dir`: the Flink 1 name of [`SAVEPOINT_DIR`].
pub const STATE_SAVEPOINTS_DIR: &str = "state.savepoints.dir";
/// `execution.savepoint.path`: the savepoint or retained checkpoint a job starts from.
pub const SAVEPOINT_PATH: &str = "execution.savepoint.path";
/// `execution.savepoint.ignore-unclaimed-state`: allow savepoint state that maps
/// to no operator (the CLI's `--allowNonRestoredState`).
pub const SAVEPOINT_IGNORE_UNCLAIMED_STATE: &str = "execution.savepoint.ignore-unclaimed-state";
/// `s3.endpoint`: the S3 service URL (for MinIO and other S3-compatible stores).
pub const S3_ENDPOINT: &str = "s3.endpoint";
/// `s3.path.style.access`: `true` addresses buckets as `endpoint/bucket` rather
/// than `bucket.endpoint`.
pub const S3_PATH_STYLE_ACCESS: &str = "s3.path.style.access";
/// `s3.access-key`: the S3 access key id.
pub const S3_ACCESS_KEY: &str = "s3.access-key";
/// `s3.access.key`: an older spelling of [`S3_ACCESS_KEY`].
pub const S3_ACCESS_KEY_ALIAS: &str = "s3.access.key";
/// `s3.secret-key`: the S3 secret access key.
pub const S3_SECRET_KEY: &str = "s3.secret-key";
/// `s3.secret.key`: an older spelling of [`S3_SECRET_KEY`].
pub const S3_SECRET_KEY_ALIAS: &str = "s3.secret.key";

/// Values of [`CHECKPOINTING_RETENTION`], lowercase (they are matched in any
/// case; Flink writes them in capitals).
pub(crate) const RETENTION_VALUES: &[&str] = &[
    "delete_on_cancellation",
    "retain_on_cancellation",
    "no_externalized_checkpoints",
];

/// What happens to a job's completed checkpoints when it ends
/// ([`CHECKPOINTING_RETENTION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

impl Configuration {
    /// `execution.checkpointing.interval` in ms; `None` when unset or zero
    /// (checkpointing disabled).
    pub fn checkpointing_interval_ms(&self) -> Result<Option<i64>> {
        let ms = self.get_duration_ms(CHECKPOINTING_INTERVAL, 0)?;
        Ok((ms > 0).then_some(ms))
    }

    /// `execution.checkpointing.timeout` in ms (default 10 min); above zero.
    pub fn checkpointing_timeout_ms(&self) -> Result<i64> {
        self.get(CHECKPOINTING_TIMEOUT).map_or(Ok(600_000), |v| {
            parse_positive_duration_ms(CHECKPOINTING_TIMEOUT, v)
        })
    }

    /// `execution.checkpointing.min-pause` in ms (default 0).
    pub fn checkpointing_min_pause_ms(&self) -> Result<i64> {
        self.get_duration_ms(CHECKPOINTING_MIN_PAUSE, 0)
    }

    /// `execution.checkpointing.max-concurrent-checkpoints` (default 1, at least 1).
    pub fn max_concurrent_checkpoints(&self) -> Result<u32> {
        self.get(CHECKPOINTING_MAX_CONCURRENT)
            .map_or(Ok(1), |v| parse_u32(CHECKPOINTING_MAX_CONCURRENT, v, 1))
    }

    /// `execution.checkpointing.tolerable-failed-checkpoints` (default 0).
    pub fn tolerable_failed_checkpoints(&self) -> Result<u32> {
        self.get_u32(CHECKPOINTING_TOLERABLE_FAILURES, 0)
    }

    /// `execution.checkpointing.externalized-checkpoint-retention` (default
    /// `NO_EXTERNALIZED_CHECKPOINTS`); any case is accepted.
    pub fn externalized_checkpoint_retention(&self) -> Result<ExternalizedCheckpointRetention> {
        let Some(v) = self.get(CHECKPOINTING_RETENTION) else {
            return Ok(ExternalizedCheckpointRetention::default());
        };
        match v.trim().to_ascii_uppercase().as_str() {
            "DELETE_ON_CANCELLATION" => Ok(ExternalizedCheckpointRetention::DeleteOnCancellation),
            "RETAIN_ON_CANCELLATION" => Ok(ExternalizedCheckpointRetention::RetainOnCancellation),
            "NO_EXTERNALIZED_CHECKPOINTS" => {
                Ok(ExternalizedCheckpointRetention::NoExternalizedCheckpoints)
            }
            _ => Err(invalid(
                CHECKPOINTING_RETENTION,
                v,
                "expected one of DELETE_ON_CANCELLATION, RETAIN_ON_CANCELLATION, \
                 NO_EXTERNALIZED_CHECKPOINTS",
            )),
        }
    }

    /// Where checkpoints are written: `execution.checkpointing.dir`, else
    /// `state.checkpoints.dir`; `None` when neither is set.
    pub fn checkpoints_dir(&self) -> Option<String> {
        self.text_of(&[CHECKPOINTS_DIR, STATE_CHECKPOINTS_DIR])
    }

    /// Completed checkpoints to keep: `execution.checkpointing.num-retained`,
    /// else `state.checkpoints.num-retained` (default 1, at least 1).
    pub fn checkpoints_num_retained(&self) -> Result<u32> {
        for key in [CHECKPOINTS_NUM_RETAINED, STATE_CHECKPOINTS_NUM_RETAINED] {
            if let Some(v) = self.get(key) {
                return parse_u32(key, v, 1);
            }
        }
        Ok(1)
    }

    /// The default savepoint directory: `execution.checkpointing.savepoint-dir`,
    /// else `state.savepoints.dir`; `None` when neither is set.
    pub fn savepoints_dir(&self) -> Option<String> {
        self.text_of(&[SAVEPOINT_DIR, STATE_SAVEPOINTS_DIR])
    }

    /// `execution.savepoint.path`: the savepoint to start from; `None` when unset.
    pub fn savepoint_path(&self) -> Option<String> {
        self.text_of(&[SAVEPOINT_PATH])
    }

    /// `execution.savepoint.ignore-unclaimed-state` (default `false`).
    pub fn savepoint_ignore_unclaimed_state(&self) -> Result<bool> {
        self.get(SAVEPOINT_IGNORE_UNCLAIMED_STATE)
            .map_or(Ok(false), |v| {
                parse_bool(SAVEPOINT_IGNORE_UNCLAIMED_STATE, v)
            })
    }

    /// `s3.endpoint`; `None` when unset (the AWS endpoint of the region).
    pub fn s3_endpoint(&self) -> Option<String> {
        self.text_of(&[S3_ENDPOINT])
    }

    /// `s3.path.style.access` (default `false`: virtual-hosted-style requests).
    pub fn s3_path_style_access(&self) -> Result<bool> {
        self.get(S3_PATH_STYLE_ACCESS)
            .map_or(Ok(false), |v| parse_bool(S3_PATH_STYLE_ACCESS, v))
    }

    /// `s3.access-key`, else `s3.access.key`; `None` when neither is set.
    pub fn s3_access_key(&self) -> Option<String> {
        self.text_of(&[S3_ACCESS_KEY, S3_ACCESS_KEY_ALIAS])
    }

    /// `s3.secret-key`, else `s3.secret.key`; `None` when neither is set.
    pub fn s3_secret_key(&self) -> Option<String> {
        self.text_of(&[S3_SECRET_KEY, S3_SECRET_KEY_ALIAS])
    }

    /// The trimmed value of the first of `keys` that is set and not blank.
    fn text_of(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .filter_map(|k| self.get(k))
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        pairs.iter().copied().collect()
    }

    #[test]
    fn flink_defaults() -> Result<()> {
        let c = Configuration::new();
        assert_eq!(c.checkpointing_interval_ms()?, None);
        assert_eq!(c.checkpointing_timeout_ms()?, 600_000);
        assert_eq!(c.checkpointing_min_pause_ms()?, 0);
        assert_eq!(c.max_concurrent_checkpoints()?, 1);
        assert_eq!(c.tolerable_failed_checkpoints()?, 0);
        assert_eq!(
            c.externalized_checkpoint_retention()?,
            ExternalizedCheckpointRetention::NoExternalizedCheckpoints
        );
        assert_eq!(c.checkpoints_dir(), None);
        assert_eq!(c.checkpoints_num_retained()?, 1);
        assert_eq!(c.savepoints_dir(), None);
        assert_eq!(c.savepoint_path(), None);
        assert!(!c.savepoint_ignore_unclaimed_state()?);
        assert_eq!(c.s3_endpoint(), None);
        assert!(!c.s3_path_style_access()?);
        assert_eq!(c.s3_access_key(), None);
        assert_eq!(c.s3_secret_key(), None);
        Ok(())
    }

    #[test]
    fn set_values_are_typed() -> Result<()> {
        let c = config(&[
            (CHECKPOINTING_INTERVAL, "10 s"),
            (CHECKPOINTING_TIMEOUT, "2 min"),
            (CHECKPOINTING_MIN_PAUSE, "500 ms"),
            (CHECKPOINTING_MAX_CONCURRENT, "3"),
            (CHECKPOINTING_TOLERABLE_FAILURES, "2"),
            (CHECKPOINTING_RETENTION, "retain_on_cancellation"),
            (SAVEPOINT_PATH, " s3://bucket/savepoints/savepoint-1 "),
            (SAVEPOINT_IGNORE_UNCLAIMED_STATE, "TRUE"),
            (S3_ENDPOINT, "http://127.0.0.1:9000"),
            (S3_PATH_STYLE_ACCESS, "true"),
        ]);
        assert_eq!(c.checkpointing_interval_ms()?, Some(10_000));
        assert_eq!(c.checkpointing_timeout_ms()?, 120_000);
        assert_eq!(c.checkpointing_min_pause_ms()?, 500);
        assert_eq!(c.max_concurrent_checkpoints()?, 3);
        assert_eq!(c.tolerable_failed_checkpoints()?, 2);
        assert_eq!(
            c.externalized_checkpoint_retention()?,
            ExternalizedCheckpointRetention::RetainOnCancellation
        );
        assert_eq!(
            c.externalized_checkpoint_retention()?.to_string(),
            "RETAIN_ON_CANCELLATION"
        );
        assert_eq!(
            c.savepoint_path().as_deref(),
            Some("s3://bucket/savepoints/savepoint-1")
        );
        assert!(c.savepoint_ignore_unclaimed_state()?);
        assert_eq!(c.s3_endpoint().as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.s3_path_style_access()?);
        assert_eq!(
            config(&[(CHECKPOINTING_INTERVAL, "0")]).checkpointing_interval_ms()?,
            None
        );
        Ok(())
    }

    #[test]
    fn flink_2_names_win_over_flink_1_names() -> Result<()> {
        let old = config(&[
            (STATE_CHECKPOINTS_DIR, "file:///old/chk"),
            (STATE_CHECKPOINTS_NUM_RETAINED, "3"),
            (STATE_SAVEPOINTS_DIR, "/old/sp"),
            (S3_ACCESS_KEY_ALIAS, "old-access"),
            (S3_SECRET_KEY_ALIAS, "old-secret"),
        ]);
        assert_eq!(old.checkpoints_dir().as_deref(), Some("file:///old/chk"));
        assert_eq!(old.checkpoints_num_retained()?, 3);
        assert_eq!(old.savepoints_dir().as_deref(), Some("/old/sp"));
        assert_eq!(old.s3_access_key().as_deref(), Some("old-access"));
        assert_eq!(old.s3_secret_key().as_deref(), Some("old-secret"));

        let mut both = old.clone();
        both.set(CHECKPOINTS_DIR, "s3://bucket/chk");
        both.set(CHECKPOINTS_NUM_RETAINED, "5");
        both.set(SAVEPOINT_DIR, "s3://bucket/sp");
        both.set(S3_ACCESS_KEY, "access");
        both.set(S3_SECRET_KEY, "secret");
        assert_eq!(both.checkpoints_dir().as_deref(), Some("s3://bucket/chk"));
        assert_eq!(both.checkpoints_num_retained()?, 5);
        assert_eq!(both.savepoints_dir().as_deref(), Some("s3://bucket/sp"));
        assert_eq!(both.s3_access_key().as_deref(), Some("access"));
        assert_eq!(both.s3_secret_key().as_deref(), Some("secret"));

        // A blank value counts as unset, so the other name applies.
        let blank = config(&[(CHECKPOINTS_DIR, " "), (STATE_CHECKPOINTS_DIR, "/chk")]);
        assert_eq!(blank.checkpoints_dir().as_deref(), Some("/chk"));
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let cases: [(&str, &str, &str); 9] = [
            (CHECKPOINTING_TIMEOUT, "0", "above zero"),
            (CHECKPOINTING_MIN_PAUSE, "soon", "duration"),
            (CHECKPOINTING_MAX_CONCURRENT, "0", "between 1 and"),
            (CHECKPOINTING_TOLERABLE_FAILURES, "-1", "between 0 and"),
            (
                CHECKPOINTING_RETENTION,
                "KEEP",
                "DELETE_ON_CANCELLATION, RETAIN_ON_CANCELLATION, NO_EXTERNALIZED_CHECKPOINTS",
            ),
            (CHECKPOINTS_NUM_RETAINED, "0", "between 1 and"),
            (STATE_CHECKPOINTS_NUM_RETAINED, "many", "between 1 and"),
            (SAVEPOINT_IGNORE_UNCLAIMED_STATE, "yes", "true or false"),
            (S3_PATH_STYLE_ACCESS, "1", "true or false"),
        ];
        for (key, value, expected) in cases {
            let c = config(&[(key, value)]);
            let errors = [
                c.checkpointing_timeout_ms().err(),
                c.checkpointing_min_pause_ms().err(),
                c.max_concurrent_checkpoints().err(),
                c.tolerable_failed_checkpoints().err(),
                c.externalized_checkpoint_retention().err(),
                c.checkpoints_num_retained().err(),
                c.savepoint_ignore_unclaimed_state().err(),
                c.s3_path_style_access().err(),
            ];
            let e = errors
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .next()
                .unwrap_or_default();
            assert!(e.contains(key), "{key}={value:?}: {e:?}");
            assert!(e.contains(expected), "{key}={value:?}: {e:?}");
            // Start-up validation rejects the same value.
            let v = c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(v.contains(key), "validate {key}={value:?}: {v:?}");
        }
    }

    #[test]
    fn every_key_is_known() {
        let mut c = Configuration::new();
        for key in [
            CHECKPOINTING_INTERVAL,
            CHECKPOINTING_TIMEOUT,
            CHECKPOINTING_MIN_PAUSE,
            CHECKPOINTING_MAX_CONCURRENT,
            CHECKPOINTING_TOLERABLE_FAILURES,
            CHECKPOINTING_RETENTION,
            CHECKPOINTS_DIR,
            STATE_CHECKPOINTS_DIR,
            CHECKPOINTS_NUM_RETAINED,
            STATE_CHECKPOINTS_NUM_RETAINED,
            SAVEPOINT_DIR,
            STATE_SAVEPOINTS_DIR,
            SAVEPOINT_PATH,
            SAVEPOINT_IGNORE_UNCLAIMED_STATE,
            S3_ENDPOINT,
            S3_PATH_STYLE_ACCESS,
            S3_ACCESS_KEY,
            S3_ACCESS_KEY_ALIAS,
            S3_SECRET_KEY,
            S3_SECRET_KEY_ALIAS,
        ] {
            c.set(key, "x");
        }
        assert!(c.unknown_keys().is_empty(), "{:?}", c.unknown_keys());
    }
}
