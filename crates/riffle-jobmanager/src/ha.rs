//! High availability: what a leading JobManager keeps so that the next
//! leader carries on.
//!
//! With standby JobManagers (`high-availability.type: kubernetes`) the
//! leader records every job submitted to the session before running it and
//! forgets it once the job's end is in the job result store. A JobManager
//! that becomes leader runs the recorded jobs again: each one restores from
//! its latest checkpoint (the job id is kept, so its checkpoint directory is
//! found), and a job whose end is already recorded is dropped from the
//! store instead of run.
//!
//! The store is a trait so that the JobManager stays free of any Kubernetes
//! client: `riffle-kubernetes` implements it over a ConfigMap and durable
//! storage.

use riffle_rpc::JobId;

use crate::SqlSubmission;

/// Why the job store could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct JobStoreError(pub String);

/// The submitted jobs of a highly available session cluster.
pub trait JobGraphStore: Send + Sync + std::fmt::Debug {
    /// Records a job before it runs; `job.job_id` is set.
    fn put(&self, job: &SqlSubmission) -> Result<(), JobStoreError>;
    /// Forgets a job whose end is recorded.
    fn remove(&self, id: JobId) -> Result<(), JobStoreError>;
    /// Every recorded job.
    fn list(&self) -> Result<Vec<SqlSubmission>, JobStoreError>;
}
