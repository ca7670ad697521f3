//! The TaskManager's part in checkpoints: storing what subtasks snapshot,
//! acknowledging it to the JobManager, and reading state back on restore.
//!
//! A subtask hands its encoded state files over and goes on processing;
//! the upload runs on its own thread ([`Uploader`]), so a slow store never
//! stalls the data path beyond the encoding itself. The directory a
//! checkpoint's files go to arrives with the JobManager's trigger, which
//! may reach this TaskManager after a barrier from another TaskManager's
//! source did: the upload then waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use riffle_common::config::StorageConfig;
use riffle_rpc::JobId;
use riffle_rpc::checkpoint::{AckedFile, CheckpointAck, RestoreSpec};
use riffle_rpc::control::ToJobManager;
use riffle_runtime::checkpoint::{OperatorLayout, SnapshotListener, StateStore, SubtaskSnapshot};
use riffle_runtime::deploy::SubtaskId;
use riffle_storage::Storage;

use crate::attempts::Reporter;

/// How long an upload waits for its checkpoint's directory.
const LOCATION_WAIT: Duration = Duration::from_secs(60);

/// Checkpoint id → directory, filled by triggers.
#[derive(Default)]
pub struct Locations {
    map: Mutex<HashMap<u64, String>>,
    changed: Condvar,
}

impl Locations {
    /// Records where checkpoint `id` goes.
    pub fn set(&self, id: u64, location: String) {
        if let Ok(mut m) = self.map.lock() {
            // Old entries are of checkpoints long completed or abandoned.
            m.retain(|k, _| *k + 64 > id);
            m.insert(id, location);
        }
        self.changed.notify_all();
    }

    /// Waits until checkpoint `id`'s directory is known.
    fn wait(&self, id: u64, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut m = self.map.lock().ok()?;
        loop {
            if let Some(l) = m.get(&id) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            m = self.changed.wait_timeout(m, left).ok()?.0;
        }
    }
}

/// Stores snapshots of one attempt's subtasks and acknowledges them.
pub struct Uploader {
    /// Job.
    pub job_id: JobId,
    /// Attempt.
    pub attempt: u32,
    /// How the job reaches its storage.
    pub storage: StorageConfig,
    /// Checkpoint directories.
    pub locations: Arc<Locations>,
    /// Where acknowledgements go.
    pub reporter: Arc<dyn Reporter>,
}

impl Uploader {
    fn upload(&self, task: SubtaskId, snap: SubtaskSnapshot) -> Result<CheckpointAck, String> {
        let id = snap.barrier.checkpoint_id;
        let location = self.locations.wait(id, LOCATION_WAIT).ok_or_else(|| {
            format!("the directory of checkpoint {id} did not arrive from the JobManager")
        })?;
        let started = Instant::now();
        let storage = Storage::open(&location, &self.storage).map_err(|e| e.to_string())?;
        let mut files = Vec::with_capacity(snap.files.len());
        for mut part in snap.files {
            let path = format!("{}-{}", part.uid, task.1);
            let bytes = part
                .encode()
                .map_err(|e| format!("cannot encode the state of operator {}: {e}", part.uid))?;
            let size = bytes.len() as u64;
            storage
                .put(&path, Bytes::from(bytes))
                .map_err(|e| format!("cannot write state file {location}/{path}: {e}"))?;
            files.push(AckedFile {
                uid: part.uid,
                descriptor: part.descriptor,
                path,
                size,
            });
        }
        let async_ms = started.elapsed().as_millis() as u64;
        let bytes: u64 = files.iter().map(|f| f.size).sum();
        tracing::info!(
            checkpoint_id = id,
            subtask = %riffle_runtime::display::subtask(task),
            sync_ms = snap.sync_ms,
            async_ms,
            alignment_ms = snap.alignment_ms,
            bytes,
            "snapshot stored"
        );
        Ok(CheckpointAck {
            job_id: self.job_id,
            attempt: self.attempt,
            checkpoint_id: id,
            vertex: task.0,
            subtask: task.1,
            files,
            sync_ms: snap.sync_ms,
            async_ms,
            alignment_ms: snap.alignment_ms,
        })
    }

    fn declined(&self, task: SubtaskId, checkpoint_id: u64, reason: String) -> ToJobManager {
        ToJobManager::CheckpointDeclined {
            job_id: self.job_id,
            attempt: self.attempt,
            checkpoint_id,
            vertex: task.0,
            subtask: task.1,
            reason,
        }
    }
}

/// The listener handed to subtasks: uploads on a thread of its own.
pub struct UploadListener(pub Arc<Uploader>);

impl SnapshotListener for UploadListener {
    fn snapshot_taken(&self, task: SubtaskId, snapshot: SubtaskSnapshot) {
        let up = Arc::clone(&self.0);
        let id = snapshot.barrier.checkpoint_id;
        let spawned = std::thread::Builder::new()
            .name(format!("upload-{id}"))
            .spawn(move || {
                let msg = match up.upload(task, snapshot) {
                    Ok(ack) => ToJobManager::CheckpointAck(ack),
                    Err(reason) => {
                        tracing::warn!(checkpoint_id = id, subtask = %riffle_runtime::display::subtask(task), %reason, "checkpoint upload failed");
                        up.declined(task, id, reason)
                    }
                };
                up.reporter.report(msg);
            });
        if let Err(e) = spawned {
            self.0.reporter.report(self.0.declined(
                task,
                id,
                format!("cannot start an upload thread: {e}"),
            ));
        }
    }

    fn snapshot_failed(&self, task: SubtaskId, checkpoint_id: u64, reason: String) {
        self.0
            .reporter
            .report(self.0.declined(task, checkpoint_id, reason));
    }

    fn end_of_input(&self, task: SubtaskId) {
        self.0.reporter.report(ToJobManager::EndOfInput {
            job_id: self.0.job_id,
            attempt: self.0.attempt,
            vertex: task.0,
            subtask: task.1,
        });
    }
}

/// Reads the files of the checkpoint an attempt restores from.
pub struct RestoreStore {
    storage: Storage,
    spec: RestoreSpec,
}

impl RestoreStore {
    /// Opens the checkpoint's directory.
    pub fn open(spec: RestoreSpec, storage: &StorageConfig) -> Result<Self, String> {
        let storage = Storage::open(&spec.location, storage)
            .map_err(|e| format!("cannot open checkpoint {}: {e}", spec.location))?;
        Ok(RestoreStore { storage, spec })
    }
}

impl StateStore for RestoreStore {
    fn layout(&self, uid: &str) -> Option<OperatorLayout> {
        let op = self.spec.metadata.operators.iter().find(|o| o.uid == uid)?;
        Some(OperatorLayout {
            parallelism: op.parallelism,
            max_parallelism: op.max_parallelism,
            subtasks: op.files.iter().map(|f| f.subtask).collect(),
        })
    }

    fn read(&self, uid: &str, subtask: usize) -> riffle_runtime::Result<Vec<u8>> {
        let file = self
            .spec
            .metadata
            .operators
            .iter()
            .find(|o| o.uid == uid)
            .and_then(|o| o.files.iter().find(|f| f.subtask == subtask))
            .ok_or_else(|| {
                riffle_runtime::Error::External(format!(
                    "checkpoint {} lists no file of operator {uid} subtask {subtask}",
                    self.spec.location
                ))
            })?;
        let bytes = self.storage.get(&file.path).map_err(|e| {
            riffle_runtime::Error::External(format!(
                "cannot read state file {}/{}: {e}",
                self.spec.location, file.path
            ))
        })?;
        if bytes.len() as u64 != file.size {
            return Err(riffle_runtime::Error::External(format!(
                "state file {}/{} has {} bytes, the checkpoint recorded {}",
                self.spec.location,
                file.path,
                bytes.len(),
                file.size
            )));
        }
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_can_arrive_after_the_upload_asks() {
        let l = Arc::new(Locations::default());
        let setter = Arc::clone(&l);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            setter.set(7, "/x/chk-7".into());
        });
        assert_eq!(
            l.wait(7, Duration::from_secs(5)).as_deref(),
            Some("/x/chk-7")
        );
        assert_eq!(l.wait(8, Duration::from_millis(10)), None);
        t.join().unwrap();
    }
}
