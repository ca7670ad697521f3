//! Native Kubernetes mode: Riffle creates its own cluster objects.
//!
//! A client (`riffle kubernetes-session`, `riffle run-application --target
//! kubernetes-application`) turns its configuration into a [`spec`], writes
//! the cluster's files ([`descriptor`]) and creates the JobManager
//! Deployment, the ConfigMap and the Services ([`objects`], [`deploy`]). The
//! JobManager then creates a TaskManager pod per worker its resource manager
//! asks for ([`workers`]); every object is owned by the Deployment, so
//! deleting it deletes the cluster. Object building is pure; the apiserver
//! calls are in [`deploy`] and [`workers`].

pub mod deploy;
pub mod descriptor;
pub mod objects;
pub mod observe;
pub mod spec;
pub mod workers;
pub mod yaml;
