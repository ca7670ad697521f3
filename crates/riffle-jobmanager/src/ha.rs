//! High availability: what a leading JobManager keeps so that the next
//! leader carries on.
//!
//! With standby JobManagers (`high-availability.type: kubernetes`) the
//! leader records every job submitted to the session before running it,
//! and the location of each job's latest completed checkpoint before it
//! tells the sinks to commit that checkpoint's output. A JobManager that
//! becomes leader runs the recorded jobs again, each from its recorded
//! checkpoint (the job id is kept), and drops a job whose end is already in
//! the job result store. A job is forgotten once its end is recorded.
//!
//! Why the pointer is written before the commit: a leader that dies right
//! after a commit must not leave a successor that restores an older
//! checkpoint and commits its output a second time.
//!
//! The store is a trait so that the JobManager stays free of any Kubernetes
//! client: `riffle-kubernetes` implements it over a ConfigMap and durable
//! storage.

use riffle_rpc::JobId;

use crate::SqlSubmission;

/// Why the HA store could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HaStoreError(pub String);

/// The submitted jobs of a highly available session and their latest
/// checkpoints.
pub trait HaStore: Send + Sync + std::fmt::Debug {
    /// Records a job before it runs; `job.job_id` is set.
    fn put_job(&self, job: &SqlSubmission) -> Result<(), HaStoreError>;
    /// Forgets a job whose end is recorded, with its checkpoint pointer.
    fn remove_job(&self, id: JobId) -> Result<(), HaStoreError>;
    /// Every recorded job.
    fn jobs(&self) -> Result<Vec<SqlSubmission>, HaStoreError>;
    /// Records `location` as the job's latest completed checkpoint `id`.
    fn checkpoint_completed(&self, job: JobId, id: u64, location: &str)
    -> Result<(), HaStoreError>;
    /// The job's latest completed checkpoint, if one was recorded.
    fn latest_checkpoint(&self, job: JobId) -> Result<Option<String>, HaStoreError>;
}
