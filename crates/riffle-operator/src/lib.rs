//! The Riffle Kubernetes Operator.
//!
//! Place in the system: beside the clusters, not in their data path. Users
//! declare `FlinkDeployment`s, `FlinkSessionJob`s and `FlinkStateSnapshot`s
//! (the Flink Kubernetes Operator's resources, in the API group
//! `riffle.dev`); the operator deploys them as native-mode clusters
//! (`riffle-kubernetes`) and talks to their JobManagers over the Flink REST
//! API ([`rest`]).
//!
//! Layers: [`crd`] holds the resources' types (the committed CRDs are
//! generated from them); [`cluster_plan`] and [`spec_diff`] turn a spec into
//! a cluster and classify its changes; [`deployment::rules`] decides (pure);
//! [`deployment::io`] observes and acts; [`controller`] runs it all on
//! kube's watch and work queue; [`run`] is `riffle operator run`.

pub mod autoscaler;
pub mod cluster_plan;
pub mod controller;
pub mod crd;
pub mod deployment;
pub mod error;
pub mod install;
pub mod metrics;
pub mod rest;
pub mod session_job;
pub mod settings;
pub mod settle;
pub mod snapshot;
pub mod spec_diff;
pub mod time;
pub mod upgrade;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use riffle_common::config::{Configuration, PortRange};
use riffle_kubernetes::Kube;
use riffle_kubernetes::election::Timing;
use riffle_kubernetes::leader::{LeaderElection, Leadership, LeaseName};

pub use error::OperatorError;

use crate::metrics::Metrics;
use crate::settings::OperatorSettings;
use crate::settle::Settling;

/// How `riffle operator run` starts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The operator's configuration: `kubernetes.operator.*` settings, and
    /// the base of every cluster's configuration.
    pub config: Configuration,
    /// Create or upgrade the CRDs before watching.
    pub install_crds: bool,
    /// Called when the work has settled (see [`settle`]): once start-up is
    /// over, and after each burst of spec checks. Called on the thread that
    /// waits for the operator to stop.
    pub on_settled: Option<fn()>,
}

/// This process's name in the leader election and Events.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// Runs the operator until it is stopped (SIGTERM) or loses its leadership.
pub fn run(options: RunOptions) -> Result<(), OperatorError> {
    let settings = OperatorSettings::resolve(&options.config)?;
    let kube = Kube::connect(None)?;
    if options.install_crds {
        install::install_crds(&kube)?;
    }
    let metrics = Arc::new(Metrics::default());
    let leading = Arc::new(AtomicBool::new(settings.leader_election.is_none()));
    if let Some(port) = settings.probe_port {
        let render_metrics = Arc::clone(&metrics);
        let ready_flag = Arc::clone(&leading);
        let bound = riffle_common::prometheus::serve(
            "0.0.0.0",
            &PortRange::single(port),
            Arc::new(move || render_metrics.render()),
            Some(Arc::new(move || {
                Ok(if ready_flag.load(Ordering::Relaxed) {
                    "leading".to_string()
                } else {
                    "standby".to_string()
                })
            })),
        )
        .map_err(|e| OperatorError::Stopped(format!("cannot serve the probe port {port}: {e}")))?;
        tracing::info!(
            port = bound,
            "health (/readyz) and metrics (/metrics) served"
        );
    }
    let election = match &settings.leader_election {
        Some(l) => {
            let timing = Timing {
                lease_duration: l.lease_duration,
                renew_deadline: l.renew_deadline,
                retry_period: l.retry_period,
            };
            let lease = LeaseName {
                name: l.lease_name.clone(),
                labels: controller::lease_labels(),
            };
            let election = LeaderElection::start_named(&kube, lease, &identity(), timing);
            tracing::info!(lease = %l.lease_name, identity = %election.identity(), "waiting to lead");
            loop {
                match election.status() {
                    Leadership::Leading => break,
                    Leadership::Lost => {
                        return Err(OperatorError::Stopped("the leader election failed".into()));
                    }
                    Leadership::Standby(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
            leading.store(true, Ordering::Relaxed);
            tracing::info!(lease = %l.lease_name, "leading: reconciling");
            Some(election)
        }
        None => None,
    };
    let ctx = Arc::new(controller::Context::new(
        kube.clone(),
        options.config,
        settings,
        Arc::clone(&metrics),
    ));
    let done = Arc::new(AtomicBool::new(false));
    let loop_done = Arc::clone(&done);
    let loop_kube = kube.clone();
    std::thread::Builder::new()
        .name("operator".into())
        .spawn(move || {
            let _ = loop_kube.run(async move {
                controller::run(ctx).await;
                Ok(())
            });
            loop_done.store(true, Ordering::Relaxed);
        })
        .map_err(|e| OperatorError::Stopped(format!("cannot start the controller: {e}")))?;
    let mut settling = Settling::new(metrics.spec_checks(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(hook) = options.on_settled
            && settling.settled(metrics.spec_checks(), Instant::now())
        {
            hook();
        }
        if done.load(Ordering::Relaxed) {
            if let Some(e) = &election {
                e.resign(controller::SHUTDOWN_GRACE);
            }
            return Ok(());
        }
        if let Some(e) = &election
            && e.status() != Leadership::Leading
        {
            return Err(OperatorError::Stopped(
                "this operator lost its leadership; another replica leads now".into(),
            ));
        }
    }
}
