//! FlinkSessionJob: a SQL job on a session FlinkDeployment, submitted over
//! its REST API.
//!
//! [`rules`] decides (pure, with scenario tests); [`io`] observes the
//! session and its job and carries the decisions out.

pub mod io;
pub mod rules;

#[cfg(test)]
mod scenarios;
