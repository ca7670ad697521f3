//! The autoscaler's settings, from Flink's `job.autoscaler.*` keys in a
//! resource's configuration.

use riffle_common::config::{self as keys, Configuration};

/// How the busy time of a vertex's subtasks is combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregator {
    /// The busiest subtask (Flink's default: a skewed vertex is as slow as it).
    Max,
    /// The average.
    Avg,
    /// The least busy subtask.
    Min,
}

/// The autoscaler's settings for one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerSettings {
    /// Scale at all.
    pub enabled: bool,
    /// Apply the decisions (else only report them).
    pub scaling_enabled: bool,
    /// Span of metrics a decision needs, ms.
    pub window_ms: i64,
    /// No metrics are collected this long after a start or rescale, ms.
    pub stabilization_ms: i64,
    /// The utilization a vertex is scaled to.
    pub target: f64,
    /// Scale up above this utilization.
    pub max_utilization: f64,
    /// Scale down below this utilization.
    pub min_utilization: f64,
    /// One scale-up multiplies by at most 1 + this.
    pub scale_up_max_factor: f64,
    /// One scale-down multiplies by at least 1 - this.
    pub scale_down_max_factor: f64,
    /// A scale-down waits until it was recommended for this long, ms.
    pub scale_down_interval_ms: i64,
    /// Lowest parallelism.
    pub vertex_min: u32,
    /// Highest parallelism.
    pub vertex_max: u32,
    /// A backlog is worked off within this long, seconds.
    pub catch_up_secs: f64,
    /// A rescale stops the job this long, seconds.
    pub restart_secs: f64,
    /// Detect scale-ups that did not pay off.
    pub effectiveness_detection: bool,
    /// The share of the expected gain below which a scale-up did not pay off.
    pub effectiveness_threshold: f64,
    /// Busy-time aggregation over subtasks.
    pub aggregator: Aggregator,
    /// Vertices left alone.
    pub excluded: Vec<String>,
}

impl AutoscalerSettings {
    /// Reads the settings; an inconsistent set is an error naming the key.
    pub fn resolve(c: &Configuration) -> riffle_common::Result<AutoscalerSettings> {
        let target = c.float(keys::AUTOSCALER_UTILIZATION_TARGET)?;
        let boundary = c.float(keys::AUTOSCALER_UTILIZATION_BOUNDARY)?;
        let opt_float = |key: &str| -> riffle_common::Result<Option<f64>> {
            match c.value(key)? {
                Some(_) => c.float(key).map(Some),
                None => Ok(None),
            }
        };
        let max_utilization =
            opt_float(keys::AUTOSCALER_UTILIZATION_MAX)?.unwrap_or((target + boundary).min(1.0));
        let min_utilization =
            opt_float(keys::AUTOSCALER_UTILIZATION_MIN)?.unwrap_or((target - boundary).max(0.0));
        if !(min_utilization <= target && target <= max_utilization) {
            return Err(c.invalid(
                keys::AUTOSCALER_UTILIZATION_TARGET,
                format!(
                    "must lie between job.autoscaler.utilization.min ({min_utilization}) and \
                     job.autoscaler.utilization.max ({max_utilization})"
                ),
            ));
        }
        let vertex_min = u32::try_from(c.count(keys::AUTOSCALER_VERTEX_MIN)?).unwrap_or(u32::MAX);
        let vertex_max = u32::try_from(c.count(keys::AUTOSCALER_VERTEX_MAX)?).unwrap_or(u32::MAX);
        if vertex_min > vertex_max {
            return Err(c.invalid(
                keys::AUTOSCALER_VERTEX_MIN,
                format!("must not exceed job.autoscaler.vertex.max-parallelism ({vertex_max})"),
            ));
        }
        let secs = |key: &str| -> riffle_common::Result<f64> { Ok(c.ms(key)? as f64 / 1000.0) };
        Ok(AutoscalerSettings {
            enabled: c.flag(keys::AUTOSCALER_ENABLED)?,
            scaling_enabled: c.flag(keys::AUTOSCALER_SCALING_ENABLED)?,
            window_ms: c.ms(keys::AUTOSCALER_METRICS_WINDOW)?,
            stabilization_ms: c.ms(keys::AUTOSCALER_STABILIZATION)?,
            target,
            max_utilization,
            min_utilization,
            scale_up_max_factor: c.float(keys::AUTOSCALER_SCALE_UP_MAX_FACTOR)?,
            scale_down_max_factor: c.float(keys::AUTOSCALER_SCALE_DOWN_MAX_FACTOR)?,
            scale_down_interval_ms: c.ms(keys::AUTOSCALER_SCALE_DOWN_INTERVAL)?,
            vertex_min,
            vertex_max,
            catch_up_secs: secs(keys::AUTOSCALER_CATCH_UP)?,
            restart_secs: secs(keys::AUTOSCALER_RESTART_TIME)?,
            effectiveness_detection: c.flag(keys::AUTOSCALER_EFFECTIVENESS_ENABLED)?,
            effectiveness_threshold: c.float(keys::AUTOSCALER_EFFECTIVENESS_THRESHOLD)?,
            aggregator: match c.opt_enum(keys::AUTOSCALER_BUSY_AGGREGATOR)? {
                Some("AVG") => Aggregator::Avg,
                Some("MIN") => Aggregator::Min,
                _ => Aggregator::Max,
            },
            excluded: c.list(keys::AUTOSCALER_VERTEX_EXCLUDE)?,
        })
    }
}

/// Settings for tests: no restart time and no scale-down delay, then
/// `pairs` over them.
#[cfg(test)]
pub(crate) fn for_tests(pairs: &[(&str, &str)]) -> AutoscalerSettings {
    let mut c: Configuration = [
        ("job.autoscaler.restart.time", "0 s"),
        ("job.autoscaler.scale-down.interval", "0 s"),
    ]
    .into_iter()
    .collect();
    for (k, v) in pairs {
        c.set(*k, *v);
    }
    #[allow(clippy::expect_used)]
    AutoscalerSettings::resolve(&c).expect("test settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_flinks_and_the_legacy_prefix_is_read() -> riffle_common::Result<()> {
        let s = AutoscalerSettings::resolve(&Configuration::new())?;
        assert!(!s.enabled && s.scaling_enabled);
        assert_eq!((s.target, s.max_utilization), (0.7, 1.0));
        assert!((s.min_utilization - 0.4).abs() < 1e-9);
        assert_eq!(s.window_ms, 900_000);
        assert_eq!(s.scale_down_interval_ms, 3_600_000);
        assert_eq!((s.vertex_min, s.vertex_max), (1, 200));
        assert_eq!(s.aggregator, Aggregator::Max);
        let legacy: Configuration = [
            ("kubernetes.operator.job.autoscaler.enabled", "true"),
            ("job.autoscaler.target.utilization", "0.5"),
        ]
        .into_iter()
        .collect();
        let s = AutoscalerSettings::resolve(&legacy)?;
        assert!(s.enabled);
        assert_eq!(s.target, 0.5);
        Ok(())
    }

    #[test]
    fn inconsistent_settings_name_the_key() {
        for (pairs, key) in [
            (
                vec![("job.autoscaler.utilization.max", "0.5")],
                "job.autoscaler.utilization.target",
            ),
            (
                vec![
                    ("job.autoscaler.vertex.min-parallelism", "8"),
                    ("job.autoscaler.vertex.max-parallelism", "4"),
                ],
                "job.autoscaler.vertex.min-parallelism",
            ),
        ] {
            let c: Configuration = pairs.into_iter().collect();
            let e = AutoscalerSettings::resolve(&c)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{e}");
        }
    }
}
