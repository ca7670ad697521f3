//! The bridge from blocking callers to `object_store`'s async API.
//!
//! One tokio runtime per process (two worker threads, I/O and timers enabled)
//! is built on first use and lives until the process exits. [`block_on`]
//! spawns a future on it and waits for the result on a std channel. Unlike
//! `Runtime::block_on` this works from any thread, including a worker thread of
//! another tokio runtime (the JobManager's async REST handlers), because the
//! caller only blocks on a channel and never enters this runtime.
//!
//! Ownership: every spawned task sends exactly one result and the caller waits
//! for it, so no task outlives the call that spawned it (the task's `JoinHandle`
//! is not needed: the channel is the join). A caller that is itself one of this
//! runtime's tasks would deadlock the runtime; none exists, because the futures
//! run here never call back into [`block_on`].

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::runtime::Runtime;

use crate::{Error, Result};

/// Worker threads of the storage runtime: object-store calls mostly wait on the
/// network, and the machine's cores belong to the subtasks.
const WORKER_THREADS: usize = 2;

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// The process-wide storage runtime, built on first use.
fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKER_THREADS)
                .thread_name("riffle-storage")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Runtime {
            reason: format!("cannot start the storage runtime: {e}"),
        })
}

/// Runs `fut` on the storage runtime and waits for its output.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    spawn_with(fut, tx)?;
    rx.recv().map_err(|_| task_died())
}

/// Starts `fut` on the storage runtime; its output arrives on the returned
/// receiver. The caller must receive from it (that is the task's join).
pub(crate) fn spawn<F>(fut: F) -> Result<mpsc::Receiver<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    spawn_with(fut, tx)?;
    Ok(rx)
}

fn spawn_with<F>(fut: F, tx: mpsc::SyncSender<F::Output>) -> Result<()>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime()?.spawn(async move {
        // The receiver is gone only if the caller stopped waiting (it panicked).
        let _ = tx.send(fut.await);
    });
    Ok(())
}

/// The error for a task that ended without sending its result.
pub(crate) fn task_died() -> Error {
    Error::Runtime {
        reason: "a storage task ended without a result (it panicked)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_from_a_plain_thread_and_from_inside_another_runtime() -> Result<()> {
        assert_eq!(block_on(async { 1 + 1 })?, 2);
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Error::Runtime {
                reason: e.to_string(),
            })?;
        let n = other.block_on(async { block_on(async { 21 * 2 }) })?;
        assert_eq!(n, 42);
        Ok(())
    }
}
