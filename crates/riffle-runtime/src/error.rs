//! Runtime errors, classified by where the fault lies.

/// Errors raised while running a job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job's own data or definition is at fault (e.g. a bad record in a
    /// file, a cast that overflows). A restart will not help.
    #[error("{0}")]
    User(String),
    /// An external system failed (file system, network). A restart may help.
    #[error("{0}")]
    External(String),
    /// An expression failed to evaluate.
    #[error("expression evaluation failed: {0}")]
    DataFusion(#[from] datafusion_common::DataFusionError),
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Shared-layer error (configuration, change kinds).
    #[error(transparent)]
    Common(#[from] riffle_common::Error),
    /// I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The job was cancelled.
    #[error("job cancelled")]
    Cancelled,
    /// State of the checkpoint being restored could not be read (a missing
    /// or corrupt file): an older checkpoint may still restore.
    #[error("cannot restore state: {0}")]
    Restore(Box<Error>),
    /// A broken invariant: a bug in Riffle.
    #[error("internal error: {0}")]
    Internal(String),
    /// An error with the operator or subtask it happened in.
    #[error("{context}: {source}")]
    Context {
        /// Where it happened, e.g. `Window(TUMBLE) (2/4)`.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps the error with the place it happened.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// Whether this is (or wraps) a failure to read restored state.
    pub fn is_restore(&self) -> bool {
        match self {
            Error::Restore(_) => true,
            Error::Context { source, .. } => source.is_restore(),
            _ => false,
        }
    }

    /// Whether this is (or wraps) a cancellation.
    pub fn is_cancelled(&self) -> bool {
        match self {
            Error::Cancelled => true,
            Error::Context { source, .. } => source.is_cancelled(),
            _ => false,
        }
    }
}

/// Result with the runtime error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
