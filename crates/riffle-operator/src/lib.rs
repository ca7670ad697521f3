//! The Riffle Kubernetes Operator.
//!
//! Place in the system: beside the clusters, not in their data path. Users
//! declare `FlinkDeployment`s, `FlinkSessionJob`s and `FlinkStateSnapshot`s
//! (the Flink Kubernetes Operator's resources, in the API group
//! `riffle.dev`); the operator deploys them as native-mode clusters
//! (`riffle-kubernetes`) and talks to their JobManagers over the Flink REST
//! API. This crate holds the resources' types ([`crd`]), from which the
//! committed CRDs are generated.

pub mod crd;
