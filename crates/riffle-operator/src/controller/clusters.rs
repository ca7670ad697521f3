//! The JobManager Deployments and pods of the watched namespaces, as the
//! watches last saw them: a steady FlinkDeployment observes its cluster
//! here instead of with a GET and a LIST per reconciliation, which keeps
//! the apiserver's load and the operator's working set flat as resources
//! grow. The rules decide when the cache can be trusted
//! ([`crate::deployment::rules::cache_is_current`]); during a transition
//! the cluster is read from the apiserver, since a watch may lag behind the
//! operator's own writes.

use std::sync::RwLock;

use futures_util::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use riffle_kubernetes::native::observe::{self as cluster, ClusterState};

use super::Context;

/// One scope's caches.
struct Scope {
    /// Its namespace; `None` is all.
    namespace: Option<String>,
    deployments: Store<Deployment>,
    pods: Store<Pod>,
}

impl Scope {
    fn ready(&self) -> bool {
        let ready = |r: Option<Result<(), _>>| r.is_some_and(|r| r.is_ok());
        ready(self.deployments.wait_until_ready().now_or_never())
            && ready(self.pods.wait_until_ready().now_or_never())
    }
}

/// The caches of every watched scope.
#[derive(Default)]
pub struct ClusterCache {
    scopes: RwLock<Vec<Scope>>,
}

/// A watch stream of one kind, trimmed and reflected into a cache.
pub type Feed<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

impl ClusterCache {
    /// Starts caching the JobManager Deployments and pods of `scope`: the
    /// returned streams fill the caches while they are polled (the
    /// FlinkDeployment controller polls them as its triggers).
    pub fn watch(&self, ctx: &Context, scope: &Option<String>) -> (Feed<Deployment>, Feed<Pod>) {
        let config = watcher::Config::default().labels(&cluster::jobmanagers_selector());
        let (deployments, deployment_writer) = reflector::store();
        let (pods, pod_writer) = reflector::store();
        let deployment_feed = watcher(ctx.api::<Deployment>(scope), config.clone())
            .default_backoff()
            .modify(cluster::trim_deployment)
            .reflect(deployment_writer)
            .applied_objects()
            .boxed();
        let pod_feed = watcher(ctx.api::<Pod>(scope), config)
            .default_backoff()
            .modify(cluster::trim_pod)
            .reflect(pod_writer)
            .applied_objects()
            .boxed();
        if let Ok(mut s) = self.scopes.write() {
            s.push(Scope {
                namespace: scope.clone(),
                deployments,
                pods,
            });
        }
        (deployment_feed, pod_feed)
    }

    /// Cluster `name` in namespace `ns` as the watches last saw it; `None`
    /// while the caches of its scope have not been filled yet.
    pub fn state(&self, ns: &str, name: &str) -> Option<ClusterState> {
        let scopes = self.scopes.read().ok()?;
        let key = ObjectRef::<Deployment>::new(name).within(ns);
        let s = scopes
            .iter()
            .find(|s| s.namespace.as_deref().is_none_or(|n| n == ns))
            .filter(|s| s.ready())?;
        let deployment = s.deployments.get(&key);
        let pods = s.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns) && cluster::is_jobmanager_of(p, name)
        });
        Some(cluster::cluster_state(
            deployment.as_deref(),
            pods.iter().map(AsRef::as_ref),
        ))
    }
}
