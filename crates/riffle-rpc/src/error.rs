//! Errors on the wire.

/// Errors of the control protocol and the data exchange.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed or closed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame or message that does not follow the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A message body that is not valid JSON for its type.
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    /// Arrow IPC encoding or decoding failed.
    #[error("Arrow IPC: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The peer refused the request.
    #[error("{0}")]
    Refused(String),
}

/// Result with the wire error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for riffle_runtime::Error {
    fn from(e: Error) -> Self {
        riffle_runtime::Error::External(e.to_string())
    }
}
