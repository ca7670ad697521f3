//! What JobManager and TaskManagers say about checkpoints, and the
//! `_metadata` file of a completed checkpoint or savepoint.
//!
//! `_metadata` is JSON, written by the JobManager last, after every subtask
//! acknowledged its files: a checkpoint directory without it is incomplete
//! and never restored from. File paths in it are relative to the directory
//! that holds it, so a savepoint directory can be moved or copied elsewhere
//! and still restored (savepoints are self-contained and relocatable).

use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::{Error, Result};

/// The name of the metadata file in a checkpoint or savepoint directory.
pub const METADATA_FILE: &str = "_metadata";

/// The metadata format version this build writes and reads.
pub const METADATA_VERSION: u32 = 1;

/// The kind of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// A periodic or manual checkpoint.
    Checkpoint,
    /// A savepoint; the job continues.
    Savepoint,
    /// A savepoint that stops the job (`stop`); `drain` first completes
    /// all event time.
    StopWithSavepoint {
        /// Emit the final watermark before the savepoint.
        drain: bool,
    },
}

impl std::fmt::Display for SnapshotKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SnapshotKind::Checkpoint => "checkpoint",
            SnapshotKind::Savepoint => "savepoint",
            SnapshotKind::StopWithSavepoint { drain: false } => "stop-with-savepoint",
            SnapshotKind::StopWithSavepoint { drain: true } => "stop-with-savepoint (drain)",
        })
    }
}

impl SnapshotKind {
    /// Whether this is a savepoint of either kind.
    pub fn is_savepoint(self) -> bool {
        !matches!(self, SnapshotKind::Checkpoint)
    }
}

/// One state file of an operator instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// The subtask that wrote it.
    pub subtask: usize,
    /// Path relative to the checkpoint directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// The state of one operator in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorState {
    /// The operator's stable uid.
    pub uid: String,
    /// The operator's name and vertex, for messages.
    pub name: String,
    /// The operator's parallelism when the checkpoint was taken.
    pub parallelism: usize,
    /// `pipeline.max-parallelism` when it was taken.
    pub max_parallelism: usize,
    /// The shape of the state (see the runtime's state descriptors).
    pub descriptor: String,
    /// The files, one per subtask that had state.
    pub files: Vec<StateFile>,
}

/// The contents of `_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMetadata {
    /// Format version ([`METADATA_VERSION`]).
    pub version: u32,
    /// The job that took it.
    pub job_id: JobId,
    /// Checkpoint id.
    pub checkpoint_id: u64,
    /// When it was triggered (epoch ms).
    pub timestamp: i64,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Every operator with state.
    pub operators: Vec<OperatorState>,
}

impl CheckpointMetadata {
    /// Serializes for writing.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(self)?)
    }

    /// Parses a `_metadata` file; `location` names it in errors.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self> {
        let m: CheckpointMetadata = serde_json::from_slice(bytes).map_err(|e| {
            Error::Protocol(format!(
                "{location}/{METADATA_FILE} is not valid checkpoint metadata: {e}"
            ))
        })?;
        if m.version != METADATA_VERSION {
            return Err(Error::Protocol(format!(
                "{location}/{METADATA_FILE} has format version {}, this Riffle reads version {METADATA_VERSION}",
                m.version
            )));
        }
        Ok(m)
    }

    /// The total size of the state files.
    pub fn state_size(&self) -> u64 {
        self.operators
            .iter()
            .flat_map(|o| o.files.iter())
            .map(|f| f.size)
            .sum()
    }
}

/// A file a subtask wrote for a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckedFile {
    /// The operator's uid.
    pub uid: String,
    /// The operator's state descriptor.
    pub descriptor: String,
    /// Path relative to the checkpoint directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A subtask's acknowledgement of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointAck {
    /// Job.
    pub job_id: JobId,
    /// Attempt.
    pub attempt: u32,
    /// Checkpoint.
    pub checkpoint_id: u64,
    /// Vertex index.
    pub vertex: usize,
    /// Subtask index.
    pub subtask: usize,
    /// The files it wrote.
    pub files: Vec<AckedFile>,
    /// Time spent writing state in the task thread.
    pub sync_ms: u64,
    /// Time spent uploading.
    pub async_ms: u64,
    /// Time spent aligning barriers.
    pub alignment_ms: u64,
}

/// Where a job restores from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSpec {
    /// The checkpoint or savepoint directory (URL or path).
    pub location: String,
    /// Its metadata.
    pub metadata: CheckpointMetadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_bad_files_say_where() {
        let m = CheckpointMetadata {
            version: METADATA_VERSION,
            job_id: JobId::from_seed("j"),
            checkpoint_id: 3,
            timestamp: 5,
            kind: SnapshotKind::StopWithSavepoint { drain: true },
            operators: vec![OperatorState {
                uid: "u".into(),
                name: "GroupAggregate".into(),
                parallelism: 2,
                max_parallelism: 128,
                descriptor: "d".into(),
                files: vec![StateFile {
                    subtask: 1,
                    path: "u-1".into(),
                    size: 10,
                }],
            }],
        };
        let bytes = m.to_bytes().unwrap();
        assert_eq!(CheckpointMetadata::parse(&bytes, "x").unwrap(), m);
        assert_eq!(m.state_size(), 10);
        let e = CheckpointMetadata::parse(b"{not json", "/ck/chk-3").unwrap_err();
        assert!(e.to_string().contains("/ck/chk-3/_metadata"), "{e}");
    }
}
