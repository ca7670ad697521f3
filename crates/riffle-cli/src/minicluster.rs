//! The embedded mini-cluster behind `riffle run FILE.sql`.
//!
//! A JobManager and one TaskManager in this process, talking over
//! 127.0.0.1 exactly as separate processes do, so the embedded run and a
//! real cluster share every rule: scheduling, task states, restarts, metrics.
//! The TaskManager offers as many slots as the job's largest parallelism
//! (Flink's MiniCluster does the same); all its channels are local, so no
//! record crosses a socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use riffle_common::config::{ClusterConfig, Configuration};
use riffle_jobmanager::job::{JobSpec, JobStatus};
use riffle_jobmanager::{JobManager, JobManagerOptions};
use riffle_rpc::{JobId, ResourceId};
use riffle_runtime::metrics::JobMetrics;
use riffle_taskmanager::{TaskManager, TaskManagerOptions};

/// The metrics of the latest attempt of each job.
type LatestAttempts = Mutex<Vec<(JobId, Arc<JobMetrics>)>>;

/// A JobManager and a TaskManager in this process.
pub struct MiniCluster {
    jobmanager: JobManager,
    taskmanager: Arc<TaskManager>,
    /// The metrics of the latest attempt of each job, as the TaskManager deploys them.
    attempts: Arc<LatestAttempts>,
}

impl MiniCluster {
    /// Starts both on ephemeral ports of 127.0.0.1 with `slots` slots.
    pub fn start(config: &Configuration, slots: usize) -> Result<MiniCluster> {
        let cluster = ClusterConfig::resolve(config).context("invalid configuration")?;
        let heartbeat_interval =
            Duration::from_millis(cluster.heartbeat_interval_ms.unsigned_abs());
        let heartbeat_timeout = Duration::from_millis(cluster.heartbeat_timeout_ms.unsigned_abs());
        let jobmanager = JobManager::start(JobManagerOptions {
            config: config.clone(),
            cluster,
            rpc_bind: "127.0.0.1".into(),
            rpc_port: 0,
            rest_bind: "127.0.0.1".into(),
            rest_port: 0,
            metrics_ports: None,
            job_store: None,
        })
        .map_err(|e| anyhow!("cannot start the embedded JobManager: {e}"))?;
        let taskmanager = TaskManager::start(TaskManagerOptions {
            resource_id: ResourceId::random(),
            jobmanager: format!("127.0.0.1:{}", jobmanager.rpc_port),
            host: Some("127.0.0.1".into()),
            bind_host: "127.0.0.1".into(),
            data_port: 0,
            slots: slots.max(1),
            heartbeat_interval,
            heartbeat_timeout,
            metrics_ports: None,
        })
        .map_err(|e| anyhow!("cannot start the embedded TaskManager: {e}"))?;
        let attempts: Arc<LatestAttempts> = Arc::default();
        let seen = Arc::clone(&attempts);
        taskmanager.observe_attempts(Arc::new(move |job, _attempt, metrics| {
            if let Ok(mut a) = seen.lock() {
                a.retain(|(j, _)| *j != job);
                a.push((job, Arc::clone(metrics)));
            }
        }));
        tracing::info!(
            rest = %jobmanager.state.rest_address,
            "embedded cluster started"
        );
        Ok(MiniCluster {
            jobmanager,
            taskmanager,
            attempts,
        })
    }

    /// The embedded JobManager's REST address (`127.0.0.1:port`).
    pub fn rest_address(&self) -> String {
        self.jobmanager.state.rest_address.clone()
    }

    /// Submits a script with its configuration; returns the job id.
    pub fn submit(&self, script: &str, config: &Configuration) -> Result<JobId> {
        let id = JobId::random();
        self.jobmanager
            .state
            .submit_spec(JobSpec {
                id,
                script: script.to_string(),
                config: config.clone(),
                on_recorded_result: Default::default(),
            })
            .map_err(|e| anyhow!("{e}"))
    }

    /// The metrics of the job's latest attempt (`None` before it is deployed).
    pub fn metrics(&self, id: JobId) -> Option<Arc<JobMetrics>> {
        latest(&self.attempts, id)
    }

    /// A function returning [`MiniCluster::metrics`], for another thread.
    pub fn metrics_fn(&self, id: JobId) -> impl Fn() -> Option<Arc<JobMetrics>> + Send + 'static {
        let attempts = Arc::clone(&self.attempts);
        move || latest(&attempts, id)
    }

    /// Asks the job to cancel.
    pub fn cancel(&self, id: JobId) {
        if let Err(e) = self.jobmanager.state.cancel(id) {
            tracing::debug!(error = %e, "cancel");
        }
    }

    /// Waits until the job is globally terminal; returns its final status.
    pub fn wait(&self, id: JobId) -> Result<JobStatus> {
        loop {
            if let Some(s) = self.wait_for(id, Duration::from_secs(1))? {
                return Ok(s);
            }
        }
    }

    /// Waits up to `limit` for the job to be globally terminal and its end
    /// handled (result recorded, checkpoints cleaned up).
    pub fn wait_for(&self, id: JobId, limit: Duration) -> Result<Option<JobStatus>> {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.jobmanager.state.ended(id) {
                return Ok(Some(s));
            }
            match self.jobmanager.state.job_status(id) {
                Some(_) if std::time::Instant::now() >= until => return Ok(None),
                Some(_) => std::thread::sleep(Duration::from_millis(2)),
                None => return Err(anyhow!("job {id} vanished from the embedded JobManager")),
            }
        }
    }

    /// Why the job failed, as the JobManager recorded it.
    pub fn failure(&self, id: JobId) -> Option<String> {
        self.jobmanager.state.last_failure(id)
    }
}

impl Drop for MiniCluster {
    fn drop(&mut self) {
        self.taskmanager.shutdown();
    }
}

fn latest(attempts: &LatestAttempts, id: JobId) -> Option<Arc<JobMetrics>> {
    let a = attempts.lock().ok()?;
    a.iter().find(|(j, _)| *j == id).map(|(_, m)| Arc::clone(m))
}
