//! Connector errors.

/// Errors raised by connectors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad or unknown `WITH` options (the user's fault, found at planning time).
    #[error("{0}")]
    Options(String),
    /// The connector cannot do what was asked (e.g. a sink-only connector as a source).
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing external data failed.
    #[error("{0}")]
    Io(String),
    /// A record of the input does not parse (the user's data is at fault:
    /// a restart reads the same record again, so it cannot help).
    #[error("{0}")]
    Data(String),
}

/// Result with the connector error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for riffle_runtime::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(m) => riffle_runtime::Error::External(m),
            other => riffle_runtime::Error::User(other.to_string()),
        }
    }
}
