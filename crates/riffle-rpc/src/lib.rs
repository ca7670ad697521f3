//! The wire between Riffle processes.
//!
//! Place in the system: the JobManager and the TaskManagers speak the
//! control protocol in [`control`] (registration, heartbeats, deployment,
//! task state changes) over one TCP connection per TaskManager; subtasks on
//! different TaskManagers exchange records through [`net`] (one TCP
//! connection per channel, Arrow IPC payloads, credit-based flow control).
//! Both use the length-prefixed frames of [`frame`].
//!
//! Why framed JSON for control and not gRPC: the control plane carries a few
//! messages per second, JSON frames need no code generator, and every
//! message is readable in a packet capture. The data plane, which carries
//! the volume, uses Arrow's own IPC encoding.

mod error;

pub mod checkpoint;
pub mod control;
pub mod frame;
pub mod ids;
pub mod net;

pub use error::{Error, Result};
pub use ids::{AbstractId, JobId, ResourceId};
