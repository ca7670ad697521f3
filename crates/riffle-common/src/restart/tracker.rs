//! Applying a [`RestartStrategy`] to one job's failures.
//!
//! Protocol: the owner of the job (the JobManager's scheduler) calls
//! [`RestartTracker::on_failure`] once per job failure, with the current time,
//! and either redeploys after the returned delay or fails the job. Failures
//! that arrive while a restart is already pending belong to that restart and
//! must not be reported again. The tracker reads no clock and holds no timers;
//! its only hidden input is the jitter of the exponential-delay strategy, drawn
//! from a small seedable generator ([`RestartTracker::with_seed`]) so tests are
//! exact.
//!
//! Per strategy, as in Flink:
//! - fixed-delay: the first `attempts` failures restart, the next one gives up;
//! - failure-rate: a failure gives up when, counting itself, more than
//!   `max_failures_per_interval` failures fall within the last `interval_ms`;
//! - exponential-delay: the wait starts at the initial backoff and is
//!   multiplied on every further failure up to the maximum; once the job has
//!   run for the reset threshold since its last restart, the wait and the
//!   attempt count start over; more than `attempts_before_reset_backoff`
//!   attempts without such a reset give up. The wait is spread by
//!   ±`jitter_factor`.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

use super::{ExponentialDelay, RestartStrategy};

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart the job after waiting this long.
    Restart {
        /// Wait before redeploying, in ms.
        delay_ms: i64,
    },
    /// Fail the job for good.
    GiveUp {
        /// Which limit of the strategy was hit (for the job's failure cause).
        reason: String,
    },
}

/// The restart state of one job.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    /// Failures seen, over the job's lifetime.
    failures: u64,
    /// Restarts granted, over the job's lifetime.
    restarts: u64,
    /// failure-rate: times of the recent failures, oldest first.
    recent: VecDeque<i64>,
    /// exponential-delay: attempts since the last reset.
    attempts: u64,
    /// exponential-delay: the current wait before jitter.
    backoff_ms: i64,
    /// exponential-delay: when the last granted restart was due.
    restart_at: Option<i64>,
    /// State of the jitter generator (SplitMix64).
    rng: u64,
}

impl RestartTracker {
    /// A tracker whose jitter is seeded randomly (so jobs restarted together
    /// spread out).
    pub fn new(strategy: RestartStrategy) -> Self {
        Self::with_seed(strategy, RandomState::new().hash_one(0u64))
    }

    /// A tracker with a fixed jitter seed: the same seed gives the same delays.
    pub fn with_seed(strategy: RestartStrategy, seed: u64) -> Self {
        RestartTracker {
            strategy,
            failures: 0,
            restarts: 0,
            recent: VecDeque::new(),
            attempts: 0,
            backoff_ms: 0,
            restart_at: None,
            rng: seed,
        }
    }

    /// The strategy being applied.
    pub fn strategy(&self) -> &RestartStrategy {
        &self.strategy
    }

    /// Restarts granted so far (Flink's `numRestarts`).
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Failures reported so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Records a failure at `now_ms` and decides what follows.
    pub fn on_failure(&mut self, now_ms: i64) -> RestartDecision {
        self.failures += 1;
        let decision = match self.strategy {
            RestartStrategy::None => RestartDecision::GiveUp {
                reason: "restart strategy none: restarts are disabled".into(),
            },
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                if self.failures <= u64::from(attempts) {
                    RestartDecision::Restart { delay_ms }
                } else {
                    RestartDecision::GiveUp {
                        reason: format!(
                            "fixed-delay restart strategy: {attempts} attempt(s) exhausted"
                        ),
                    }
                }
            }
            RestartStrategy::FailureRate {
                max_failures_per_interval: max,
                interval_ms,
                delay_ms,
            } => self.failure_rate(now_ms, max, interval_ms, delay_ms),
            RestartStrategy::ExponentialDelay(e) => self.exponential(now_ms, &e),
        };
        if matches!(decision, RestartDecision::Restart { .. }) {
            self.restarts += 1;
        }
        decision
    }

    fn failure_rate(
        &mut self,
        now_ms: i64,
        max: u32,
        interval_ms: i64,
        delay_ms: i64,
    ) -> RestartDecision {
        while self
            .recent
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) > interval_ms)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now_ms);
        let within = self.recent.len();
        // Only the last max + 1 failures can matter; keep the queue bounded.
        while self.recent.len() > max as usize + 1 {
            self.recent.pop_front();
        }
        if within > max as usize {
            RestartDecision::GiveUp {
                reason: format!(
                    "failure-rate restart strategy: {within} failures within {interval_ms} ms \
                     exceed the maximum of {max}"
                ),
            }
        } else {
            RestartDecision::Restart { delay_ms }
        }
    }

    fn exponential(&mut self, now_ms: i64, e: &ExponentialDelay) -> RestartDecision {
        let reset = self
            .restart_at
            .is_none_or(|at| now_ms.saturating_sub(at) >= e.reset_backoff_threshold_ms);
        if reset {
            self.attempts = 0;
            self.backoff_ms = e.initial_backoff_ms;
        } else {
            if self.backoff_ms < e.max_backoff_ms {
                // `as` saturates; Flink also truncates to whole ms.
                self.backoff_ms = (self.backoff_ms as f64 * e.backoff_multiplier) as i64;
            }
            self.backoff_ms = self
                .backoff_ms
                .clamp(e.initial_backoff_ms, e.max_backoff_ms);
        }
        self.attempts += 1;
        if self.attempts > u64::from(e.attempts_before_reset_backoff) {
            return RestartDecision::GiveUp {
                reason: format!(
                    "exponential-delay restart strategy: {} attempt(s) without a reset of the \
                     backoff exceed the maximum of {}",
                    self.attempts, e.attempts_before_reset_backoff
                ),
            };
        }
        let offset = (self.backoff_ms as f64 * e.jitter_factor) as i64;
        let jitter = (offset as f64 * self.next_sample()).round() as i64;
        let delay_ms = self.backoff_ms.saturating_add(jitter).max(0);
        self.restart_at = Some(now_ms.saturating_add(delay_ms));
        RestartDecision::Restart { delay_ms }
    }

    /// A uniform sample in `[-1, 1)` (SplitMix64).
    fn next_sample(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restart(delay_ms: i64) -> RestartDecision {
        RestartDecision::Restart { delay_ms }
    }

    fn reason(d: RestartDecision) -> String {
        match d {
            RestartDecision::GiveUp { reason } => reason,
            other => panic!("expected GiveUp, got {other:?}"),
        }
    }

    fn exponential(jitter_factor: f64) -> ExponentialDelay {
        ExponentialDelay {
            initial_backoff_ms: 1_000,
            max_backoff_ms: 5_000,
            backoff_multiplier: 2.0,
            reset_backoff_threshold_ms: 60_000,
            jitter_factor,
            attempts_before_reset_backoff: i32::MAX as u32,
        }
    }

    #[test]
    fn none_gives_up_at_once() {
        let mut t = RestartTracker::new(RestartStrategy::None);
        assert!(reason(t.on_failure(0)).contains("none"));
        assert_eq!(t.restarts(), 0);
        assert_eq!(t.failures(), 1);
    }

    #[test]
    fn fixed_delay_counts_attempts() {
        let mut t = RestartTracker::new(RestartStrategy::FixedDelay {
            attempts: 2,
            delay_ms: 700,
        });
        assert_eq!(t.on_failure(0), restart(700));
        assert_eq!(t.on_failure(1_000_000), restart(700));
        let r = reason(t.on_failure(2_000_000));
        assert_eq!(r, "fixed-delay restart strategy: 2 attempt(s) exhausted");
        assert_eq!(t.restarts(), 2);

        let mut t = RestartTracker::new(RestartStrategy::FixedDelay {
            attempts: 0,
            delay_ms: 700,
        });
        assert!(reason(t.on_failure(0)).contains("0 attempt(s)"));
    }

    #[test]
    fn failure_rate_gives_up_when_the_interval_is_crowded() {
        let strategy = RestartStrategy::FailureRate {
            max_failures_per_interval: 1,
            interval_ms: 60_000,
            delay_ms: 1_000,
        };
        let mut t = RestartTracker::new(strategy);
        assert_eq!(t.on_failure(0), restart(1_000));
        assert_eq!(
            reason(t.on_failure(30_000)),
            "failure-rate restart strategy: 2 failures within 60000 ms exceed the maximum of 1"
        );

        // Failures further apart than the interval never add up.
        let mut t = RestartTracker::new(strategy);
        for i in 0..10 {
            assert_eq!(t.on_failure(i * 60_001), restart(1_000));
        }
        assert_eq!(t.restarts(), 10);
    }

    #[test]
    fn failure_rate_window_slides() {
        let mut t = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures_per_interval: 2,
            interval_ms: 10_000,
            delay_ms: 0,
        });
        assert_eq!(t.on_failure(0), restart(0));
        assert_eq!(t.on_failure(5_000), restart(0));
        // 0 has left the window (10_001 - 0 > 10_000): two failures within it.
        assert_eq!(t.on_failure(10_001), restart(0));
        // 5_000, 10_001 and 12_000 are three within 10 s.
        assert!(reason(t.on_failure(12_000)).contains("3 failures within 10000 ms"));
    }

    #[test]
    fn exponential_grows_to_the_maximum() {
        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay(exponential(0.0)));
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..6 {
            match t.on_failure(now) {
                RestartDecision::Restart { delay_ms } => {
                    delays.push(delay_ms);
                    // The job fails again one second after it restarted.
                    now += delay_ms + 1_000;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, [1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
        assert_eq!(t.restarts(), 6);
    }

    #[test]
    fn exponential_resets_after_a_healthy_run() {
        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay(exponential(0.0)));
        assert_eq!(t.on_failure(0), restart(1_000));
        assert_eq!(t.on_failure(2_000), restart(2_000));
        // Restarted at 4_000; runs 60 s (the threshold) before failing again.
        assert_eq!(t.on_failure(64_000), restart(1_000));
        // Restarted at 65_000; fails just before the threshold: no reset.
        assert_eq!(t.on_failure(124_999), restart(2_000));
    }

    #[test]
    fn exponential_attempt_limit_and_its_reset() {
        let mut e = exponential(0.0);
        e.attempts_before_reset_backoff = 2;
        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay(e));
        assert_eq!(t.on_failure(0), restart(1_000));
        assert_eq!(t.on_failure(1_500), restart(2_000));
        let r = reason(t.on_failure(4_000));
        assert!(
            r.contains("3 attempt(s)") && r.contains("maximum of 2"),
            "{r}"
        );

        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay(e));
        assert_eq!(t.on_failure(0), restart(1_000));
        assert_eq!(t.on_failure(1_500), restart(2_000));
        // A healthy hour resets the count as well as the wait.
        assert_eq!(t.on_failure(3_600_000), restart(1_000));
        assert_eq!(t.on_failure(3_601_500), restart(2_000));
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_reproducible() {
        let strategy = RestartStrategy::ExponentialDelay(ExponentialDelay {
            max_backoff_ms: 1_000,
            ..exponential(0.5)
        });
        let delays = |seed| {
            let mut t = RestartTracker::with_seed(strategy, seed);
            (0..200)
                .map(|i| match t.on_failure(i * 10_000) {
                    RestartDecision::Restart { delay_ms } => delay_ms,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        let a = delays(42);
        assert_eq!(a, delays(42));
        assert_ne!(a, delays(43));
        assert!(a.iter().all(|d| (500..=1_500).contains(d)), "{a:?}");
        assert!(a.iter().any(|d| *d < 900) && a.iter().any(|d| *d > 1_100));
    }
}
