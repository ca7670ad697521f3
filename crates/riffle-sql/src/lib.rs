//! Riffle's Flink SQL front end.
//!
//! Place in the data path: receives SQL text (from the CLI, later from the
//! JobManager's submission endpoint), parses it in Flink's dialect, keeps the
//! catalog of tables, views and functions, plans each INSERT through
//! DataFusion's SQL planner, and hands a [`riffle_runtime::JobGraph`] of
//! operator chains and exchanges to the runtime.
//!
//! Entry points: [`Session`] (run statements, get the job; [`Session::plan`]
//! for a job's one-shot planning in the JobManager and the TaskManager),
//! [`parse_statements`] (the Flink statement splitter). All of them parse and
//! plan on the planner's own thread with a large stack ([`stack`]), and
//! refuse statements nested beyond the limits of [`depth`], so no SQL text
//! can overflow a stack in the planner or, later, in the runtime's
//! expression evaluation.
//!
//! Must not depend on: the cluster crates (JobManager, TaskManager); the job
//! graph is the only thing handed on.

mod aggregate_plan;
mod aggregates;
mod connectors;
mod error;
mod hints;
mod interval_join;
mod join_plan;
mod legacy_window;
mod naming;
mod nodes;
mod over_plan;
mod physical;
mod rank;
mod reuse;
mod set_plan;
mod sink_types;
mod temporal_join;
mod unique_key;

pub mod catalog;
pub mod ddl;
pub mod depth;
pub mod dialect;
pub mod session;
pub mod stack;
pub mod statements;
pub mod tableau;
mod window_bounds;
mod window_join;
pub mod window_tvf;

pub use error::{Error, Result};
pub use session::{Script, Session};
pub use statements::parse_statements;
