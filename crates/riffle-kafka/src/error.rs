//! Kafka connector errors, sorted by who is at fault.

/// Errors of the Kafka connectors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad or missing `WITH` options (the user's, at planning time).
    #[error("{0}")]
    Options(String),
    /// The brokers refused or did not answer (external: a restart may help).
    #[error("{0}")]
    Broker(String),
    /// A record does not decode (the data's: a restart reads it again).
    #[error("{0}")]
    Data(String),
    /// The checkpoint's Kafka state cannot be used.
    #[error("{0}")]
    Restore(String),
}

/// Result with the Kafka error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<riffle_connectors::Error> for Error {
    fn from(e: riffle_connectors::Error) -> Self {
        match e {
            riffle_connectors::Error::Io(m) => Error::Broker(m),
            riffle_connectors::Error::Data(m) => Error::Data(m),
            riffle_connectors::Error::Options(m) | riffle_connectors::Error::Unsupported(m) => {
                Error::Options(m)
            }
        }
    }
}

impl From<Error> for riffle_connectors::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Options(m) => riffle_connectors::Error::Options(m),
            Error::Broker(m) => riffle_connectors::Error::Io(m),
            Error::Data(m) => riffle_connectors::Error::Data(m),
            Error::Restore(m) => riffle_connectors::Error::Data(m),
        }
    }
}

impl From<Error> for riffle_runtime::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Broker(m) => riffle_runtime::Error::External(m),
            Error::Restore(m) => {
                riffle_runtime::Error::Restore(Box::new(riffle_runtime::Error::External(m)))
            }
            other => riffle_runtime::Error::User(other.to_string()),
        }
    }
}
