//! Riffle on the Kubernetes API.
//!
//! Place in the system: beside the JobManager. With Kubernetes high
//! availability (`high-availability.type: kubernetes`) several JobManagers of
//! one cluster run at once; exactly one of them (the leader) binds the
//! cluster's ports, schedules and checkpoints, the others stand by. Who leads
//! is decided through a `coordination.k8s.io/v1` Lease ([`leader`], with the
//! rules in [`election`]); what the next leader needs (the submitted jobs and
//! their latest checkpoints) is kept in durable storage with pointers in the
//! cluster's HA ConfigMap ([`job_store`]).
//!
//! The rules are kept apart from the I/O, in the style of the JobManager's
//! cluster rules: [`election::Elector`] looks at what was read of the Lease
//! and says what to write; the I/O talks to the apiserver, whose
//! `resourceVersion` precondition makes two contenders' writes exclusive.
//! The JobManager itself knows nothing of Kubernetes: it sees a
//! [`riffle_jobmanager::ha::HaStore`].
//!
//! In native mode ([`native`]) the client creates the cluster's objects
//! through the API and the JobManager creates its TaskManager pods, through
//! a [`riffle_jobmanager::resources::WorkerProvider`].

mod client;
pub mod election;
mod error;
pub mod job_store;
pub mod leader;
pub mod names;
pub mod native;

pub use client::Kube;
pub use error::KubeError;
