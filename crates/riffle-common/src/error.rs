//! Errors of the shared layer: configuration values and files, and change-kind
//! columns.
//!
//! Every configuration error is the caller's fault (a file, an environment
//! variable or a flag) and names where it came from: the key for a bad value,
//! the line for bad syntax, the path or variable for a whole source, so a
//! start-up failure can be fixed without guessing.

use std::path::PathBuf;

/// Errors raised by the shared vocabulary types.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key had a value that cannot be parsed. The caller's fault.
    #[error("invalid value {value:?} for configuration key '{key}'{}: {reason}", from_origin(.origin))]
    InvalidConfig {
        /// The configuration key.
        key: String,
        /// The offending value.
        value: String,
        /// What was expected.
        reason: String,
        /// Where the value was set, when known.
        origin: Option<crate::config::Origin>,
    },
    /// Configuration text (a `config.yaml`, a `flink-conf.yaml` or the
    /// `RIFFLE_PROPERTIES` variable) is malformed at a line. The caller's fault.
    #[error("syntax error at line {line}: {reason}")]
    ConfigSyntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A configuration file or directory exists (or was named) but cannot be read.
    #[error("cannot read configuration {}: {error}", .path.display())]
    ConfigRead {
        /// The file or directory.
        path: PathBuf,
        /// The I/O failure.
        error: std::io::Error,
    },
    /// An error inside one configuration source, with the source named (a file
    /// path or an environment variable).
    #[error("{origin}: {error}")]
    ConfigSource {
        /// Where the configuration came from.
        origin: String,
        /// What went wrong in it.
        error: Box<Error>,
    },
    /// A change-kind byte outside Flink's RowKind range.
    #[error("invalid change kind byte {0}: expected 0 (+I), 1 (-U), 2 (+U) or 3 (-D)")]
    InvalidRowKind(u8),
    /// An Arrow operation failed while building or slicing a chunk.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// ` (from <origin>)` for an error message, or nothing.
fn from_origin(origin: &Option<crate::config::Origin>) -> String {
    match origin {
        Some(crate::config::Origin::Riffle) | None => String::new(),
        Some(o) => format!(" (from {o})"),
    }
}

/// Result with the shared error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
