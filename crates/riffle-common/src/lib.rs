//! The shared vocabulary of Riffle.
//!
//! Place in the data path: every other crate speaks these types. The SQL planner
//! (`riffle-sql`) produces schemas and change-kinds in these terms, the runtime
//! (`riffle-runtime`) moves [`Chunk`]s and [`Message`]s between operators, and the
//! connectors read and write them.
//!
//! Entry points: [`RowKind`] and [`Chunk`] (a batch of rows with their change
//! kinds), [`Message`] (data plus the in-band control messages), [`keygroup`]
//! (Flink's key-group arithmetic), [`config`] (Flink-style configuration: keys
//! declared once, collected into a [`Configuration`], resolved once into a
//! typed [`JobConfig`] or [`ClusterConfig`]),
//! [`restart`] (restart strategies: [`RestartStrategy`] and the pure
//! [`RestartTracker`] that decides after each failure).
//!
//! This crate must not depend on DataFusion or on any other Riffle crate: it is
//! the bottom of the dependency graph and must stay cheap to build.

mod chunk;
mod error;
mod message;

pub mod config;
pub mod keygroup;
pub mod process;
pub mod prometheus;
pub mod restart;
pub mod time;

pub use chunk::{Chunk, RowKind};
pub use config::{
    ClusterConfig, Configuration, JobConfig, LogFormat, PortRange, load_cluster_config,
    load_cluster_config_from_env,
};
pub use error::{Error, Result};
pub use message::{CheckpointBarrier, Message, Watermark};
pub use restart::{ExponentialDelay, RestartDecision, RestartStrategy, RestartTracker};
