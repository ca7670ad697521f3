//! Errors of Riffle's Kubernetes integration, by who can fix them.

/// Why a Kubernetes operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The apiserver cannot be found or reached from here (deployment).
    #[error("{0}")]
    Config(String),
    /// The apiserver refused or failed a request.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error (status code and reason included).
        #[source]
        source: kube::Error,
    },
    /// This JobManager no longer leads: another one took over.
    #[error("{0}")]
    NotLeader(String),
    /// The configuration or a file it names is wrong (the user).
    #[error("{0}")]
    Invalid(String),
    /// A configuration value does not parse.
    #[error(transparent)]
    Settings(#[from] riffle_common::Error),
    /// Durable storage of the HA data failed.
    #[error("{0}")]
    Storage(String),
}

impl KubeError {
    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> KubeError {
        let what = what.into();
        move |source| KubeError::Api { what, source }
    }

    /// A write lost a race (HTTP 409): someone else changed the object first.
    pub fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Api { source: kube::Error::Api(s), .. } if s.is_conflict() || s.is_already_exists())
    }
}
