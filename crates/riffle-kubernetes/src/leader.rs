//! The leader election loop: [`crate::election`]'s rules against the
//! apiserver's Lease.
//!
//! Runs as a task on the client's runtime and publishes where this
//! JobManager stands; the JobManager polls [`LeaderElection::status`]. A
//! JobManager that loses the leadership exits (Kubernetes starts it again
//! as a standby), as a Flink JobManager whose leadership is revoked gives up
//! its jobs: nothing it did as leader can be trusted to still hold.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::election::{Elector, Event, LeaseRecord, Timing, Write};
use crate::{Kube, KubeError, names};

/// Where this JobManager stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// Another contender leads (named when known), or none yet.
    Standby(Option<String>),
    /// This JobManager leads.
    Leading,
    /// This JobManager led and must stop now.
    Lost,
}

/// The Lease an election is about, and the labels it is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseName {
    /// The Lease's name.
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A running election for one JobManager.
#[derive(Debug)]
pub struct LeaderElection {
    status: Arc<Mutex<Leadership>>,
    stop: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    identity: String,
    lease: String,
}

impl LeaderElection {
    /// Joins the election of cluster `cluster_id` as `identity` (unique per
    /// process).
    pub fn start(kube: &Kube, cluster_id: &str, identity: &str, timing: Timing) -> LeaderElection {
        let lease = LeaseName {
            name: names::leader_lease(cluster_id),
            labels: names::ha_labels(cluster_id),
        };
        Self::start_named(kube, lease, identity, timing)
    }

    /// Joins the election of Lease `lease` (in the client's namespace) as
    /// `identity`: for contenders other than a cluster's JobManagers (the
    /// operator's replicas).
    pub fn start_named(
        kube: &Kube,
        lease: LeaseName,
        identity: &str,
        timing: Timing,
    ) -> LeaderElection {
        let status = Arc::new(Mutex::new(Leadership::Standby(None)));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let LeaseName {
            name: lease,
            labels,
        } = lease;
        let task = Contender {
            api: Api::namespaced(kube.client(), kube.namespace()),
            lease: lease.clone(),
            labels,
            elector: Elector::new(identity, timing),
            status: Arc::clone(&status),
            stop: Arc::clone(&stop),
            stopped: Arc::clone(&stopped),
            started: Instant::now(),
            last_read: None,
        };
        kube.spawn(task.run());
        LeaderElection {
            status,
            stop,
            stopped,
            identity: identity.to_string(),
            lease,
        }
    }

    /// Where this JobManager stands now.
    pub fn status(&self) -> Leadership {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Leadership::Lost)
    }

    /// This contender's identity (the Lease's holder while it leads).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The Lease's name.
    pub fn lease_name(&self) -> &str {
        &self.lease
    }

    /// Leaves the election; a leader releases the Lease first so that a
    /// standby takes over at once. Waits at most `timeout`.
    pub fn resign(&self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + timeout;
        while !self.stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Contender {
    api: Api<Lease>,
    lease: String,
    labels: std::collections::BTreeMap<String, String>,
    elector: Elector,
    status: Arc<Mutex<Leadership>>,
    stop: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    started: Instant,
    /// The Lease as read last, the base of the next write.
    last_read: Option<Lease>,
}

impl Contender {
    async fn run(mut self) {
        let pause = self.elector.timing().retry_period;
        while !self.stop.load(Ordering::Relaxed) {
            if let Err(e) = self.round().await {
                tracing::warn!(lease = %self.lease, error = %e, "leader election: the Lease could not be read or written; retrying");
            }
            if self.status() == Leadership::Lost {
                break;
            }
            // Poll the stop flag while pausing, so a resignation is quick.
            let until = Instant::now() + pause;
            while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if self.elector.resign().is_some() {
            match self.release().await {
                Ok(()) => {
                    tracing::info!(lease = %self.lease, "leader election: released the Lease")
                }
                Err(e) => {
                    tracing::warn!(lease = %self.lease, error = %e, "leader election: cannot release the Lease; a standby takes over when it expires")
                }
            }
        }
        self.stopped.store(true, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn status(&self) -> Leadership {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(Leadership::Lost)
    }

    fn publish(&self, event: Option<Event>, holder: Option<String>) {
        let Ok(mut s) = self.status.lock() else {
            return;
        };
        match event {
            Some(Event::Elected) => {
                tracing::info!(lease = %self.lease, identity = %self.elector.identity(), "leader election: this JobManager leads");
                *s = Leadership::Leading;
            }
            Some(Event::Lost) => {
                tracing::error!(lease = %self.lease, identity = %self.elector.identity(), "leader election: this JobManager lost the leadership");
                *s = Leadership::Lost;
            }
            None if *s != Leadership::Leading && *s != Leadership::Lost => {
                if *s != Leadership::Standby(holder.clone()) {
                    tracing::info!(lease = %self.lease, leader = ?holder, "leader election: standing by");
                }
                *s = Leadership::Standby(holder);
            }
            None => {}
        }
    }

    /// Read, decide, write.
    async fn round(&mut self) -> Result<(), KubeError> {
        let read = self.api.get_opt(&self.lease).await;
        let lease = match read {
            Ok(l) => l,
            Err(e) => {
                let event = self.elector.failed(self.now());
                self.publish(event, None);
                return Err(KubeError::api(format!("reading Lease {}", self.lease))(e));
            }
        };
        let record = lease.as_ref().map(record_of);
        let holder = record.as_ref().and_then(|r| r.holder.clone());
        self.last_read = lease;
        let (write, event) = self.elector.observe(record, self.now());
        self.publish(event, holder.clone());
        let Some(write) = write else {
            return Ok(());
        };
        let written = self.write(&write).await;
        let event = match &written {
            Ok(()) => self.elector.written(self.now()),
            Err(_) => self.elector.failed(self.now()),
        };
        self.publish(event, holder);
        match written {
            // Losing a takeover race is the election working, not an error.
            Err(e) if e.is_conflict() => Ok(()),
            other => other,
        }
    }

    async fn write(&self, write: &Write) -> Result<(), KubeError> {
        let now = MicroTime(Timestamp::now());
        let duration_s = i32::try_from(self.elector.timing().lease_duration.as_secs().max(1))
            .unwrap_or(i32::MAX);
        let me = Some(self.elector.identity().to_string());
        let pp = PostParams::default();
        let Some((resource_version, transitions)) = write.precondition() else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.clone()),
                    labels: Some(self.labels.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: me,
                    lease_duration_seconds: Some(duration_s),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return self
                .api
                .create(&pp, &lease)
                .await
                .map(|_| ())
                .map_err(KubeError::api(format!("creating Lease {}", self.lease)));
        };
        let mut lease = self.last_read.clone().unwrap_or_default();
        lease.metadata.resource_version = Some(resource_version.to_string());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if matches!(write, Write::TakeOver { .. }) {
            spec.acquire_time = Some(now.clone());
        }
        spec.holder_identity = me;
        spec.lease_duration_seconds = Some(duration_s);
        spec.renew_time = Some(now);
        spec.lease_transitions = Some(transitions);
        self.api
            .replace(&self.lease, &pp, &lease)
            .await
            .map(|_| ())
            .map_err(KubeError::api(format!("updating Lease {}", self.lease)))
    }

    /// Writes the Lease with no holder, if this contender still holds it.
    async fn release(&self) -> Result<(), KubeError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.lease)
            .await
            .map_err(KubeError::api(format!("reading Lease {}", self.lease)))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.elector.identity()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.lease, &PostParams::default(), &lease)
            .await
            .map(|_| ())
            .map_err(KubeError::api(format!("releasing Lease {}", self.lease)))
    }
}

fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseRecord {
        holder: spec.holder_identity,
        transitions: spec.lease_transitions.unwrap_or(0),
        renew_time_ms: spec.renew_time.map_or(0, |t| t.0.as_millisecond()),
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}
