//! Riffle on the Kubernetes API.
//!
//! Place in the system: beside the JobManager. With Kubernetes high
//! availability several JobManagers of one cluster run at once; exactly one
//! of them (the leader) binds the cluster's ports, schedules and checkpoints,
//! the others stand by. Who leads is decided through a
//! `coordination.k8s.io/v1` Lease, as Kubernetes' own controllers do it.
//!
//! The rules are kept apart from the I/O, in the style of the JobManager's
//! cluster rules: [`election::Elector`] looks at what was read of the Lease
//! and says what to write; the caller talks to the apiserver, whose
//! `resourceVersion` precondition makes two contenders' writes exclusive.

pub mod election;
