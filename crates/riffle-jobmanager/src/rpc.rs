//! The JobManager's side of the control protocol: accepts TaskManager
//! connections, feeds their messages into the [`Cluster`] rules and sends
//! what the rules return.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use riffle_rpc::ResourceId;
use riffle_rpc::checkpoint::SnapshotKind;
use riffle_rpc::control::{PROTOCOL_VERSION, ToJobManager, ToTaskManager, receive, send};

use crate::checkpoints::StorageTask;
use crate::cluster::{Cluster, Outgoing};
use crate::now_ms;

/// Write halves of the TaskManager connections.
#[derive(Default)]
pub struct Connections {
    streams: Mutex<HashMap<ResourceId, Arc<Mutex<TcpStream>>>>,
}

impl Connections {
    /// Sends rule outputs; a failed send leaves detection to the heartbeat and
    /// reader. After [`ToTaskManager::Disconnect`] the connection is closed
    /// and forgotten, so its reader ends without reporting a second loss.
    pub fn dispatch(&self, out: Vec<Outgoing>) {
        for (tm, msg) in out {
            let disconnect = matches!(msg, ToTaskManager::Disconnect { .. });
            let stream = self.streams.lock().ok().and_then(|mut m| {
                if disconnect {
                    m.remove(&tm)
                } else {
                    m.get(&tm).cloned()
                }
            });
            let Some(stream) = stream else { continue };
            if let Ok(mut s) = stream.lock() {
                if let Err(e) = send(&mut *s, &msg) {
                    tracing::warn!(resource_id = %tm, error = %e, "cannot send to TaskManager");
                    let _ = s.shutdown(std::net::Shutdown::Both);
                } else if disconnect {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

/// Shared state of the JobManager.
pub struct Shared {
    /// The cluster rules and state.
    pub cluster: Mutex<Cluster>,
    /// Connections to TaskManagers.
    pub connections: Connections,
    /// This JobManager's resource id.
    pub resource_id: ResourceId,
    /// `heartbeat.interval` in ms.
    pub heartbeat_interval_ms: u64,
    /// With high availability: the submitted jobs, forgotten here once a
    /// job's end is recorded.
    pub job_store: Option<Arc<dyn crate::ha::HaStore>>,
    /// Where checkpoint I/O requested by the rules goes.
    pub storage_worker: std::sync::OnceLock<std::sync::mpsc::Sender<StorageTask>>,
}

impl Shared {
    /// Runs a rule under the lock and sends its output.
    pub fn apply<T>(
        &self,
        rule: impl FnOnce(&mut Cluster, i64) -> (T, Vec<Outgoing>),
    ) -> Option<T> {
        let (value, out, storage) = {
            let mut c = self.cluster.lock().ok()?;
            let (value, out) = rule(&mut c, now_ms());
            c.handle_ended_jobs();
            (value, out, std::mem::take(&mut c.storage))
        };
        self.connections.dispatch(out);
        if !storage.is_empty()
            && let Some(tx) = self.storage_worker.get()
        {
            for task in storage {
                let _ = tx.send(task);
            }
        }
        Some(value)
    }
}

/// Runs checkpoint I/O (writing `_metadata`, deleting directories) on a
/// thread of its own, so the rules never wait for storage; results go
/// back through the rules.
pub fn start_storage_worker(shared: &Arc<Shared>) -> std::io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<StorageTask>();
    let _ = shared.storage_worker.set(tx);
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("jm-storage".into())
        .spawn(move || {
            while let Ok(task) = rx.recv() {
                match task {
                    StorageTask::WriteMetadata {
                        job_id,
                        checkpoint_id,
                        location,
                        metadata,
                        storage,
                    } => {
                        let mut result = write_metadata(&location, &metadata, &storage)
                            .map(|()| *metadata);
                        // A checkpoint counts for HA only once its pointer is
                        // recorded, and that happens before any commit.
                        if let (Ok(m), Some(store)) = (&result, &shared.job_store)
                            && m.kind == SnapshotKind::Checkpoint
                            && let Err(e) = store.checkpoint_completed(job_id, checkpoint_id, &location)
                        {
                            result = Err(format!("cannot record it in the HA store: {e}"));
                        }
                        shared.apply(|c, now| {
                            ((), c.metadata_written(job_id, checkpoint_id, result, now))
                        });
                    }
                    StorageTask::Delete { location, storage } => {
                        if let Err(e) = crate::restore::delete_directory(&location, &storage) {
                            tracing::warn!(%location, error = %e, "cannot delete a checkpoint directory");
                        }
                    }
                    StorageTask::EndJob {
                        result,
                        store,
                        deletes,
                        storage,
                    } => {
                        crate::result_store::record_and_clean_up(
                            &result,
                            store.as_deref(),
                            &deletes,
                            &storage,
                        );
                        if let Some(jobs) = &shared.job_store
                            && let Err(e) = jobs.remove_job(result.job_id)
                        {
                            tracing::warn!(job_id = %result.job_id, error = %e, "cannot forget an ended job in the HA store; the next leader forgets it");
                        }
                        shared.apply(|c, _| {
                            if let Some(job) = c.jobs.get_mut(&result.job_id) {
                                job.checkpoints.end = crate::checkpoints::EndHandling::Done;
                            }
                            ((), Vec::new())
                        });
                    }
                }
            }
        })?;
    Ok(())
}

fn write_metadata(
    location: &str,
    metadata: &riffle_rpc::checkpoint::CheckpointMetadata,
    storage: &riffle_common::config::StorageConfig,
) -> Result<(), String> {
    let bytes = metadata.to_bytes().map_err(|e| e.to_string())?;
    let storage = riffle_storage::Storage::open(location, storage).map_err(|e| e.to_string())?;
    storage
        .put(
            riffle_rpc::checkpoint::METADATA_FILE,
            bytes::Bytes::from(bytes),
        )
        .map_err(|e| e.to_string())
}

/// Accepts TaskManagers on `listener`.
pub fn serve(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("jm-rpc".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let shared = Arc::clone(&shared);
                let spawned =
                    std::thread::Builder::new()
                        .name("jm-tm-conn".into())
                        .spawn(move || {
                            if let Err(e) = connection(stream, &shared) {
                                tracing::debug!(error = %e, "TaskManager connection ended");
                            }
                        });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a connection thread");
                }
            }
        })?;
    Ok(())
}

fn connection(stream: TcpStream, shared: &Shared) -> riffle_rpc::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut reader = stream.try_clone()?;
    let writer = Arc::new(Mutex::new(stream));
    let info = match receive::<ToJobManager>(&mut reader)? {
        Some(ToJobManager::Register(info)) => info,
        Some(_) => {
            return Err(riffle_rpc::Error::Protocol(
                "a TaskManager must register first".into(),
            ));
        }
        None => return Ok(()),
    };
    if info.protocol_version != PROTOCOL_VERSION {
        if let Ok(mut w) = writer.lock() {
            let _ = send(
                &mut *w,
                &ToTaskManager::Refused {
                    reason: format!(
                        "protocol version {} is not {PROTOCOL_VERSION}: run the same Riffle version everywhere",
                        info.protocol_version
                    ),
                },
            );
        }
        return Ok(());
    }
    let tm = info.resource_id;
    if let Ok(mut w) = writer.lock() {
        send(
            &mut *w,
            &ToTaskManager::Registered {
                jobmanager_id: shared.resource_id,
                heartbeat_interval_ms: shared.heartbeat_interval_ms,
                heartbeat_timeout_ms: 0,
            },
        )?;
    }
    if let Ok(mut m) = shared.connections.streams.lock() {
        m.insert(tm, Arc::clone(&writer));
    }
    shared.apply(|c, now| ((), c.register(info, peer, now)));
    // Heartbeat timeouts are the tick's job; here only the socket decides.
    reader.set_read_timeout(None)?;
    let result = read_loop(&mut reader, tm, shared, &writer);
    let still_ours = shared
        .connections
        .streams
        .lock()
        .map(|mut m| {
            let ours = m.get(&tm).is_some_and(|w| Arc::ptr_eq(w, &writer));
            if ours {
                m.remove(&tm);
            }
            ours
        })
        .unwrap_or(false);
    if still_ours {
        let reason = match &result {
            Ok(()) => "the TaskManager closed its connection".to_string(),
            Err(e) => format!("the connection to the TaskManager broke: {e}"),
        };
        shared.apply(|c, now| ((), c.taskmanager_lost(tm, &reason, now)));
    }
    result
}

fn read_loop(
    reader: &mut TcpStream,
    tm: ResourceId,
    shared: &Shared,
    writer: &Arc<Mutex<TcpStream>>,
) -> riffle_rpc::Result<()> {
    while let Some(msg) = receive::<ToJobManager>(reader)? {
        match msg {
            ToJobManager::Register(_) => {
                return Err(riffle_rpc::Error::Protocol("registered twice".into()));
            }
            ToJobManager::Heartbeat { subtasks, process } => {
                let known = shared
                    .apply(|c, now| (c.heartbeat(tm, subtasks, process, now), Vec::new()))
                    .unwrap_or(false);
                let answer = if known {
                    ToTaskManager::HeartbeatAck
                } else {
                    ToTaskManager::Disconnect {
                        reason: "this TaskManager is not registered (it was dropped after a \
                                 heartbeat timeout)"
                            .into(),
                    }
                };
                if let Ok(mut w) = writer.lock() {
                    send(&mut *w, &answer)?;
                }
                if !known {
                    return Ok(());
                }
            }
            ToJobManager::TaskState(update) => {
                shared.apply(|c, now| ((), c.task_state(tm, update, now)));
            }
            ToJobManager::CheckpointAck(ack) => {
                shared.apply(|c, now| ((), c.checkpoint_ack(ack, now)));
            }
            ToJobManager::CheckpointDeclined {
                job_id,
                attempt,
                checkpoint_id,
                vertex,
                subtask,
                reason,
            } => {
                shared.apply(|c, now| {
                    let out = c.checkpoint_declined(
                        job_id,
                        attempt,
                        checkpoint_id,
                        (vertex, subtask),
                        &reason,
                        now,
                    );
                    ((), out)
                });
            }
            ToJobManager::EndOfInput {
                job_id,
                attempt,
                vertex,
                subtask,
            } => {
                shared
                    .apply(|c, now| ((), c.end_of_input(job_id, attempt, (vertex, subtask), now)));
            }
            ToJobManager::Results {
                job_id,
                attempt,
                rows,
            } => {
                shared.apply(|c, _| {
                    c.results(tm, job_id, attempt, rows);
                    ((), Vec::new())
                });
            }
        }
    }
    Ok(())
}
