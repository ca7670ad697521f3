//! The connection to the apiserver, usable from plain threads.
//!
//! The JobManager is threads, not tasks; its REST handlers run on a tokio
//! runtime of their own. So this crate owns one small runtime, and blocking
//! callers hand it a future and wait on a channel: that works from any
//! thread, inside another runtime too (where `block_on` would panic).

use std::future::Future;
use std::sync::{OnceLock, mpsc};

use kube::Client;

use crate::KubeError;

/// The process-wide runtime of Kubernetes calls, started on first use.
fn runtime() -> Result<tokio::runtime::Handle, KubeError> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(r) = RUNTIME.get() {
        return Ok(r.handle().clone());
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kube-client")
        .enable_all()
        .build()
        .map_err(|e| {
            KubeError::Config(format!("cannot start the Kubernetes client's runtime: {e}"))
        })?;
    Ok(RUNTIME.get_or_init(|| built).handle().clone())
}

/// A Kubernetes client with the runtime that drives it, and the namespace
/// the cluster's objects live in.
#[derive(Clone)]
pub struct Kube {
    client: Client,
    namespace: String,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Kube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kube")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Kube {
    /// Connects as the pod's service account (or through `$KUBECONFIG`
    /// outside a cluster); `namespace` overrides the pod's own namespace.
    pub fn connect(namespace: Option<&str>) -> Result<Kube, KubeError> {
        let handle = runtime()?;
        let config = handle.block_on(kube::Config::infer()).map_err(|e| {
            KubeError::Config(format!(
                "cannot find the Kubernetes API (in a pod: the service account token and \
                     KUBERNETES_SERVICE_HOST/PORT; outside: $KUBECONFIG): {e}"
            ))
        })?;
        Self::with_config(handle, config, namespace)
    }

    /// Connects as a client outside the cluster: `kubernetes.config.file`
    /// (else `$KUBECONFIG`, else `~/.kube/config`, else the pod's service
    /// account) with `kubernetes.context` (else the current context).
    pub fn connect_client(
        namespace: Option<&str>,
        config_file: Option<&str>,
        context: Option<&str>,
    ) -> Result<Kube, KubeError> {
        if config_file.is_none() && context.is_none() {
            return Kube::connect(namespace);
        }
        let handle = runtime()?;
        let kubeconfig = match config_file {
            Some(path) => kube::config::Kubeconfig::read_from(path).map_err(|e| {
                KubeError::Config(format!("cannot read kubernetes.config.file {path}: {e}"))
            })?,
            None => kube::config::Kubeconfig::read().map_err(|e| {
                KubeError::Config(format!(
                    "cannot read the kubeconfig ($KUBECONFIG or ~/.kube/config): {e}"
                ))
            })?,
        };
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = handle
            .block_on(kube::Config::from_custom_kubeconfig(kubeconfig, &options))
            .map_err(|e| {
                KubeError::Config(format!(
                    "cannot use the kubeconfig (kubernetes.config.file / kubernetes.context): {e}"
                ))
            })?;
        Self::with_config(handle, config, namespace)
    }

    fn with_config(
        handle: tokio::runtime::Handle,
        config: kube::Config,
        namespace: Option<&str>,
    ) -> Result<Kube, KubeError> {
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = {
            let _guard = handle.enter();
            Client::try_from(config).map_err(|e| {
                KubeError::Config(format!("cannot build the Kubernetes client: {e}"))
            })?
        };
        Ok(Kube {
            client,
            namespace,
            runtime: handle,
        })
    }

    /// The same connection, for objects in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Kube {
        Kube {
            namespace: namespace.to_string(),
            ..self.clone()
        }
    }

    /// The namespace of the cluster's Lease and ConfigMaps.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The client, for callers with their own async code (the operator).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Reads the namespaced object `name` of kind `K`; `None` when absent.
    pub fn get<K>(&self, name: &str) -> Result<Option<K>, KubeError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + k8s_openapi::serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        K::DynamicType: Default,
    {
        let api: kube::Api<K> = kube::Api::namespaced(self.client(), self.namespace());
        let name = name.to_string();
        self.run(async move {
            api.get_opt(&name).await.map_err(KubeError::api(format!(
                "reading {} {name}",
                K::kind(&K::DynamicType::default())
            )))
        })
    }

    /// Runs `f` on the client's runtime and waits for its result.
    pub fn run<T, F>(&self, f: F) -> Result<T, KubeError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, KubeError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| KubeError::Config("the Kubernetes client's runtime stopped".into()))?
    }

    /// Starts `f` on the client's runtime without waiting for it.
    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(f);
    }
}
