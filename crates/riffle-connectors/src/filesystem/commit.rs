//! Partition commit (Flink's `sink.partition-commit.*`): when a partition is
//! complete, tell readers so by a `_SUCCESS` file in its directory.
//!
//! The decision is pure ([`PartitionCommit::is_due`]); the writer in
//! [`super::sink`] calls it only for partitions whose files are already
//! visible, and acts on it. Two triggers, as in Flink:
//!
//! - `process-time` (default): due once the wall clock is past the time the
//!   partition was created (its first row) plus `sink.partition-commit.delay`;
//!   with no delay, as soon as its files are visible.
//! - `partition-time`: due once the watermark is past the partition's time
//!   (see [`super::partition::TimeExtractor`], turned into epoch
//!   milliseconds with `sink.partition-commit.watermark-time-zone`) plus the
//!   delay. The watermark used is the one the sink had when the checkpoint
//!   whose files were committed was taken: everything before it is in those
//!   files.
//!
//! When the input ends every partition with visible files is committed,
//! whatever the trigger says (Flink commits all partitions of a bounded job).
//! Policy kinds: only `success-file`; `metastore` needs a Hive metastore and
//! `custom` a user class, neither of which Riffle has.

use riffle_common::config::parse::{self, BadValue, Parsed};

use super::partition::TimeExtractor;
use crate::options::invalid_value;
use crate::{Error, Result};

/// `sink.partition-commit.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// `process-time`: creation time plus delay on the wall clock.
    ProcessTime,
    /// `partition-time`: partition time plus delay on the watermark.
    PartitionTime,
}

impl Trigger {
    /// Parses the option value.
    pub(super) fn parse(value: &str) -> Parsed<Self> {
        match parse::enumeration(value, &["process-time", "partition-time"])? {
            "partition-time" => Ok(Trigger::PartitionTime),
            _ => Ok(Trigger::ProcessTime),
        }
    }
}

/// Checks `sink.partition-commit.policy.kind` (a comma-separated list) of
/// `table`: only `success-file` is supported.
pub(super) fn check_policy_kind(table: &str, value: &str) -> Result<()> {
    for kind in value.split(',').map(|k| k.trim().to_ascii_lowercase()) {
        match kind.as_str() {
            "success-file" => {}
            "metastore" => {
                return Err(Error::Unsupported(
                    "option 'sink.partition-commit.policy.kind': 'metastore' needs a Hive \
                     metastore, which Riffle does not have; use 'success-file'"
                        .into(),
                ));
            }
            "custom" => {
                return Err(Error::Unsupported(
                    "option 'sink.partition-commit.policy.kind': 'custom' policies are Java \
                     classes, which Riffle cannot load; use 'success-file'"
                        .into(),
                ));
            }
            other => {
                return Err(invalid_value(
                    table,
                    "sink.partition-commit.policy.kind",
                    value,
                    &BadValue(format!(
                        "unknown policy kind '{other}'; expected success-file (Flink's \
                         metastore and custom are not supported)"
                    )),
                ));
            }
        }
    }
    Ok(())
}

/// A partitioned table's commit settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartitionCommit {
    /// When a partition is due.
    pub trigger: Trigger,
    /// `sink.partition-commit.delay`, in milliseconds.
    pub delay_ms: i64,
    /// `sink.partition-commit.watermark-time-zone` as an offset from UTC.
    pub zone_offset_ms: i64,
    /// How the `partition-time` trigger gets a partition's time.
    pub extractor: TimeExtractor,
    /// `sink.partition-commit.success-file.name`.
    pub success_file: String,
}

impl PartitionCommit {
    /// The partition's time in epoch milliseconds, for the `partition-time`
    /// trigger (`None` for `process-time`, which needs no time).
    pub(super) fn partition_time(&self, values: &[String]) -> Result<Option<i64>> {
        if self.trigger != Trigger::PartitionTime {
            return Ok(None);
        }
        let local = self.extractor.extract(values)?;
        Ok(Some(local.saturating_sub(self.zone_offset_ms)))
    }

    /// Whether a partition created at `created_ms` (wall clock) with
    /// partition time `time_ms` may be committed at wall-clock time `now_ms`
    /// with watermark `watermark`. Flink's rules: `process-time` commits when
    /// there is no delay or `now > created + delay`; `partition-time` when
    /// `watermark > time + delay`.
    pub(super) fn is_due(
        &self,
        created_ms: i64,
        time_ms: Option<i64>,
        now_ms: i64,
        watermark: i64,
    ) -> bool {
        match self.trigger {
            Trigger::ProcessTime => {
                self.delay_ms == 0 || now_ms > created_ms.saturating_add(self.delay_ms)
            }
            Trigger::PartitionTime => {
                time_ms.is_some_and(|t| watermark > t.saturating_add(self.delay_ms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(trigger: Trigger, delay_ms: i64) -> PartitionCommit {
        PartitionCommit {
            trigger,
            delay_ms,
            zone_offset_ms: 0,
            extractor: TimeExtractor::new(
                vec!["dt".into(), "hm".into()],
                Some("$dt $hm:00".into()),
                None,
            ),
            success_file: "_SUCCESS".into(),
        }
    }

    #[test]
    fn process_time_waits_for_the_delay_on_the_clock() {
        let now = commit(Trigger::ProcessTime, 0);
        assert!(now.is_due(1_000, None, 1_000, i64::MIN));
        let later = commit(Trigger::ProcessTime, 60_000);
        assert!(!later.is_due(1_000, None, 61_000, i64::MAX));
        assert!(later.is_due(1_000, None, 61_001, i64::MIN));
    }

    #[test]
    fn partition_time_waits_for_the_watermark() -> Result<()> {
        // q10: partition dt=2015-07-15/hm=00:01, delay 1 min.
        let c = commit(Trigger::PartitionTime, 60_000);
        let t = c.partition_time(&["2015-07-15".into(), "00:01".into()])?;
        let minute_1 = 1_436_918_460_000;
        assert_eq!(t, Some(minute_1));
        // The wall clock does not matter, the watermark does, strictly.
        assert!(!c.is_due(0, t, i64::MAX, minute_1 + 60_000));
        assert!(c.is_due(0, t, 0, minute_1 + 60_001));
        // A zone east of UTC makes the partition's instant earlier.
        let shanghai = PartitionCommit {
            zone_offset_ms: 8 * 3_600_000,
            ..c.clone()
        };
        assert_eq!(
            shanghai.partition_time(&["2015-07-15".into(), "08:01".into()])?,
            Some(minute_1)
        );
        assert_eq!(
            commit(Trigger::ProcessTime, 0).partition_time(&["nonsense".into()])?,
            None
        );
        Ok(())
    }

    #[test]
    fn options_name_the_allowed_values() {
        assert_eq!(
            Trigger::parse("partition-time").ok(),
            Some(Trigger::PartitionTime)
        );
        let e = Trigger::parse("event-time").unwrap_err().to_string();
        assert_eq!(e, "expected one of process-time, partition-time");
        assert!(check_policy_kind("t", "success-file").is_ok());
        assert!(check_policy_kind("t", " Success-File ").is_ok());
        for (kind, says) in [
            (
                "metastore,success-file",
                "'metastore' needs a Hive metastore",
            ),
            ("custom", "Java classes"),
            (
                "success",
                "invalid value \"success\" for option 'sink.partition-commit.policy.kind' of \
                 table 't': unknown policy kind 'success'; expected success-file",
            ),
        ] {
            let e = check_policy_kind("t", kind).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("success-file"), "{e}");
        }
    }
}
