//! Leader election over a Lease: the rules, without I/O.
//!
//! Rules (Kubernetes client-go's, which Flink's Kubernetes HA follows too):
//! - No Lease: create one naming this contender.
//! - A Lease this contender holds: renew it every `retry_period`.
//! - A Lease another contender holds: take it over only once it has not
//!   changed for `lease_duration`, measured on this contender's own clock
//!   from when it first saw the current record. Clocks of different
//!   machines are never compared.
//! - A leader whose renewals have failed for `renew_deadline` stops leading,
//!   whether or not someone else took over: it cannot know, so it must assume
//!   so. A leader that reads another holder stops at once.
//! - Every write carries the `resourceVersion` that was read, so of two
//!   contenders acting on the same record only one write succeeds.
//!
//! Times are milliseconds of a monotonic clock the caller owns; the Lease's
//! own `renewTime`/`acquireTime` fields are informative (for `kubectl`), set
//! from the wall clock by the caller.

use std::time::Duration;

/// What this contender read of the Lease (its spec and resourceVersion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `spec.holderIdentity`; `None` or empty when released.
    pub holder: Option<String>,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
    /// `spec.renewTime` as the holder wrote it (epoch ms); identifies a renewal.
    pub renew_time_ms: i64,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
}

/// The Lease to write: a new one, or a change of the one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Create the Lease, holding it.
    Create,
    /// Renew a lease this contender holds (same transitions count).
    Renew {
        /// The resourceVersion read: the write's precondition.
        resource_version: String,
        /// `spec.leaseTransitions` to keep.
        transitions: i32,
    },
    /// Take over an expired or released lease (one more transition).
    TakeOver {
        /// The resourceVersion read: the write's precondition.
        resource_version: String,
        /// `spec.leaseTransitions` to write.
        transitions: i32,
    },
}

impl Write {
    /// The resourceVersion the write is conditioned on and the transitions
    /// count to write; `None` for a create.
    pub fn precondition(&self) -> Option<(&str, i32)> {
        match self {
            Write::Create => None,
            Write::Renew {
                resource_version,
                transitions,
            }
            | Write::TakeOver {
                resource_version,
                transitions,
            } => Some((resource_version, *transitions)),
        }
    }
}

/// A change of leadership for the caller to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// This contender leads from now on.
    Elected,
    /// This contender must stop leading now.
    Lost,
}

/// How long a lease lasts and how often it is renewed: Flink's
/// `high-availability.kubernetes.leader-election.*` keys. The relations
/// that keep two leaders apart (renew deadline at most the lease duration,
/// retry period below the renew deadline) are checked where the
/// configuration is resolved (`riffle-common`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `lease-duration`: how long a lease that stopped changing is honoured.
    pub lease_duration: Duration,
    /// `renew-deadline`: how long a leader keeps leading without a renewal.
    pub renew_deadline: Duration,
    /// `retry-period`: the pause between two attempts.
    pub retry_period: Duration,
}

impl Default for Timing {
    /// Flink's defaults: 15 s, 15 s, 5 s.
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
    }
}

/// One contender's view: what it read last and whether it leads.
#[derive(Debug, Clone)]
pub struct Elector {
    identity: String,
    timing: Timing,
    /// The record read last and when (own clock) it was first seen as it is.
    observed: Option<(LeaseRecord, u64)>,
    /// Since when this contender leads, and when it last renewed.
    leading: Option<Leading>,
}

#[derive(Debug, Clone, Copy)]
struct Leading {
    last_renewed_ms: u64,
}

impl Elector {
    /// A contender named `identity` (unique per JobManager process).
    pub fn new(identity: impl Into<String>, timing: Timing) -> Elector {
        Elector {
            identity: identity.into(),
            timing,
            observed: None,
            leading: None,
        }
    }

    /// This contender's identity, the Lease's `holderIdentity` when it leads.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this contender leads.
    pub fn is_leader(&self) -> bool {
        self.leading.is_some()
    }

    /// The timing it runs by.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// What to write after reading the Lease (`None`: it does not exist).
    /// Returns the write to attempt, if any, and an event when what was read
    /// ends this contender's leadership.
    pub fn observe(
        &mut self,
        lease: Option<LeaseRecord>,
        now_ms: u64,
    ) -> (Option<Write>, Option<Event>) {
        let Some(record) = lease else {
            self.observed = None;
            // A leader whose Lease was deleted re-creates it; it still holds
            // the leadership until its renew deadline passes.
            let event = self.check_deadline(now_ms);
            return (Some(Write::Create), event);
        };
        let first_seen = match &self.observed {
            Some((prev, at)) if same_renewal(prev, &record) => *at,
            _ => now_ms,
        };
        self.observed = Some((record.clone(), first_seen));
        let held_by_me = record.holder.as_deref() == Some(self.identity.as_str());
        if held_by_me {
            let event = self.check_deadline(now_ms);
            return (
                Some(Write::Renew {
                    resource_version: record.resource_version,
                    transitions: record.transitions,
                }),
                event,
            );
        }
        // Someone else's name on it: a leader stops at once.
        let event = self.leading.take().map(|_| Event::Lost);
        let released = record.holder.as_deref().is_none_or(str::is_empty);
        let expired = now_ms.saturating_sub(first_seen) >= millis(self.timing.lease_duration);
        if released || expired {
            (
                Some(Write::TakeOver {
                    resource_version: record.resource_version,
                    transitions: record.transitions.saturating_add(1),
                }),
                event,
            )
        } else {
            (None, event)
        }
    }

    /// The write succeeded (the apiserver accepted the precondition).
    pub fn written(&mut self, now_ms: u64) -> Option<Event> {
        // What this contender wrote is now the record; it is observed anew
        // at the next read.
        self.observed = None;
        match &mut self.leading {
            Some(l) => {
                l.last_renewed_ms = now_ms;
                None
            }
            None => {
                self.leading = Some(Leading {
                    last_renewed_ms: now_ms,
                });
                Some(Event::Elected)
            }
        }
    }

    /// The write or the read failed (a conflict, or the apiserver unreachable).
    pub fn failed(&mut self, now_ms: u64) -> Option<Event> {
        self.check_deadline(now_ms)
    }

    /// Gives the leadership up (on shutdown): the caller then writes the
    /// Lease with no holder, so a standby takes over without waiting out
    /// the lease duration.
    pub fn resign(&mut self) -> Option<Event> {
        self.leading.take().map(|_| Event::Lost)
    }

    fn check_deadline(&mut self, now_ms: u64) -> Option<Event> {
        let l = self.leading?;
        if now_ms.saturating_sub(l.last_renewed_ms) >= millis(self.timing.renew_deadline) {
            self.leading = None;
            return Some(Event::Lost);
        }
        None
    }
}

/// Whether two reads show the same renewal: the holder did not renew in
/// between (its renewals change the renew time and the resourceVersion).
fn same_renewal(a: &LeaseRecord, b: &LeaseRecord) -> bool {
    a.holder == b.holder
        && a.renew_time_ms == b.renew_time_ms
        && a.resource_version == b.resource_version
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The apiserver's part: one Lease, writes checked against its
    /// resourceVersion.
    #[derive(Default)]
    struct Apiserver {
        lease: Option<(Option<String>, i32, i64, u64)>,
        version: u64,
    }

    impl Apiserver {
        fn read(&self) -> Option<LeaseRecord> {
            self.lease
                .as_ref()
                .map(|(holder, transitions, renew, rv)| LeaseRecord {
                    holder: holder.clone(),
                    transitions: *transitions,
                    renew_time_ms: *renew,
                    resource_version: rv.to_string(),
                })
        }

        fn write(&mut self, w: &Write, holder: Option<&str>, now: u64) -> Result<(), ()> {
            let transitions = match (w.precondition(), &self.lease) {
                (None, None) => 0,
                (Some((version, transitions)), Some((_, _, _, rv)))
                    if version == rv.to_string() =>
                {
                    transitions
                }
                _ => return Err(()),
            };
            self.version += 1;
            self.lease = Some((
                holder.map(str::to_string),
                transitions,
                now as i64,
                self.version,
            ));
            Ok(())
        }
    }

    /// A contender's read-decide-write round against the apiserver.
    fn round(e: &mut Elector, api: &mut Apiserver, now: u64) -> Vec<Event> {
        let (write, event) = e.observe(api.read(), now);
        let mut events: Vec<Event> = event.into_iter().collect();
        if let Some(w) = write {
            let me = e.identity().to_string();
            let done = match api.write(&w, Some(&me), now) {
                Ok(()) => e.written(now),
                Err(()) => e.failed(now),
            };
            events.extend(done);
        }
        events
    }

    fn timing() -> Timing {
        Timing {
            lease_duration: Duration::from_millis(15_000),
            renew_deadline: Duration::from_millis(10_000),
            retry_period: Duration::from_millis(2_000),
        }
    }

    #[test]
    fn the_first_contender_creates_the_lease_and_the_second_waits() {
        let mut api = Apiserver::default();
        let (mut a, mut b) = (Elector::new("a", timing()), Elector::new("b", timing()));
        assert_eq!(round(&mut a, &mut api, 0), vec![Event::Elected]);
        for t in (1..20).map(|i| i * 2_000) {
            assert!(round(&mut a, &mut api, t).is_empty());
            assert!(round(&mut b, &mut api, t + 1).is_empty());
            assert!(a.is_leader() && !b.is_leader(), "at {t}");
        }
        assert_eq!(api.read().unwrap().transitions, 0);
    }

    #[test]
    fn a_standby_takes_over_a_lease_that_stopped_changing_for_the_lease_duration() {
        let mut api = Apiserver::default();
        let (mut a, mut b) = (Elector::new("a", timing()), Elector::new("b", timing()));
        round(&mut a, &mut api, 0);
        round(&mut b, &mut api, 1_000);
        // a dies after renewing at 4 s; b first sees that renewal at 5 s.
        round(&mut a, &mut api, 4_000);
        let mut elected_at = None;
        for t in (5..40).map(|i| i * 1_000) {
            if round(&mut b, &mut api, t) == vec![Event::Elected] {
                elected_at = Some(t);
                break;
            }
        }
        assert_eq!(
            elected_at,
            Some(20_000),
            "15 s after b first saw a's last renewal"
        );
        let lease = api.read().unwrap();
        assert_eq!((lease.holder.as_deref(), lease.transitions), (Some("b"), 1));
    }

    #[test]
    fn a_paused_leader_stops_before_the_standby_starts_and_cannot_write_after() {
        let mut api = Apiserver::default();
        let (mut a, mut b) = (Elector::new("a", timing()), Elector::new("b", timing()));
        round(&mut a, &mut api, 0);
        round(&mut b, &mut api, 500);
        // a is frozen from 0 s on (SIGSTOP, a long GC pause, a partition).
        // Its own deadline passes at 10 s, b may take over at 15.5 s.
        let mut b_elected = None;
        for t in (1..40).map(|i| i * 500) {
            if round(&mut b, &mut api, t) == vec![Event::Elected] {
                b_elected = Some(t);
                break;
            }
        }
        assert_eq!(b_elected, Some(15_500));
        // a wakes up with its old resourceVersion in hand: the write fails,
        // and it learns it lost. It never wrote while b led.
        let stale = Write::Renew {
            resource_version: "1".into(),
            transitions: 0,
        };
        assert!(api.write(&stale, Some("a"), 16_000).is_err());
        assert_eq!(a.failed(16_000), Some(Event::Lost));
        assert!(!a.is_leader() && b.is_leader());
        // Reading first, as the loop does, gives the same answer.
        let mut a2 = Elector::new("a", timing());
        a2.leading = Some(Leading {
            last_renewed_ms: 15_900,
        });
        assert_eq!(a2.observe(api.read(), 16_000), (None, Some(Event::Lost)));
    }

    #[test]
    fn of_two_standbys_taking_over_at_once_only_one_wins() {
        let mut api = Apiserver::default();
        let mut a = Elector::new("a", timing());
        round(&mut a, &mut api, 0);
        let (mut b, mut c) = (Elector::new("b", timing()), Elector::new("c", timing()));
        b.observe(api.read(), 100);
        c.observe(api.read(), 100);
        let (wb, _) = b.observe(api.read(), 20_000);
        let (wc, _) = c.observe(api.read(), 20_000);
        let (wb, wc) = (wb.unwrap(), wc.unwrap());
        assert!(matches!(wb, Write::TakeOver { .. }) && wb == wc);
        assert!(api.write(&wb, Some("b"), 20_000).is_ok());
        assert_eq!(b.written(20_000), Some(Event::Elected));
        assert!(api.write(&wc, Some("c"), 20_001).is_err());
        assert_eq!(c.failed(20_001), None);
        assert!(b.is_leader() && !c.is_leader());
    }

    #[test]
    fn a_resigned_lease_is_taken_at_once() {
        let mut api = Apiserver::default();
        let (mut a, mut b) = (Elector::new("a", timing()), Elector::new("b", timing()));
        round(&mut a, &mut api, 0);
        round(&mut b, &mut api, 100);
        assert_eq!(a.resign(), Some(Event::Lost));
        let release = Write::Renew {
            resource_version: api.read().unwrap().resource_version,
            transitions: 0,
        };
        api.write(&release, None, 200).unwrap();
        assert_eq!(round(&mut b, &mut api, 300), vec![Event::Elected]);
    }

    #[test]
    fn a_leader_that_cannot_reach_the_apiserver_gives_up_at_its_renew_deadline() {
        let mut api = Apiserver::default();
        let mut a = Elector::new("a", timing());
        round(&mut a, &mut api, 0);
        round(&mut a, &mut api, 2_000);
        assert_eq!(a.failed(4_000), None);
        assert_eq!(a.failed(11_999), None);
        assert_eq!(a.failed(12_000), Some(Event::Lost));
        assert!(!a.is_leader());
        // Once the apiserver answers again it leads anew through its own lease.
        assert_eq!(round(&mut a, &mut api, 13_000), vec![Event::Elected]);
    }
}
