//! Restart strategies: what a job does after a failure, configured with
//! Flink's `restart-strategy.*` keys and defaults.
//!
//! [`Configuration::restart_strategy`] turns the keys into a [`RestartStrategy`];
//! a [`RestartTracker`] then applies it to a job's failures. The tracker is
//! pure logic: the caller passes the current time in, and acts on the
//! [`RestartDecision`] (wait and redeploy, or fail the job), so every policy is
//! tested without clocks or threads.
//!
//! Default as in Flink: with checkpointing disabled
//! (`execution.checkpointing.interval` unset) a job is not restarted; with
//! checkpointing enabled it restarts with exponential delay.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::config::*;

mod tracker;

pub use tracker::{RestartDecision, RestartTracker};

/// A job's restart strategy, with every duration in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RestartStrategy {
    /// Never restart: the first failure fails the job.
    None,
    /// Restart up to `attempts` times, waiting `delay_ms` each time.
    FixedDelay {
        /// Restarts allowed over the job's lifetime.
        attempts: u32,
        /// Wait before each restart.
        delay_ms: i64,
    },
    /// Restart while at most `max_failures_per_interval` failures fall within
    /// any `interval_ms`, waiting `delay_ms` each time.
    FailureRate {
        /// Failures (each restarted) allowed within one interval.
        max_failures_per_interval: u32,
        /// Length of the sliding interval.
        interval_ms: i64,
        /// Wait before each restart.
        delay_ms: i64,
    },
    /// Restart with a growing, jittered wait; see [`ExponentialDelay`].
    ExponentialDelay(ExponentialDelay),
}

/// Settings of the exponential-delay strategy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExponentialDelay {
    /// Wait before the first restart (and after a reset).
    pub initial_backoff_ms: i64,
    /// Upper bound of the wait (before jitter).
    pub max_backoff_ms: i64,
    /// Factor applied to the wait on each further failure (≥ 1).
    pub backoff_multiplier: f64,
    /// A job that has run this long since its last restart starts over at the
    /// initial wait.
    pub reset_backoff_threshold_ms: i64,
    /// The wait is spread randomly by up to this fraction either way (0..=1).
    pub jitter_factor: f64,
    /// Restarts allowed before the job fails, counted since the last reset.
    pub attempts_before_reset_backoff: u32,
}

impl Default for ExponentialDelay {
    /// Flink's defaults.
    fn default() -> Self {
        ExponentialDelay {
            initial_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            backoff_multiplier: 1.5,
            reset_backoff_threshold_ms: 3_600_000,
            jitter_factor: 0.1,
            attempts_before_reset_backoff: i32::MAX as u32,
        }
    }
}

impl fmt::Display for RestartStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartStrategy::None => f.write_str("none"),
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                write!(f, "fixed-delay (attempts {attempts}, delay {delay_ms} ms)")
            }
            RestartStrategy::FailureRate {
                max_failures_per_interval,
                interval_ms,
                delay_ms,
            } => write!(
                f,
                "failure-rate (max {max_failures_per_interval} failures per {interval_ms} ms, \
                 delay {delay_ms} ms)"
            ),
            RestartStrategy::ExponentialDelay(e) => write!(
                f,
                "exponential-delay (initial {} ms, max {} ms, multiplier {}, reset after {} ms, \
                 jitter {}, attempts before reset {})",
                e.initial_backoff_ms,
                e.max_backoff_ms,
                e.backoff_multiplier,
                e.reset_backoff_threshold_ms,
                e.jitter_factor,
                e.attempts_before_reset_backoff
            ),
        }
    }
}

/// The restart strategy the keys describe; without `restart-strategy.type`
/// it follows from `checkpointing` (Flink 2's rule). Called only by
/// [`JobConfig::resolve`], the one place derived defaults are computed.
pub(crate) fn resolve(c: &Configuration, checkpointing: bool) -> Result<RestartStrategy> {
    let kind = match c.opt_enum(RESTART_STRATEGY_TYPE)? {
        Some(kind) => kind,
        None if checkpointing => "exponential-delay",
        None => "none",
    };
    let u32_of = |key| -> Result<u32> {
        // Declared with Flink's Integer bounds, so this always fits.
        u32::try_from(c.int(key)?).map_err(|_| c.invalid(key, "expected a non-negative integer"))
    };
    match kind {
        "fixed-delay" | "fixeddelay" => Ok(RestartStrategy::FixedDelay {
            attempts: u32_of(FIXED_DELAY_ATTEMPTS)?,
            delay_ms: c.ms(FIXED_DELAY_DELAY)?,
        }),
        "failure-rate" | "failurerate" => Ok(RestartStrategy::FailureRate {
            max_failures_per_interval: u32_of(FAILURE_RATE_MAX_FAILURES)?,
            interval_ms: c.ms(FAILURE_RATE_INTERVAL)?,
            delay_ms: c.ms(FAILURE_RATE_DELAY)?,
        }),
        "exponential-delay" | "exponentialdelay" => {
            let e = ExponentialDelay {
                initial_backoff_ms: c.ms(EXPONENTIAL_DELAY_INITIAL_BACKOFF)?,
                max_backoff_ms: c.ms(EXPONENTIAL_DELAY_MAX_BACKOFF)?,
                backoff_multiplier: c.float(EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)?,
                reset_backoff_threshold_ms: c.ms(EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD)?,
                jitter_factor: c.float(EXPONENTIAL_DELAY_JITTER_FACTOR)?,
                attempts_before_reset_backoff: u32_of(EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET)?,
            };
            if e.initial_backoff_ms > e.max_backoff_ms {
                return Err(c.invalid(
                    EXPONENTIAL_DELAY_MAX_BACKOFF,
                    format!(
                        "must not be shorter than {EXPONENTIAL_DELAY_INITIAL_BACKOFF} ({} ms)",
                        e.initial_backoff_ms
                    ),
                ));
            }
            Ok(RestartStrategy::ExponentialDelay(e))
        }
        _ => Ok(RestartStrategy::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        let mut c: Configuration = pairs.iter().copied().collect();
        c.set(CHECKPOINTS_DIR, "/chk");
        c
    }

    /// The strategy a job with this configuration gets.
    trait Strategy {
        fn restart_strategy(&self) -> Result<RestartStrategy>;
    }

    impl Strategy for Configuration {
        fn restart_strategy(&self) -> Result<RestartStrategy> {
            JobConfig::resolve(self).map(|j| j.restart)
        }
    }

    #[test]
    fn default_depends_on_checkpointing() -> Result<()> {
        assert_eq!(
            Configuration::new().restart_strategy()?,
            RestartStrategy::None
        );
        let c = config(&[(CHECKPOINTING_INTERVAL, "10 s")]);
        assert_eq!(
            c.restart_strategy()?,
            RestartStrategy::ExponentialDelay(ExponentialDelay::default())
        );
        let c = config(&[(CHECKPOINTING_INTERVAL, "0")]);
        assert_eq!(c.restart_strategy()?, RestartStrategy::None);
        Ok(())
    }

    #[test]
    fn types_and_aliases() -> Result<()> {
        for t in ["none", "OFF", "disable"] {
            let c = config(&[(RESTART_STRATEGY_TYPE, t), (CHECKPOINTING_INTERVAL, "1 s")]);
            assert_eq!(c.restart_strategy()?, RestartStrategy::None, "{t}");
        }
        for t in ["fixed-delay", "fixeddelay"] {
            let c = config(&[(RESTART_STRATEGY_TYPE, t)]);
            assert_eq!(
                c.restart_strategy()?,
                RestartStrategy::FixedDelay {
                    attempts: 1,
                    delay_ms: 1_000
                }
            );
        }
        for t in ["failure-rate", "FailureRate"] {
            let c = config(&[(RESTART_STRATEGY_TYPE, t)]);
            assert_eq!(
                c.restart_strategy()?,
                RestartStrategy::FailureRate {
                    max_failures_per_interval: 1,
                    interval_ms: 60_000,
                    delay_ms: 1_000
                }
            );
        }
        let c = config(&[(RESTART_STRATEGY_TYPE, "exponentialdelay")]);
        assert!(matches!(
            c.restart_strategy()?,
            RestartStrategy::ExponentialDelay(_)
        ));
        Ok(())
    }

    #[test]
    fn settings_are_read() -> Result<()> {
        let c = config(&[
            (RESTART_STRATEGY_TYPE, "fixed-delay"),
            (FIXED_DELAY_ATTEMPTS, "3"),
            (FIXED_DELAY_DELAY, "10 s"),
        ]);
        assert_eq!(
            c.restart_strategy()?,
            RestartStrategy::FixedDelay {
                attempts: 3,
                delay_ms: 10_000
            }
        );
        let c = config(&[
            (RESTART_STRATEGY_TYPE, "exponential-delay"),
            (EXPONENTIAL_DELAY_INITIAL_BACKOFF, "500ms"),
            (EXPONENTIAL_DELAY_MAX_BACKOFF, "10 s"),
            (EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER, "2"),
            (EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD, "5 min"),
            (EXPONENTIAL_DELAY_JITTER_FACTOR, "0"),
            (EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET, "4"),
        ]);
        assert_eq!(
            c.restart_strategy()?,
            RestartStrategy::ExponentialDelay(ExponentialDelay {
                initial_backoff_ms: 500,
                max_backoff_ms: 10_000,
                backoff_multiplier: 2.0,
                reset_backoff_threshold_ms: 300_000,
                jitter_factor: 0.0,
                attempts_before_reset_backoff: 4,
            })
        );
        assert!(
            c.restart_strategy()?
                .to_string()
                .starts_with("exponential-delay")
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("fixed-delay", FIXED_DELAY_ATTEMPTS, "-1"),
            ("fixed-delay", FIXED_DELAY_DELAY, "soon"),
            ("failure-rate", FAILURE_RATE_MAX_FAILURES, "0"),
            ("failure-rate", FAILURE_RATE_INTERVAL, "0 s"),
            (
                "exponential-delay",
                EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER,
                "0.5",
            ),
            ("exponential-delay", EXPONENTIAL_DELAY_JITTER_FACTOR, "1.5"),
            (
                "exponential-delay",
                EXPONENTIAL_DELAY_ATTEMPTS_BEFORE_RESET,
                "0",
            ),
            ("exponential-delay", EXPONENTIAL_DELAY_MAX_BACKOFF, "100 ms"),
            ("sometimes", RESTART_STRATEGY_TYPE, "sometimes"),
        ];
        for &(t, key, value) in cases {
            let c = config(&[(RESTART_STRATEGY_TYPE, t), (key, value)]);
            let e = c
                .restart_strategy()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{key}={value}: {e:?}");
        }
    }
}
