//! When events are due on the wall clock, with `max-emit-speed = false`.
//!
//! Event `n` carries the event time `base-time + n / first-event.rate` as
//! Flink's generator computes it, whatever the pace. By default it is due
//! when that much wall time has passed: the source emits
//! `first-event.rate` events per second. With `rate.limited = true` (which
//! Flink parses and ignores) the emission rate follows `rate.shape` instead,
//! from `first-event.rate` to `next-event.rate` and back over each
//! `rate.period` — a square wave (half a period at each rate) or a sine — so
//! a load test can raise and lower the load on a running job. Event times
//! and the data stay as without it.
//!
//! Pace time is anchored at event 0, so a restored reader goes on at the
//! phase of the wave where its events stand, not at its start.

use std::f64::consts::PI;
use std::time::Instant;

use super::config::{NexmarkConfig, RateShape};

/// The emission rate over pace time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// A constant rate, events per second.
    Constant(f64),
    /// Half of each period at `low` (the first rate), half at `high`.
    Square { low: f64, high: f64, period: f64 },
    /// From `low` up to `high` and back, smoothly, each period.
    Sine { low: f64, high: f64, period: f64 },
}

impl Shape {
    /// Events due `t` seconds after event 0.
    fn events_by(&self, t: f64) -> f64 {
        match *self {
            Shape::Constant(r) => r * t,
            Shape::Square { low, high, period } => {
                let k = (t / period).floor();
                let u = t - k * period;
                let half = period / 2.0;
                let within = if u < half {
                    low * u
                } else {
                    low * half + high * (u - half)
                };
                k * (low + high) * half + within
            }
            Shape::Sine { low, high, period } => {
                let mean = (low + high) / 2.0;
                let amplitude = (high - low) / 2.0;
                mean * t - amplitude * period / (2.0 * PI) * (2.0 * PI * t / period).sin()
            }
        }
    }

    /// The pace time at which `n` events are due (the inverse of
    /// [`Shape::events_by`], which only grows).
    fn time_of(&self, n: f64) -> f64 {
        if n <= 0.0 {
            return 0.0;
        }
        if let Shape::Constant(r) = *self {
            return n / r.max(f64::MIN_POSITIVE);
        }
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        while self.events_by(hi) < n && hi < 1e12 {
            hi *= 2.0;
        }
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if self.events_by(mid) < n {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// The pace of one reader.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    base_ms: i64,
    /// Events per second of event time.
    event_rate: f64,
    shape: Shape,
    started: Instant,
    /// Pace time at `started`.
    offset: f64,
}

impl Pace {
    /// The pace of a reader whose next event has event time `from_ms`.
    pub(crate) fn new(config: &NexmarkConfig, from_ms: i64) -> Pace {
        let first = f64::from(config.first_event_rate.max(1));
        let next = f64::from(config.next_event_rate);
        let period = config.rate_period.as_secs_f64().max(0.001);
        let shape = match (config.rate_limited, config.rate_shape) {
            (false, _) => Shape::Constant(first),
            (true, RateShape::Square) => Shape::Square {
                low: first,
                high: next,
                period,
            },
            (true, RateShape::Sine) => Shape::Sine {
                low: first,
                high: next,
                period,
            },
        };
        let events = (from_ms - config.base_time_ms).max(0) as f64 / 1000.0 * first;
        Pace {
            base_ms: config.base_time_ms,
            event_rate: first,
            shape,
            started: Instant::now(),
            offset: shape.time_of(events),
        }
    }

    /// The event time up to which events are due now.
    pub(crate) fn due_ms(&self) -> i64 {
        self.due_ms_at(self.offset + self.started.elapsed().as_secs_f64())
    }

    fn due_ms_at(&self, pace_time: f64) -> i64 {
        let events = self.shape.events_by(pace_time);
        self.base_ms + (events / self.event_rate * 1000.0) as i64
    }

    /// Events (over all splits) that are due by event time `due_ms` but not
    /// emitted, the next one being at event time `next_ms`.
    pub(crate) fn behind(&self, due_ms: i64, next_ms: i64) -> u64 {
        let late_ms = (due_ms - next_ms).max(0) as f64;
        (late_ms / 1000.0 * self.event_rate) as u64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn config(limited: bool, shape: RateShape) -> NexmarkConfig {
        NexmarkConfig {
            first_event_rate: 1_000,
            next_event_rate: 3_000,
            rate_limited: limited,
            rate_shape: shape,
            rate_period: Duration::from_secs(10),
            base_time_ms: 0,
            ..NexmarkConfig::default()
        }
    }

    #[test]
    fn without_rate_limited_event_time_runs_with_the_wall_clock() {
        let p = Pace::new(&config(false, RateShape::Square), 5_000);
        assert!((p.offset - 5.0).abs() < 1e-9);
        assert_eq!(p.due_ms_at(7.0), 7_000);
    }

    #[test]
    fn a_square_wave_alternates_the_two_rates_each_half_period() {
        let p = Pace::new(&config(true, RateShape::Square), 0);
        // First half at 1,000/s: event time advances with the wall clock.
        assert_eq!(p.due_ms_at(5.0), 5_000);
        // Second half at 3,000/s: three times as fast.
        assert_eq!(p.due_ms_at(10.0), 20_000);
        // And again.
        assert_eq!(p.due_ms_at(15.0), 25_000);
        // A reader restored at event time 20 s goes on in the next period.
        let restored = Pace::new(&config(true, RateShape::Square), 20_000);
        assert!((restored.offset - 10.0).abs() < 1e-6, "{}", restored.offset);
    }

    #[test]
    fn a_sine_goes_from_the_first_rate_to_the_next_and_back() {
        let s = Shape::Sine {
            low: 1_000.0,
            high: 3_000.0,
            period: 10.0,
        };
        // One period: the mean rate.
        assert!((s.events_by(10.0) - 20_000.0).abs() < 1e-6);
        // Slow at first, fast in the middle.
        assert!(s.events_by(1.0) < 1_100.0);
        assert!(s.events_by(6.0) - s.events_by(4.0) > 5_500.0);
        assert!((s.time_of(s.events_by(3.3)) - 3.3).abs() < 1e-6);
    }

    #[test]
    fn behind_counts_the_events_due_and_not_emitted() {
        let p = Pace::new(&config(false, RateShape::Square), 0);
        let due = p.due_ms();
        assert_eq!(p.behind(due, due + 10), 0);
        assert_eq!(p.behind(due, due - 2_000), 2_000);
    }
}
