//! State time-to-live: `table.exec.state.ttl` and the `STATE_TTL` hint.
//!
//! Flink's rules for SQL state, which joins and unbounded aggregates follow:
//! - time is processing time (the wall clock), never event time;
//! - an entry's time is set when it is created or written, not when it is
//!   only read (a join row matched by the other side keeps its time, unless
//!   the match count of an outer row changes: that is a write);
//! - an expired entry is never seen again: the next access to its key drops
//!   it, as if it had never been there (an aggregate starts over and emits
//!   `+I`; nothing is retracted downstream).
//!
//! So that expired state leaves memory even when its key is never touched
//! again, an operator with a TTL sweeps all of its state once per TTL
//! period (a processing-time timer), and sweeps again before each snapshot,
//! so a checkpoint holds no expired entry.

use std::fmt;

use crate::clock::Clock;

/// A state TTL, in milliseconds of processing time (always positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTtl {
    ms: i64,
}

impl StateTtl {
    /// The TTL of `ms` milliseconds; `None` for 0 or less (Flink's "never expire").
    pub fn from_ms(ms: i64) -> Option<StateTtl> {
        (ms > 0).then_some(StateTtl { ms })
    }

    /// The TTL in milliseconds.
    pub fn ms(self) -> i64 {
        self.ms
    }

    /// Whether an entry written at `written` has expired at `now`.
    pub fn expired(self, written: i64, now: i64) -> bool {
        written.saturating_add(self.ms) <= now
    }
}

impl fmt::Display for StateTtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.ms)
    }
}

/// The state expiry of one operator: its TTLs (one per input of a join) and
/// when the next full sweep is due.
#[derive(Debug, Clone, Default)]
pub struct Expiry {
    clock: Clock,
    /// The shortest TTL: the sweep period.
    period: Option<StateTtl>,
    next_sweep: Option<i64>,
}

impl Expiry {
    /// Expiry for state kept under `ttls` (`None`: never expires).
    pub fn new(ttls: &[Option<StateTtl>], clock: Clock) -> Expiry {
        let period = ttls.iter().flatten().min_by_key(|t| t.ms).copied();
        Expiry {
            next_sweep: period.map(|p| clock.now().saturating_add(p.ms)),
            clock,
            period,
        }
    }

    /// Whether any state expires.
    pub fn enabled(&self) -> bool {
        self.period.is_some()
    }

    /// The current processing time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// When the next sweep is due (for `next_processing_timer`).
    pub fn next_sweep(&self) -> Option<i64> {
        self.next_sweep
    }

    /// Records a sweep at `now`; the next one is a period later.
    pub fn swept(&mut self, now: i64) {
        self.next_sweep = self.period.map(|p| now.saturating_add(p.ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_expires_exactly_one_ttl_after_its_write() {
        let ttl = StateTtl::from_ms(1000).unwrap();
        assert!(!ttl.expired(5_000, 5_999));
        assert!(ttl.expired(5_000, 6_000));
        assert!(StateTtl::from_ms(0).is_none());
        assert!(
            !StateTtl::from_ms(i64::MAX)
                .unwrap()
                .expired(10, i64::MAX - 1)
        );
    }

    #[test]
    fn the_sweep_period_is_the_shortest_ttl() {
        let t = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(100));
        let e = Expiry::new(
            &[StateTtl::from_ms(50), None, StateTtl::from_ms(20)],
            Clock::Manual(t),
        );
        assert_eq!(e.next_sweep(), Some(120));
        let none = Expiry::new(&[None, None], Clock::System);
        assert!(!none.enabled());
        assert_eq!(none.next_sweep(), None);
    }
}
