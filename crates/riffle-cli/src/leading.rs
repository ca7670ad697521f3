//! A JobManager process under Kubernetes high availability: it stands by
//! until it wins the Lease, then claims the cluster's HA ConfigMap, binds
//! the cluster's ports, runs the jobs the previous leader recorded, and
//! exits when it loses the leadership (Kubernetes starts it again as a
//! standby) or is stopped (it releases the Lease, so a standby takes over
//! without waiting for it to expire).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use riffle_common::config::{ClusterConfig, KubernetesHa};
use riffle_jobmanager::JobManager;
use riffle_kubernetes::Kube;
use riffle_kubernetes::election::Timing;
use riffle_kubernetes::job_store::ConfigMapJobStore;
use riffle_kubernetes::leader::{LeaderElection, Leadership};
use riffle_rpc::JobId;

/// How long a new leader keeps trying to bind ports its predecessor may
/// still hold for a moment (pods on the host network).
const BIND_RETRY: Duration = Duration::from_secs(30);

/// This process's place in the election.
pub struct Contender {
    kube: Kube,
    ha: KubernetesHa,
    election: LeaderElection,
}

/// How a leading JobManager's run ended.
pub enum Ended {
    /// SIGTERM/SIGINT: the Lease was released.
    Stopped,
    /// Another JobManager leads now.
    LostLeadership,
}

impl Contender {
    /// Connects to the apiserver and joins the election.
    pub fn join(ha: &KubernetesHa) -> Result<Contender> {
        let kube = Kube::connect(ha.namespace.as_deref())
            .context("high-availability.type is kubernetes")?;
        let identity = identity();
        let timing = Timing {
            lease_duration: Duration::from_millis(ha.lease_duration_ms),
            renew_deadline: Duration::from_millis(ha.renew_deadline_ms),
            retry_period: Duration::from_millis(ha.retry_period_ms),
        };
        let election = LeaderElection::start(&kube, &ha.cluster_id, &identity, timing);
        tracing::info!(
            identity = %identity,
            lease = %election.lease_name(),
            namespace = %kube.namespace(),
            "JobManager joined the leader election"
        );
        Ok(Contender {
            kube,
            ha: ha.clone(),
            election,
        })
    }

    /// Stands by until this JobManager leads; `false` when stopped first.
    pub fn wait_until_leading(&self, terminate: &AtomicBool) -> Result<bool> {
        loop {
            if terminate.load(Ordering::Relaxed) {
                self.election.resign(Duration::from_secs(5));
                return Ok(false);
            }
            match self.election.status() {
                Leadership::Leading => return Ok(true),
                Leadership::Lost => bail!("lost the leader election before leading"),
                Leadership::Standby(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The job store this leader writes, claimed for it, with its REST
    /// address published.
    pub fn claim_job_store(&self, cluster: &ClusterConfig) -> Result<Arc<ConfigMapJobStore>> {
        let storage = riffle_storage::Storage::open(&self.ha.storage_dir, &cluster.storage)
            .with_context(|| format!("high-availability.storageDir {}", self.ha.storage_dir))?
            .child(&self.ha.cluster_id);
        let store = ConfigMapJobStore::new(
            self.kube.clone(),
            &self.ha.cluster_id,
            self.election.identity(),
            storage,
        );
        let rest_url = format!("http://{}:{}", cluster.rest_address, cluster.rest_port);
        store
            .claim(&rest_url)
            .context("cannot claim the cluster's HA ConfigMap")?;
        Ok(Arc::new(store))
    }

    /// Whether this JobManager still leads.
    pub fn is_leading(&self) -> bool {
        self.election.status() == Leadership::Leading
    }

    /// Leaves the election, releasing the Lease if held.
    pub fn resign(&self) {
        self.election.resign(Duration::from_secs(5));
    }

    /// Runs until stopped or deposed.
    pub fn lead(&self, terminate: &AtomicBool) -> Ended {
        loop {
            if terminate.load(Ordering::Relaxed) {
                self.election.resign(Duration::from_secs(5));
                return Ended::Stopped;
            }
            if self.election.status() != Leadership::Leading {
                return Ended::LostLeadership;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the JobManager, retrying while its ports are still taken.
pub fn start_when_bound(start: impl Fn() -> Result<JobManager>) -> Result<JobManager> {
    let deadline = Instant::now() + BIND_RETRY;
    loop {
        match start() {
            Ok(jm) => return Ok(jm),
            Err(e) if Instant::now() < deadline && format!("{e:#}").contains("in use") => {
                tracing::info!(
                    "the JobManager's ports are still taken (the previous leader is stopping); retrying"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Unique per process: the pod's name (when the manifests pass it) or the
/// host name, and a random suffix.
fn identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "jobmanager".into());
    let suffix: String = JobId::random().to_string().chars().take(8).collect();
    format!("{base}-{suffix}")
}
