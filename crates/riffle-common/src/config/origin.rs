//! Where a configuration value came from, so an error or `riffle config` can
//! point at the line to change instead of only naming the key.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The source of one configuration value, in the order sources are applied
/// (a later source overrides an earlier one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// Not set anywhere: the declared default.
    Default,
    /// A configuration file (`config.yaml`, `flink-conf.yaml`), at a 1-based line.
    File {
        /// The file's path as it was opened.
        path: String,
        /// 1-based line of the key.
        line: usize,
    },
    /// An environment variable holding `key: value` lines (`RIFFLE_PROPERTIES`).
    Env {
        /// The variable's name.
        var: String,
        /// 1-based line inside the variable's text.
        line: usize,
    },
    /// A `-D key=value` flag of the command line.
    Dynamic,
    /// A command-line option other than `-D` (`-p`, `-s`, `--job-id`).
    Flag {
        /// The flag as written, e.g. `-p`.
        flag: String,
    },
    /// Options sent with a job submission to a cluster (the REST body's
    /// `flinkConfiguration`, the client's `-D`).
    Submission,
    /// A `SET 'key' = 'value';` statement of the job's script.
    Set {
        /// 1-based line of the statement.
        line: u64,
        /// 1-based column of the statement.
        column: u64,
    },
    /// A field of a Kubernetes custom resource (`spec.flinkConfiguration`,
    /// `spec.job.parallelism`), read by the operator.
    Resource {
        /// The field's path.
        field: String,
    },
    /// Set by Riffle itself on the user's behalf (e.g. the SQL client asking
    /// for a query's rows).
    Riffle,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::Env { var, line } => write!(f, "{var} line {line}"),
            Origin::Dynamic => f.write_str("-D"),
            Origin::Flag { flag } => write!(f, "{flag}"),
            Origin::Submission => f.write_str("job submission"),
            Origin::Set { line, column } => write!(f, "SET at line {line}, column {column}"),
            Origin::Resource { field } => f.write_str(field),
            Origin::Riffle => f.write_str("riffle"),
        }
    }
}
