//! Durable storage for checkpoints, savepoints and the filesystem sink.
//!
//! Place in the system: the runtime's subtasks write checkpoint state and sink
//! files, and the JobManager writes checkpoint metadata and reads savepoints,
//! all through a [`Storage`] opened on a location from the configuration
//! (`execution.checkpointing.dir`, `execution.checkpointing.savepoint-dir`,
//! a sink's `path`). A location is a local directory (`/abs/path`,
//! `file:///abs/path`), an S3 bucket (`s3://bucket/prefix`), a Google Cloud
//! Storage bucket (`gs://bucket/prefix`) or an Azure container
//! (`abfs://container@account.dfs.core.windows.net/prefix`, `az://container/prefix`).
//!
//! Entry points: [`Storage`] (open a location, then put, get, list, rename and
//! delete objects under it by `/`-separated relative paths) and [`BlobWriter`]
//! (stream a large object; multipart upload on object stores, nothing visible
//! until [`BlobWriter::finish`]).
//!
//! Why blocking: callers are plain threads (one per subtask, the JobManager's
//! I/O thread) or async REST handlers. Every operation runs on one process-wide
//! tokio runtime owned by this crate and the caller waits on a channel, so a
//! call works from any thread, inside another runtime too (where a plain
//! `block_on` would panic). The I/O itself is `object_store`'s, including its
//! retries with backoff on the cloud stores.
//!
//! Credentials: S3 takes Flink's `s3.access-key`, `s3.secret-key`, `s3.endpoint`
//! and `s3.path.style.access` over the standard `AWS_*` environment variables;
//! GCS and Azure read their standard `GOOGLE_*` and `AZURE_*` variables.
//!
//! This crate depends on `riffle-common` only (for the resolved
//! [`StorageConfig`]): the runtime, the JobManager and the connectors depend
//! on it, never the reverse.
//!
//! [`StorageConfig`]: riffle_common::config::StorageConfig

#![warn(missing_docs)]

mod error;
mod location;
mod runtime;
mod storage;
mod writer;

pub use error::{Error, Result};
pub use location::ALLOWED_SCHEMES;
pub use storage::Storage;
pub use writer::BlobWriter;
