//! FlinkDeployment: a native cluster and, in application mode, its job.
//!
//! [`rules`] decides (pure, with scenario tests); [`io`] observes the
//! cluster and carries the decisions out.

pub mod io;
pub mod rules;

#[cfg(test)]
mod scenarios;
