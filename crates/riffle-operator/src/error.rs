//! Why a reconciliation failed, sorted by who is at fault: the resource's
//! author (fix the spec; retrying does not help), or the cluster and the
//! services around it (retried with backoff).

use riffle_kubernetes::KubeError;

use crate::rest::RestError;

/// A failed reconciliation.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The resource's spec cannot be deployed.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// The apiserver refused or failed a call.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A call to the apiserver through the operator's own client failed.
    #[error("{what}: {source}")]
    Api {
        /// The call.
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A JobManager's REST API failed or refused.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// Checkpoint storage could not be read.
    #[error("checkpoint storage: {0}")]
    Storage(String),
    /// A configuration value is wrong.
    #[error(transparent)]
    Config(#[from] riffle_common::Error),
    /// A step waits for the cluster (a JobManager still stopping): tried
    /// again shortly, not counted as a failure.
    #[error("waiting: {0}")]
    Waiting(String),
    /// The reconciliation's thread stopped.
    #[error("the reconciliation stopped: {0}")]
    Stopped(String),
}

impl OperatorError {
    /// An apiserver call's error, with what was being done.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> OperatorError {
        let what = what.into();
        move |source| OperatorError::Api { what, source }
    }

    /// A write lost against a newer version of the object: the cached copy
    /// was stale. Reconciled again at once from the fresh one.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            OperatorError::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409
        )
    }

    /// Retrying cannot help: the spec must change.
    pub fn is_permanent(&self) -> bool {
        matches!(self, OperatorError::Spec(_))
    }
}
