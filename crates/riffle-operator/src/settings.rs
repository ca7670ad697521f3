//! The operator's settings: its own (`kubernetes.operator.*` in its
//! configuration) and those a resource may override in its
//! `spec.flinkConfiguration`, as the Flink operator allows.

use std::time::Duration;

use riffle_common::config::{self as keys, Configuration};

use crate::autoscaler::settings::AutoscalerSettings;
use crate::crd::common::SavepointFormatType;
use crate::snapshot::schedule::{Schedule, ScheduleSettings};

/// Settings of the operator process.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorSettings {
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    /// The Lease of the leader election, when enabled.
    pub leader_election: Option<LeaderSettings>,
    /// Port of `/healthz` and `/metrics`, when enabled.
    pub probe_port: Option<u16>,
    /// Retry policy of failed reconciles.
    pub retry: RetryPolicy,
    /// Timeout of REST calls to JobManagers.
    pub client_timeout: Duration,
    /// Resources of one kind reconciled at once.
    pub parallelism: u16,
}

/// The operator's leader election.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderSettings {
    /// The Lease's name.
    pub lease_name: String,
    /// Lease duration.
    pub lease_duration: Duration,
    /// Renew deadline.
    pub renew_deadline: Duration,
    /// Retry period.
    pub retry_period: Duration,
}

/// How long to wait before retrying a failed reconcile: exponential, capped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The first pause.
    pub initial: Duration,
    /// Growth per failure.
    pub multiplier: f64,
    /// The longest pause.
    pub max: Duration,
}

impl RetryPolicy {
    /// The pause after the `failures`-th consecutive failure (1-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = i32::try_from(failures.saturating_sub(1).min(64)).unwrap_or(64);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        Duration::from_secs_f64(secs.min(self.max.as_secs_f64()))
    }
}

fn ms(c: &Configuration, key: &str) -> riffle_common::Result<Duration> {
    Ok(Duration::from_millis(
        u64::try_from(c.ms(key)?).unwrap_or(0),
    ))
}

impl OperatorSettings {
    /// Reads the operator's settings from its configuration.
    pub fn resolve(c: &Configuration) -> riffle_common::Result<OperatorSettings> {
        let leader_election = if c.flag(keys::OPERATOR_LEADER_ELECTION)? {
            let lease_name = c.opt_text(keys::OPERATOR_LEASE_NAME)?.ok_or_else(|| {
                c.invalid(
                    keys::OPERATOR_LEASE_NAME,
                    "kubernetes.operator.leader-election.enabled is true: name the Lease",
                )
            })?;
            let s = LeaderSettings {
                lease_name,
                lease_duration: ms(c, keys::OPERATOR_LEASE_DURATION)?,
                renew_deadline: ms(c, keys::OPERATOR_RENEW_DEADLINE)?,
                retry_period: ms(c, keys::OPERATOR_RETRY_PERIOD)?,
            };
            if s.renew_deadline > s.lease_duration {
                return Err(c.invalid(
                    keys::OPERATOR_RENEW_DEADLINE,
                    "must not exceed kubernetes.operator.leader-election.lease-duration",
                ));
            }
            Some(s)
        } else {
            None
        };
        let probe_port = if c.flag(keys::OPERATOR_PROBE_ENABLED)? {
            Some(u16::try_from(c.int(keys::OPERATOR_PROBE_PORT)?).unwrap_or(8085))
        } else {
            None
        };
        Ok(OperatorSettings {
            // Flink separates them with commas; Riffle's lists use ';'.
            namespaces: c
                .list(keys::OPERATOR_WATCHED_NAMESPACES)?
                .iter()
                .flat_map(|n| n.split(','))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
            leader_election,
            probe_port,
            retry: RetryPolicy {
                initial: ms(c, keys::OPERATOR_RETRY_INITIAL)?,
                multiplier: c.float(keys::OPERATOR_RETRY_MULTIPLIER)?,
                max: ms(c, keys::OPERATOR_RETRY_MAX_INTERVAL)?,
            },
            client_timeout: ms(c, keys::OPERATOR_CLIENT_TIMEOUT)?,
            parallelism: u16::try_from(c.count(keys::OPERATOR_RECONCILE_PARALLELISM)?)
                .unwrap_or(u16::MAX),
        })
    }
}

/// Settings of one resource's reconciliation: the operator's, overridden by
/// the resource's `flinkConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSettings {
    /// Observe a settled resource again after this long.
    pub reconcile_interval: Duration,
    /// Observe a resource in transition again after this long.
    pub progress_interval: Duration,
    /// Roll back a spec that does not become ready.
    pub rollback: bool,
    /// How long a new spec may take to run its job.
    pub readiness_timeout_ms: i64,
    /// A failed or timed-out upgrade savepoint falls back to the latest checkpoint.
    pub last_state_fallback: bool,
    /// Recreate a JobManager Deployment that disappeared.
    pub jm_recovery: bool,
    /// How long an upgrade savepoint may take (`execution.checkpointing.timeout`).
    pub savepoint_timeout_ms: i64,
    /// Periodic snapshots and the savepoint history.
    pub snapshots: ScheduleSettings,
    /// How long a savepoint may wait for its job to run.
    pub savepoint_grace_ms: i64,
    /// How long a checkpoint may wait for its job to run.
    pub checkpoint_grace_ms: i64,
    /// The autoscaler's settings.
    pub autoscaler: AutoscalerSettings,
}

impl ResourceSettings {
    /// Reads the settings of a resource whose cluster configuration is `c`
    /// (the operator's configuration with the resource's keys over it).
    pub fn resolve(c: &Configuration) -> riffle_common::Result<ResourceSettings> {
        Ok(ResourceSettings {
            reconcile_interval: ms(c, keys::OPERATOR_RECONCILE_INTERVAL)?,
            progress_interval: ms(c, keys::OPERATOR_PROGRESS_CHECK_INTERVAL)?,
            rollback: c.flag(keys::OPERATOR_ROLLBACK_ENABLED)?,
            readiness_timeout_ms: c.ms(keys::OPERATOR_READINESS_TIMEOUT)?,
            last_state_fallback: c.flag(keys::OPERATOR_LAST_STATE_FALLBACK)?,
            jm_recovery: c.flag(keys::OPERATOR_JM_RECOVERY)?,
            savepoint_timeout_ms: c.ms(keys::CHECKPOINTING_TIMEOUT)?,
            snapshots: schedule_settings(c)?,
            savepoint_grace_ms: c.ms(keys::OPERATOR_SAVEPOINT_GRACE_PERIOD)?,
            checkpoint_grace_ms: c.ms(keys::OPERATOR_CHECKPOINT_GRACE_PERIOD)?,
            autoscaler: AutoscalerSettings::resolve(c)?,
        })
    }
}

fn schedule_settings(c: &Configuration) -> riffle_common::Result<ScheduleSettings> {
    if !c.flag(keys::OPERATOR_SNAPSHOT_RESOURCES)? {
        return Err(c.invalid(
            keys::OPERATOR_SNAPSHOT_RESOURCES,
            "Riffle's operator keeps every savepoint and checkpoint it triggers as a \
             FlinkStateSnapshot resource; it has no status-only mode (remove the key)",
        ));
    }
    let schedule = |key: &str| -> riffle_common::Result<Option<Schedule>> {
        match c.opt_text(key)? {
            None => Ok(None),
            Some(text) => Schedule::parse(&text).map_err(|e| c.invalid(key, e)),
        }
    };
    Ok(ScheduleSettings {
        periodic_savepoint: schedule(keys::OPERATOR_PERIODIC_SAVEPOINT_INTERVAL)?,
        periodic_checkpoint: schedule(keys::OPERATOR_PERIODIC_CHECKPOINT_INTERVAL)?,
        cleanup: c.flag(keys::OPERATOR_SAVEPOINT_CLEANUP)?,
        history_max_count: c.count(keys::OPERATOR_SAVEPOINT_HISTORY_MAX_COUNT)?,
        history_max_age_ms: c.ms(keys::OPERATOR_SAVEPOINT_HISTORY_MAX_AGE)?,
        checkpoints_retained: c.count(keys::CHECKPOINTS_NUM_RETAINED)?,
        dispose_on_delete: c.flag(keys::OPERATOR_SAVEPOINT_DISPOSE_ON_DELETE)?,
        format: match c.opt_enum(keys::OPERATOR_SAVEPOINT_FORMAT)? {
            Some("NATIVE") => SavepointFormatType::Native,
            _ => SavepointFormatType::Canonical,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_flinks() -> riffle_common::Result<()> {
        let s = OperatorSettings::resolve(&Configuration::new())?;
        assert!(s.namespaces.is_empty());
        assert_eq!(s.leader_election, None);
        assert_eq!(s.probe_port, Some(8085));
        assert_eq!(s.parallelism, 50);
        assert_eq!(s.retry.backoff(1), Duration::from_secs(5));
        assert_eq!(s.retry.backoff(2), Duration::from_millis(7500));
        assert_eq!(s.retry.backoff(40), Duration::from_secs(300));
        let r = ResourceSettings::resolve(&Configuration::new())?;
        assert_eq!(r.reconcile_interval, Duration::from_secs(60));
        assert_eq!(r.progress_interval, Duration::from_secs(10));
        assert!(!r.rollback && r.last_state_fallback && r.jm_recovery);
        assert_eq!(r.snapshots.periodic_savepoint, None);
        assert_eq!(r.snapshots.history_max_count, 10);
        assert_eq!(r.snapshots.history_max_age_ms, 86_400_000);
        assert!(r.snapshots.cleanup && !r.snapshots.dispose_on_delete);
        assert_eq!(r.savepoint_grace_ms, 60_000);
        Ok(())
    }

    #[test]
    fn snapshot_keys_are_checked_by_name() {
        for (key, value, says) in [
            (
                "kubernetes.operator.periodic.savepoint.interval",
                "hourly",
                "neither a duration",
            ),
            (
                "kubernetes.operator.snapshot.resource.enabled",
                "false",
                "no status-only mode",
            ),
        ] {
            let c: Configuration = [(key, value)].into_iter().collect();
            let e = ResourceSettings::resolve(&c)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key) && e.contains(says), "{e}");
        }
    }

    #[test]
    fn watched_namespaces_take_flinks_commas() -> riffle_common::Result<()> {
        let c: Configuration = [("kubernetes.operator.watched.namespaces", "a, b;c")]
            .into_iter()
            .collect();
        assert_eq!(OperatorSettings::resolve(&c)?.namespaces, ["a", "b", "c"]);
        Ok(())
    }

    #[test]
    fn leader_election_needs_a_lease_name() {
        let c: Configuration = [("kubernetes.operator.leader-election.enabled", "true")]
            .into_iter()
            .collect();
        let e = OperatorSettings::resolve(&c).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("kubernetes.operator.leader-election.lease-name")),
            "{e:?}"
        );
    }
}
