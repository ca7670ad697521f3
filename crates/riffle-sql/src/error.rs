//! SQL errors: what went wrong, and where in the file.

/// Errors raised while parsing or planning SQL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text does not parse.
    #[error("SQL parse error{}: {message}", location.map(|(l, c)| format!(" at {l}:{c}")).unwrap_or_default())]
    Parse {
        /// 1-based `(line, column)` where parsing stopped; `None` only when
        /// the error has no place in the text.
        location: Option<(u64, u64)>,
        /// What the parser expected.
        message: String,
    },
    /// The statement parses but cannot be planned (unknown object, type mismatch, ...).
    #[error("SQL validation error{}: {message}", location.map(|(l, c)| format!(" at {l}:{c}")).unwrap_or_default())]
    Plan {
        /// Where, when known.
        location: Option<(u64, u64)>,
        /// What is wrong.
        message: String,
    },
    /// A valid Flink construct Riffle does not support yet.
    #[error("unsupported{}: {message}", location.map(|(l, c)| format!(" at {l}:{c}")).unwrap_or_default())]
    Unsupported {
        /// Where, when known.
        location: Option<(u64, u64)>,
        /// What is not supported.
        message: String,
    },
    /// A connector rejected the table's options.
    #[error("{0}")]
    Connector(#[from] riffle_connectors::Error),
    /// Bad configuration (`SET`, `-D`).
    #[error(transparent)]
    Config(#[from] riffle_common::Error),
    /// Building runtime operators failed.
    #[error(transparent)]
    Runtime(#[from] riffle_runtime::Error),
    /// The planner's thread could not be started (the system is out of
    /// threads or address space); not the SQL's fault, and a retry may
    /// succeed.
    #[error("cannot start the SQL planner's thread: {0}")]
    PlannerThread(std::io::Error),
}

impl Error {
    /// A planning error without a location.
    pub fn plan(message: impl Into<String>) -> Self {
        Error::Plan {
            location: None,
            message: message.into(),
        }
    }

    /// An unsupported-feature error without a location.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported {
            location: None,
            message: message.into(),
        }
    }

    /// Adds a location if the error has none.
    pub fn at(self, loc: Option<(u64, u64)>) -> Self {
        match self {
            Error::Parse {
                location: None,
                message,
            } => Error::Parse {
                location: loc,
                message,
            },
            Error::Plan {
                location: None,
                message,
            } => Error::Plan {
                location: loc,
                message,
            },
            Error::Unsupported {
                location: None,
                message,
            } => Error::Unsupported {
                location: loc,
                message,
            },
            other => other,
        }
    }
}

impl From<datafusion_common::DataFusionError> for Error {
    fn from(e: datafusion_common::DataFusionError) -> Self {
        // An empty span (line 0) is no place: the caller adds the
        // statement's instead of printing "0:0".
        let location = e
            .diagnostic()
            .and_then(|d| d.span)
            .filter(|s| s.start.line > 0)
            .map(|s| (s.start.line, s.start.column));
        let message = clean_message(&e);
        match e.find_root() {
            datafusion_common::DataFusionError::NotImplemented(_) => {
                Error::Unsupported { location, message }
            }
            _ => Error::Plan { location, message },
        }
    }
}

/// Strips DataFusion's layer prefixes ("Error during planning: ...") so the
/// message reads as ours.
fn clean_message(e: &datafusion_common::DataFusionError) -> String {
    let mut s = e.find_root().to_string();
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Execution error: ",
        "Optimizer rule",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    s
}

/// A parser error for our own grammar (DDL, `SET`, statement sets): the
/// message, then the place in sqlparser's own notation, which
/// `From<ParserError>` turns back into a location.
///
/// sqlparser's `Location` prints as `" at Line: L, Column: C"`, or as nothing
/// for the end-of-input token (whose span is empty), so messages must never
/// say "at" themselves: that left a dangling "at " in the message. A missing
/// place is filled in by [`crate::parse_statements`] with where the parser
/// stopped.
pub(crate) fn parser_error(
    message: impl std::fmt::Display,
    at: datafusion_sql::sqlparser::tokenizer::Location,
) -> datafusion_sql::sqlparser::parser::ParserError {
    datafusion_sql::sqlparser::parser::ParserError::ParserError(format!("{message}{at}"))
}

impl From<datafusion_sql::sqlparser::parser::ParserError> for Error {
    fn from(e: datafusion_sql::sqlparser::parser::ParserError) -> Self {
        use datafusion_sql::sqlparser::parser::ParserError;
        if matches!(e, ParserError::RecursionLimitExceeded) {
            // The place is where the parser stopped; the caller adds it.
            return Error::Parse {
                location: None,
                message: format!(
                    "the statement nests parentheses, function calls or subqueries deeper \
                     than {} levels (the parser's limit)",
                    crate::depth::PARSER_RECURSION_LIMIT
                ),
            };
        }
        let text = e.to_string();
        let text = text
            .strip_prefix("sql parser error: ")
            .unwrap_or(&text)
            .to_string();
        // sqlparser appends " at Line: L, Column: C".
        if let Some(idx) = text.rfind(" at Line: ") {
            let (msg, loc) = text.split_at(idx);
            let nums: Vec<u64> = loc
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|p| p.parse().ok())
                .collect();
            if let [line, column] = nums[..]
                && line > 0
            {
                return Error::Parse {
                    location: Some((line, column)),
                    message: msg.to_string(),
                };
            }
        }
        Error::Parse {
            location: None,
            message: text,
        }
    }
}

/// Result with the SQL error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
