//! Errors of the storage layer, classified by where the fault lies.
//!
//! - The caller's input: [`Error::InvalidLocation`], [`Error::UnsupportedScheme`],
//!   [`Error::InvalidPath`] and [`Error::Config`] come from a configuration value
//!   or a CLI flag; retrying cannot help, fixing the value does.
//! - The stored data: [`Error::NotFound`] (a savepoint path that does not exist,
//!   a checkpoint file that was deleted); callers often expect and handle it.
//! - The outside world: [`Error::Auth`] (credentials refused; not retryable
//!   until the credentials change), [`Error::Unreachable`] and [`Error::Io`]
//!   (the store failed after `object_store`'s own retries; a job restart may
//!   succeed), [`Error::LocalIo`] (a local file-system call outside
//!   `object_store`).
//! - [`Error::Runtime`]: the storage runtime could not start or a storage task
//!   died; a bug or resource exhaustion.

/// Errors raised by [`Storage`](crate::Storage) and [`BlobWriter`](crate::BlobWriter).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing is stored at the path.
    #[error("{path} does not exist")]
    NotFound {
        /// The full location of the missing object.
        path: String,
    },
    /// A location cannot be opened: not absolute, no bucket, or rejected by the
    /// store's client builder (for example a missing Azure account name).
    #[error("invalid storage location {url:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A location's scheme is not one Riffle can store to.
    #[error("unsupported storage scheme {scheme:?} in {url:?}: use one of {allowed}")]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
        /// The location as given.
        url: String,
        /// The schemes that work, comma separated.
        allowed: String,
    },
    /// A relative path passed to an operation is malformed (an empty, `.` or
    /// `..` segment, or a control character).
    #[error("invalid path {path:?} under {url}: {reason}")]
    InvalidPath {
        /// The location the path is relative to.
        url: String,
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A storage option in the configuration has a bad value.
    #[error(transparent)]
    Config(#[from] riffle_common::Error),
    /// The store rejected the credentials (HTTP 401 or 403).
    #[error("{op} {path}: access denied; {hint} ({source})")]
    Auth {
        /// The operation (`put`, `get`, `list`, ...).
        op: &'static str,
        /// The full location operated on.
        path: String,
        /// Which settings to check.
        hint: &'static str,
        /// The store's error (boxed: it is large).
        source: Box<object_store::Error>,
    },
    /// The store's service could not be reached (connection refused, DNS,
    /// timeout), after `object_store`'s retries.
    #[error("{op} {path}: cannot reach the storage service; {hint} ({source})")]
    Unreachable {
        /// The operation.
        op: &'static str,
        /// The full location operated on.
        path: String,
        /// Which settings to check.
        hint: &'static str,
        /// The store's error (boxed: it is large).
        source: Box<object_store::Error>,
    },
    /// Any other failure of the store.
    #[error("{op} {path} failed: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The full location operated on.
        path: String,
        /// The store's error (boxed: it is large).
        source: Box<object_store::Error>,
    },
    /// A local file-system call made directly (not through `object_store`) failed.
    #[error("{op} {path} failed: {source}")]
    LocalIo {
        /// The operation.
        op: &'static str,
        /// The local path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The storage runtime could not be started, or a storage task ended without
    /// a result. A bug or resource exhaustion, not the caller's fault.
    #[error("storage runtime: {reason}")]
    Runtime {
        /// What happened.
        reason: String,
    },
}

impl Error {
    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Result with the storage error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
