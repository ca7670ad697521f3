//! Riffle's streaming runtime.
//!
//! Place in the data path: receives a [`JobGraph`] from `riffle-sql` (via the
//! CLI today, via the JobManager later), runs every vertex as parallel subtasks
//! that drive chains of [`Operator`]s over Arrow batches with a change-kind
//! column ([`riffle_common::Chunk`]), and moves data, watermarks, checkpoint
//! barriers and end-of-input between subtasks through bounded exchanges.
//!
//! Entry points: [`JobGraph`] (what to run), [`Operator`] and
//! [`OperatorFactory`] (the operator API), [`connector`] (the source and sink
//! seams the connectors implement), [`LocalExecutor`] (runs a graph in this
//! process, one thread per subtask).
//!
//! Must not depend on: the SQL layer or concrete connectors; both plug in
//! through the traits defined here.

mod error;

pub mod checkpoint;
pub mod clock;
pub mod connector;
pub mod deploy;
pub mod display;
pub mod exchange;
pub mod executor;
pub mod graph;
pub mod metrics;
pub mod operator;
pub mod operators;
pub mod state;
pub mod task;
pub mod ttl;

pub use error::{Error, Result};
pub use executor::{JobOutcome, LocalExecutor};
pub use graph::{Edge, JobGraph, Partitioning, Vertex};
pub use operator::{Operator, OperatorFactory, Output, SourceSplit, TaskInfo};
