//! Errors of the shared layer: configuration values and change-kind columns.

/// Errors raised by the shared vocabulary types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key had a value that cannot be parsed. The caller's fault.
    #[error("invalid value {value:?} for configuration key '{key}': {reason}")]
    InvalidConfig {
        /// The configuration key.
        key: String,
        /// The offending value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A change-kind byte outside Flink's RowKind range.
    #[error("invalid change kind byte {0}: expected 0 (+I), 1 (-U), 2 (+U) or 3 (-D)")]
    InvalidRowKind(u8),
    /// An Arrow operation failed while building or slicing a chunk.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Result with the shared error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
