//! When the operator's work has settled, so that code it ran for a burst of
//! work need not stay resident.
//!
//! Start-up runs code the operator never runs again, and so does checking a
//! new spec: the SQL planner is the largest part of the operator's code and
//! runs only for specs it has not seen. The binary hands
//! [`crate::RunOptions::on_settled`] a way to let such pages go; this says
//! when: [`SETTLE`] after start, and [`SETTLE`] after the last of a burst of
//! spec checks. A steady stream of checks postpones it, which is right: the
//! planner is then part of what the operator uses.

use std::time::{Duration, Instant};

/// How long the work must have been quiet.
pub const SETTLE: Duration = Duration::from_secs(5);

/// Follows a counter of work done (specs checked) and says when it has
/// settled: once after start, then once after each change.
#[derive(Debug)]
pub struct Settling {
    seen: u64,
    /// When the counter last changed, while a settle is pending.
    since: Option<Instant>,
}

impl Settling {
    /// Starting at `now` with the counter at `count`.
    pub fn new(count: u64, now: Instant) -> Settling {
        Settling {
            seen: count,
            since: Some(now),
        }
    }

    /// Whether the work has just settled, the counter reading `count` at
    /// `now`. True once per quiet spell.
    pub fn settled(&mut self, count: u64, now: Instant) -> bool {
        if count != self.seen {
            self.seen = count;
            self.since = Some(now);
            return false;
        }
        match self.since {
            Some(t) if now.duration_since(t) >= SETTLE => {
                self.since = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_after_start_and_after_each_burst_once() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = Settling::new(0, t0);
        assert!(!s.settled(0, at(4)));
        assert!(s.settled(0, at(5)));
        assert!(!s.settled(0, at(6)), "once per quiet spell");
        assert!(!s.settled(0, at(60)));
        // A burst: checks at 61 and 64 (not yet quiet at 66), settled at 69.
        assert!(!s.settled(3, at(61)));
        assert!(!s.settled(7, at(64)));
        assert!(!s.settled(7, at(66)));
        assert!(s.settled(7, at(69)));
        assert!(!s.settled(7, at(80)));
    }

    #[test]
    fn steady_work_postpones_settling() {
        let t0 = Instant::now();
        let mut s = Settling::new(0, t0);
        for i in 1..20 {
            assert!(!s.settled(i, t0 + Duration::from_secs(3 * i)));
        }
    }
}
