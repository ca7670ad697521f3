//! The checkpoint coordinator: one per job, pure bookkeeping.
//!
//! It decides when to trigger (every `execution.checkpointing.interval`,
//! at most `max-concurrent-checkpoints` at a time, `min-pause` after the
//! last completion), collects the subtasks' acknowledgements, and when all
//! are in asks for `_metadata` to be written; only when that write
//! succeeded is the checkpoint complete and committed. Retained checkpoints
//! beyond `num-retained` are deleted. Failed ones (declined, timed out)
//! count against `tolerable-failed-checkpoints`.
//!
//! Tasks that finished count as acknowledged with no state: a finished
//! source has no input left, and everything a finished task emitted is
//! already in the state of the tasks after it. A subtask whose output
//! commits on checkpoints does not finish with its input; it reports end of
//! input and the coordinator takes a final checkpoint when every other
//! subtask has finished, whose completion lets them commit and end.
//!
//! I/O (writing `_metadata`, deleting directories) is requested through
//! [`StorageTask`]s that the JobManager runs off the lock; their results
//! come back through [`crate::cluster::Cluster::metadata_written`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use riffle_common::config::{
    CheckpointingConfig as Settings, ExternalizedCheckpointRetention, StorageConfig,
};
use riffle_rpc::JobId;
use riffle_rpc::checkpoint::{
    CheckpointAck, CheckpointMetadata, METADATA_VERSION, OperatorState, RestoreSpec, SnapshotKind,
    StateFile,
};

use crate::job::JobStatus;
use crate::restore::RestoreSource;

/// How many checkpoints the REST history keeps.
pub const HISTORY_SIZE: usize = 10;

/// A subtask: (vertex, subtask index).
pub type SubtaskKey = (usize, usize);

/// Flink's `CheckpointStatsStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsStatus {
    /// Being taken.
    InProgress,
    /// Completed.
    Completed,
    /// Failed.
    Failed,
}

/// What the REST API shows of one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Id.
    pub id: u64,
    /// Status.
    pub status: StatsStatus,
    /// Kind.
    pub kind: SnapshotKind,
    /// Trigger time.
    pub trigger_timestamp: i64,
    /// Time of the latest acknowledgement.
    pub latest_ack_timestamp: Option<i64>,
    /// Bytes of state.
    pub state_size: u64,
    /// Trigger to completion (or to now / failure).
    pub end_to_end_duration: i64,
    /// Subtasks in the job.
    pub num_subtasks: usize,
    /// Subtasks that acknowledged (or had finished).
    pub num_acknowledged: usize,
    /// Per vertex: (acknowledged, state size, latest ack, sync ms max, async ms max, alignment ms max).
    pub vertices: BTreeMap<usize, VertexStats>,
    /// Where it was written.
    pub external_path: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it failed.
    pub failure_timestamp: Option<i64>,
    /// Whether it was deleted (subsumed by newer ones).
    pub discarded: bool,
}

/// One vertex's part of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VertexStats {
    /// Subtasks that acknowledged.
    pub acknowledged: usize,
    /// Bytes of state.
    pub state_size: u64,
    /// Latest acknowledgement.
    pub latest_ack: Option<i64>,
    /// Longest synchronous part.
    pub sync_ms: u64,
    /// Longest upload.
    pub async_ms: u64,
    /// Longest alignment.
    pub alignment_ms: u64,
}

/// What a checkpoint's metadata needs to know about its job.
#[derive(Debug, Clone, Copy)]
pub struct JobShape<'a> {
    /// The job.
    pub job_id: JobId,
    /// Every subtask.
    pub all: &'a [SubtaskKey],
    /// Subtasks that finished (they count as acknowledged).
    pub finished: &'a BTreeSet<SubtaskKey>,
    /// Vertex names.
    pub names: &'a [String],
    /// Vertex parallelisms.
    pub parallelism: &'a [usize],
    /// `pipeline.max-parallelism`.
    pub max_parallelism: usize,
}

/// A checkpoint being taken.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Id.
    pub id: u64,
    /// Kind.
    pub kind: SnapshotKind,
    /// Trigger time.
    pub trigger_timestamp: i64,
    /// Directory.
    pub location: String,
    /// Acknowledgements so far (with arrival time).
    pub acks: BTreeMap<SubtaskKey, (CheckpointAck, i64)>,
    /// The REST trigger id that asked for it, if any.
    pub trigger_id: Option<String>,
    /// The final checkpoint of a bounded job.
    pub is_final: bool,
    /// `_metadata` is being written.
    pub writing: bool,
}

/// A completed checkpoint kept for recovery.
#[derive(Debug, Clone)]
pub struct Retained {
    /// Id.
    pub id: u64,
    /// Directory.
    pub location: String,
    /// Its metadata.
    pub metadata: CheckpointMetadata,
}

/// The state of an asynchronous REST operation (savepoint, checkpoint, disposal).
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Running.
    InProgress,
    /// A savepoint completed at this location.
    Savepoint(String),
    /// A checkpoint completed with this id.
    Checkpoint(u64),
    /// A savepoint was disposed.
    Disposed,
    /// It failed.
    Failed(String),
}

/// Where the job's state came from, for `latest.restored`.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// Checkpoint id.
    pub id: u64,
    /// Directory.
    pub location: String,
    /// Whether it was a savepoint.
    pub is_savepoint: bool,
    /// When the restore happened.
    pub restore_timestamp: i64,
}

/// Counts for `/checkpoints`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Restores.
    pub restored: u64,
    /// Triggered.
    pub total: u64,
    /// Completed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
}

/// I/O the coordinator needs done.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageTask {
    /// Write `_metadata`, completing checkpoint `checkpoint_id`.
    WriteMetadata {
        /// Job.
        job_id: JobId,
        /// Checkpoint.
        checkpoint_id: u64,
        /// Directory.
        location: String,
        /// What to write.
        metadata: Box<CheckpointMetadata>,
        /// How the job reaches its storage.
        storage: StorageConfig,
    },
    /// Delete a checkpoint directory and everything in it.
    Delete {
        /// Directory.
        location: String,
        /// How the job reaches its storage.
        storage: StorageConfig,
    },
    /// A job ended: record its result in the job result store, then (only
    /// once that is durable) delete what retention does not keep, then mark
    /// the entry clean. The order is what stops a later start of the same
    /// job id from running it again from scratch or from a stale checkpoint.
    EndJob {
        /// How the job ended.
        result: Box<crate::result_store::JobResult>,
        /// The job result store, if the job has one.
        store: Option<String>,
        /// Directories to delete.
        deletes: Vec<String>,
        /// How the job reaches its storage.
        storage: StorageConfig,
    },
}

/// The handling of a job's end, after it reached a globally terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndHandling {
    /// The job has not ended (or the end is not yet seen by the tick).
    NotEnded,
    /// [`StorageTask::EndJob`] is queued or running.
    Running,
    /// The result is recorded and the clean-up done (or given up on, logged).
    Done,
}

/// The coordinator of one job.
#[derive(Debug)]
pub struct Coordinator {
    /// Settings.
    pub settings: Settings,
    /// How the job reaches its storage.
    pub storage: StorageConfig,
    /// The next checkpoint id.
    pub next_id: u64,
    /// Checkpoints being taken.
    pub pending: BTreeMap<u64, Pending>,
    /// Completed checkpoints kept for recovery, oldest first.
    pub retained: Vec<Retained>,
    /// Recent checkpoints, newest last.
    pub history: VecDeque<Stats>,
    /// Counters.
    pub counts: Counts,
    /// Latest completed checkpoint.
    pub latest_completed: Option<Stats>,
    /// Latest completed savepoint.
    pub latest_savepoint: Option<Stats>,
    /// Latest failed one.
    pub latest_failed: Option<Stats>,
    /// The last restore.
    pub restored: Option<Restored>,
    /// What the next attempt restores from (a savepoint before any
    /// checkpoint completed, else the latest retained checkpoint).
    pub restore_from: Option<RestoreSpec>,
    /// REST operations by trigger id.
    pub operations: BTreeMap<String, Operation>,
    /// Subtasks that reported end of input and wait for the final checkpoint.
    pub awaiting_final: BTreeSet<SubtaskKey>,
    /// How far the handling of the job's end (result recorded, retention
    /// applied) has come.
    pub end: EndHandling,
    /// The restore failed and nothing older is left: restarting cannot help.
    pub unrecoverable: bool,
    last_trigger: Option<i64>,
    last_completion: Option<i64>,
    consecutive_failures: u32,
}

impl Coordinator {
    /// A coordinator; `restore` is where the first attempt starts from. A
    /// checkpoint of the job's own is owned from then on (subsumed and
    /// deleted like one this coordinator took); a savepoint never is.
    pub fn new(
        settings: Settings,
        storage: StorageConfig,
        restore: Option<RestoreSource>,
        now: i64,
    ) -> Self {
        let owned = match &restore {
            Some(RestoreSource::OwnCheckpoint(spec)) => vec![Retained {
                id: spec.metadata.checkpoint_id,
                location: spec.location.clone(),
                metadata: spec.metadata.clone(),
            }],
            _ => Vec::new(),
        };
        let restore = restore.map(RestoreSource::into_spec);
        let next_id = restore
            .as_ref()
            .map(|r| r.metadata.checkpoint_id + 1)
            .unwrap_or(1);
        let restored = restore.as_ref().map(|r| Restored {
            id: r.metadata.checkpoint_id,
            location: r.location.clone(),
            is_savepoint: r.metadata.kind.is_savepoint(),
            restore_timestamp: now,
        });
        Coordinator {
            settings,
            storage,
            next_id,
            pending: BTreeMap::new(),
            retained: owned,
            history: VecDeque::new(),
            counts: Counts {
                restored: u64::from(restore.is_some()),
                ..Counts::default()
            },
            latest_completed: None,
            latest_savepoint: None,
            latest_failed: None,
            restored,
            restore_from: restore,
            operations: BTreeMap::new(),
            awaiting_final: BTreeSet::new(),
            end: EndHandling::NotEnded,
            unrecoverable: false,
            // The first checkpoint comes one interval after the start, as in Flink.
            last_trigger: Some(now),
            last_completion: None,
            consecutive_failures: 0,
        }
    }

    /// A coordinator of a job without checkpoints (for tests of other rules).
    pub fn disabled() -> Self {
        let settings = Settings {
            interval_ms: None,
            timeout_ms: 600_000,
            min_pause_ms: 0,
            max_concurrent: 1,
            tolerable_failures: 0,
            retention: ExternalizedCheckpointRetention::NoExternalizedCheckpoints,
            dir: None,
            num_retained: 1,
            savepoint_dir: None,
            result_store: None,
        };
        Coordinator::new(settings, StorageConfig::default(), None, 0)
    }

    /// Whether a periodic checkpoint is due.
    pub fn periodic_due(&self, now: i64) -> bool {
        let Some(interval) = self.settings.interval_ms else {
            return false;
        };
        if self.pending.len() >= self.settings.max_concurrent.max(1) {
            return false;
        }
        let since_trigger = self.last_trigger.map_or(i64::MAX, |t| now - t);
        let since_completion = self.last_completion.map_or(i64::MAX, |t| now - t);
        since_trigger >= interval && since_completion >= self.settings.min_pause_ms
    }

    /// Registers a new checkpoint; returns its id.
    pub fn start(
        &mut self,
        kind: SnapshotKind,
        location: String,
        trigger_id: Option<String>,
        is_final: bool,
        num_subtasks: usize,
        now: i64,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.counts.total += 1;
        if kind == SnapshotKind::Checkpoint {
            self.last_trigger = Some(now);
        }
        if let Some(t) = &trigger_id {
            self.operations.insert(t.clone(), Operation::InProgress);
        }
        self.pending.insert(
            id,
            Pending {
                id,
                kind,
                trigger_timestamp: now,
                location: location.clone(),
                acks: BTreeMap::new(),
                trigger_id,
                is_final,
                writing: false,
            },
        );
        self.push_history(Stats {
            id,
            status: StatsStatus::InProgress,
            kind,
            trigger_timestamp: now,
            latest_ack_timestamp: None,
            state_size: 0,
            end_to_end_duration: 0,
            num_subtasks,
            num_acknowledged: 0,
            vertices: BTreeMap::new(),
            external_path: Some(location),
            failure: None,
            failure_timestamp: None,
            discarded: false,
        });
        id
    }

    fn push_history(&mut self, s: Stats) {
        self.history.retain(|h| h.id != s.id);
        self.history.push_back(s);
        while self.history.len() > HISTORY_SIZE {
            self.history.pop_front();
        }
    }

    fn update_history(&mut self, id: u64, f: impl FnOnce(&mut Stats)) -> Option<Stats> {
        let s = self.history.iter_mut().find(|h| h.id == id)?;
        f(s);
        Some(s.clone())
    }

    /// Records an acknowledgement; `Err` if the checkpoint is unknown.
    pub fn acknowledge(&mut self, ack: CheckpointAck, now: i64) -> bool {
        let key = (ack.vertex, ack.subtask);
        let Some(p) = self.pending.get_mut(&ack.checkpoint_id) else {
            return false;
        };
        let size: u64 = ack.files.iter().map(|f| f.size).sum();
        let (sync, asy, align) = (ack.sync_ms, ack.async_ms, ack.alignment_ms);
        let fresh = p.acks.insert(key, (ack, now)).is_none();
        let acked = p.acks.len();
        let pid = p.id;
        self.update_history(pid, |s| {
            s.latest_ack_timestamp = Some(now);
            s.num_acknowledged = acked;
            if fresh {
                s.state_size += size;
                let v = s.vertices.entry(key.0).or_default();
                v.acknowledged += 1;
                v.state_size += size;
                v.latest_ack = Some(now);
                v.sync_ms = v.sync_ms.max(sync);
                v.async_ms = v.async_ms.max(asy);
                v.alignment_ms = v.alignment_ms.max(align);
            }
        });
        true
    }

    /// The metadata of a pending checkpoint once every subtask of the job
    /// acknowledged or had finished.
    pub fn ready(&self, id: u64, job: &JobShape<'_>) -> Option<CheckpointMetadata> {
        let JobShape {
            job_id,
            all,
            finished,
            names,
            parallelism,
            max_parallelism,
        } = *job;
        let p = self.pending.get(&id)?;
        if p.writing
            || !all
                .iter()
                .all(|k| p.acks.contains_key(k) || finished.contains(k))
        {
            return None;
        }
        let mut ops: BTreeMap<String, OperatorState> = BTreeMap::new();
        for ((vertex, subtask), (ack, _)) in &p.acks {
            for f in &ack.files {
                let op = ops.entry(f.uid.clone()).or_insert_with(|| OperatorState {
                    uid: f.uid.clone(),
                    name: names.get(*vertex).cloned().unwrap_or_default(),
                    parallelism: parallelism.get(*vertex).copied().unwrap_or(1),
                    max_parallelism,
                    descriptor: f.descriptor.clone(),
                    files: Vec::new(),
                });
                op.files.push(StateFile {
                    subtask: *subtask,
                    path: f.path.clone(),
                    size: f.size,
                });
            }
        }
        Some(CheckpointMetadata {
            version: METADATA_VERSION,
            job_id,
            checkpoint_id: id,
            timestamp: p.trigger_timestamp,
            kind: p.kind,
            operators: ops.into_values().collect(),
        })
    }

    /// Marks a checkpoint's metadata as being written.
    pub fn writing(&mut self, id: u64) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.writing = true;
        }
    }

    /// `_metadata` was written: the checkpoint is complete. Returns it and
    /// the directories of retained checkpoints it subsumes.
    pub fn complete(
        &mut self,
        id: u64,
        metadata: CheckpointMetadata,
        now: i64,
    ) -> Option<(Pending, Vec<StorageTask>)> {
        let p = self.pending.remove(&id)?;
        self.counts.completed += 1;
        self.consecutive_failures = 0;
        let size = metadata.state_size();
        let stats = self.update_history(id, |s| {
            s.status = StatsStatus::Completed;
            s.end_to_end_duration = now - s.trigger_timestamp;
            s.state_size = size;
        });
        let mut deletes = Vec::new();
        match p.kind {
            SnapshotKind::Checkpoint => {
                self.last_completion = Some(now);
                self.latest_completed = stats;
                // Older pending checkpoints can no longer matter.
                let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
                for o in older {
                    if self.pending.get(&o).is_some_and(|p| !p.kind.is_savepoint()) {
                        deletes.extend(self.fail(o, "subsumed by a newer checkpoint", now, false));
                    }
                }
                let spec = RestoreSpec {
                    location: p.location.clone(),
                    metadata: metadata.clone(),
                };
                self.restore_from = Some(spec);
                self.retained.push(Retained {
                    id,
                    location: p.location.clone(),
                    metadata,
                });
                while self.retained.len() > self.settings.num_retained.max(1) {
                    let old = self.retained.remove(0);
                    self.update_history(old.id, |s| s.discarded = true);
                    deletes.push(StorageTask::Delete {
                        location: old.location,
                        storage: self.storage.clone(),
                    });
                }
            }
            SnapshotKind::Savepoint | SnapshotKind::StopWithSavepoint { .. } => {
                self.latest_savepoint = stats;
            }
        }
        if let Some(t) = &p.trigger_id {
            let op = match p.kind {
                SnapshotKind::Checkpoint => Operation::Checkpoint(id),
                _ => Operation::Savepoint(p.location.clone()),
            };
            self.operations.insert(t.clone(), op);
        }
        Some((p, deletes))
    }

    /// Fails a pending checkpoint; returns the deletion of its files.
    /// `counts` says whether the failure counts against the tolerance.
    pub fn fail(&mut self, id: u64, reason: &str, now: i64, counts: bool) -> Vec<StorageTask> {
        let Some(p) = self.pending.remove(&id) else {
            return Vec::new();
        };
        tracing::warn!(checkpoint_id = id, %reason, "checkpoint failed");
        self.counts.failed += 1;
        if counts && p.kind == SnapshotKind::Checkpoint {
            self.consecutive_failures += 1;
        }
        self.latest_failed = self.update_history(id, |s| {
            s.status = StatsStatus::Failed;
            s.failure = Some(reason.to_string());
            s.failure_timestamp = Some(now);
            s.end_to_end_duration = now - s.trigger_timestamp;
        });
        if let Some(t) = &p.trigger_id {
            self.operations
                .insert(t.clone(), Operation::Failed(reason.to_string()));
        }
        vec![StorageTask::Delete {
            location: p.location,
            storage: self.storage.clone(),
        }]
    }

    /// Whether failures exceeded `tolerable-failed-checkpoints`.
    pub fn over_tolerance(&self) -> bool {
        self.consecutive_failures > self.settings.tolerable_failures
    }

    /// Pending checkpoints older than the timeout.
    pub fn expired(&self, now: i64) -> Vec<u64> {
        self.pending
            .values()
            .filter(|p| !p.writing && now - p.trigger_timestamp >= self.settings.timeout_ms)
            .map(|p| p.id)
            .collect()
    }

    /// A new attempt starts: what was pending is lost; returns deletions.
    pub fn abort_all(&mut self, reason: &str, now: i64) -> Vec<StorageTask> {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.fail(id, reason, now, false));
        }
        self.awaiting_final.clear();
        self.consecutive_failures = 0;
        out
    }

    /// The restore of the latest checkpoint failed (a missing or corrupt
    /// file): forget it, so the next attempt uses the one before.
    /// Returns `false` when no retained checkpoint is left to fall back to.
    pub fn drop_broken_restore(&mut self) -> bool {
        let Some(broken) = self.restore_from.take() else {
            return false;
        };
        self.retained.retain(|r| r.location != broken.location);
        match self.retained.last() {
            Some(prev) => {
                tracing::warn!(broken = %broken.location, fallback = %prev.location, "falling back to an older checkpoint");
                self.restore_from = Some(RestoreSpec {
                    location: prev.location.clone(),
                    metadata: prev.metadata.clone(),
                });
                true
            }
            None => false,
        }
    }

    /// Records that an attempt restored from `restore_from`.
    pub fn restoring(&mut self, now: i64) {
        self.last_trigger = Some(now);
        if let Some(r) = &self.restore_from {
            self.counts.restored += 1;
            self.restored = Some(Restored {
                id: r.metadata.checkpoint_id,
                location: r.location.clone(),
                is_savepoint: r.metadata.kind.is_savepoint(),
                restore_timestamp: now,
            });
        }
    }

    /// Directories to delete when job `job` reaches the terminal `status`,
    /// per `externalized-checkpoint-retention` (Flink's rules: retained
    /// checkpoints survive failures unless never externalized, and
    /// cancellation unless DELETE_ON_CANCELLATION). When nothing is kept
    /// the job's whole checkpoint directory goes, with checkpoints an
    /// earlier JobManager left there.
    pub fn on_terminal(&mut self, job: JobId, status: JobStatus) -> Vec<String> {
        let keep = retention_keeps(self.settings.retention, status);
        let pending = std::mem::take(&mut self.pending);
        if keep {
            return pending.into_values().map(|p| p.location).collect();
        }
        let retained = std::mem::take(&mut self.retained);
        match self.settings.job_directory(job) {
            Some(dir) => vec![dir],
            None => pending
                .into_values()
                .map(|p| p.location)
                .chain(retained.into_iter().map(|r| r.location))
                .collect(),
        }
    }
}

/// Whether a job's completed checkpoints outlive its end in `status`
/// (Flink's rules: kept after a failure unless never externalized, after a
/// cancellation only with RETAIN_ON_CANCELLATION, never after finishing).
pub fn retention_keeps(retention: ExternalizedCheckpointRetention, status: JobStatus) -> bool {
    match retention {
        ExternalizedCheckpointRetention::NoExternalizedCheckpoints => false,
        ExternalizedCheckpointRetention::RetainOnCancellation => {
            matches!(status, JobStatus::Canceled | JobStatus::Failed)
        }
        ExternalizedCheckpointRetention::DeleteOnCancellation => status == JobStatus::Failed,
    }
}

/// A short random token for savepoint directory names and trigger ids.
pub fn random_hex(n: usize) -> String {
    let id = riffle_rpc::AbstractId::random().to_string();
    id.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_rpc::checkpoint::AckedFile;

    fn settings() -> Settings {
        Settings {
            interval_ms: Some(1000),
            timeout_ms: 5000,
            min_pause_ms: 0,
            max_concurrent: 1,
            tolerable_failures: 0,
            retention: ExternalizedCheckpointRetention::RetainOnCancellation,
            dir: Some("/ck".into()),
            num_retained: 2,
            savepoint_dir: None,
            result_store: None,
        }
    }

    fn ack(id: u64, v: usize, s: usize) -> CheckpointAck {
        CheckpointAck {
            job_id: JobId::from_seed("j"),
            attempt: 0,
            checkpoint_id: id,
            vertex: v,
            subtask: s,
            files: vec![AckedFile {
                uid: format!("op{v}"),
                descriptor: "d".into(),
                path: format!("op{v}-{s}"),
                size: 10,
            }],
            sync_ms: 1,
            async_ms: 2,
            alignment_ms: 3,
        }
    }

    #[test]
    fn completes_when_all_acknowledged_and_retains_the_newest() {
        let mut c = Coordinator::new(settings(), StorageConfig::default(), None, 0);
        let all = [(0, 0), (0, 1), (1, 0)];
        let names = vec!["Source".to_string(), "Agg".to_string()];
        let job = JobId::from_seed("j");
        let mut deleted = Vec::new();
        for round in 0..3u64 {
            let now = 1000 * (round as i64 + 1);
            assert!(c.periodic_due(now));
            let id = c.start(
                SnapshotKind::Checkpoint,
                format!("/ck/j/chk-{}", round + 1),
                None,
                false,
                3,
                now,
            );
            assert!(!c.periodic_due(now + 5000), "one at a time");
            c.acknowledge(ack(id, 0, 0), now + 1);
            let none = BTreeSet::new();
            let shape = |finished| JobShape {
                job_id: job,
                all: &all,
                finished,
                names: &names,
                parallelism: &[2, 1],
                max_parallelism: 128,
            };
            assert!(c.ready(id, &shape(&none)).is_none());
            c.acknowledge(ack(id, 0, 1), now + 2);
            // A finished subtask counts as acknowledged.
            let finished: BTreeSet<SubtaskKey> = [(1, 0)].into();
            let m = c.ready(id, &shape(&finished)).unwrap();
            assert_eq!(m.operators.len(), 1);
            assert_eq!(m.operators[0].files.len(), 2);
            c.writing(id);
            let (_, d) = c.complete(id, m, now + 10).unwrap();
            deleted.extend(d);
        }
        assert_eq!(c.retained.len(), 2);
        assert_eq!(
            deleted,
            vec![StorageTask::Delete {
                location: "/ck/j/chk-1".into(),
                storage: StorageConfig::default()
            }]
        );
        assert_eq!(c.counts.completed, 3);
        assert_eq!(c.latest_completed.as_ref().map(|s| s.id), Some(3));
        assert_eq!(
            c.restore_from.as_ref().map(|r| r.metadata.checkpoint_id),
            Some(3)
        );
        // Falling back after a broken restore.
        assert!(c.drop_broken_restore());
        assert_eq!(
            c.restore_from.as_ref().map(|r| r.metadata.checkpoint_id),
            Some(2)
        );
        assert!(!c.drop_broken_restore());
    }

    #[test]
    fn timeouts_count_against_the_tolerance_and_savepoints_do_not() {
        let mut c = Coordinator::new(settings(), StorageConfig::default(), None, 0);
        let id = c.start(
            SnapshotKind::Checkpoint,
            "/ck/j/chk-1".into(),
            None,
            false,
            1,
            1000,
        );
        assert_eq!(c.expired(5999), Vec::<u64>::new());
        assert_eq!(c.expired(6000), vec![id]);
        let d = c.fail(id, "expired", 6000, true);
        assert_eq!(d.len(), 1);
        assert!(c.over_tolerance());
        let mut c = Coordinator::new(settings(), StorageConfig::default(), None, 0);
        let id = c.start(
            SnapshotKind::Savepoint,
            "/sp/x".into(),
            Some("t".into()),
            false,
            1,
            0,
        );
        c.fail(id, "declined", 1, true);
        assert!(!c.over_tolerance());
        assert_eq!(c.operations["t"], Operation::Failed("declined".into()));
    }

    #[test]
    fn retention_decides_what_survives_the_end() {
        let mut c = Coordinator::new(settings(), StorageConfig::default(), None, 0);
        c.retained.push(Retained {
            id: 1,
            location: "/ck/j/chk-1".into(),
            metadata: CheckpointMetadata {
                version: METADATA_VERSION,
                job_id: JobId::from_seed("j"),
                checkpoint_id: 1,
                timestamp: 0,
                kind: SnapshotKind::Checkpoint,
                operators: vec![],
            },
        });
        let job = JobId::from_seed("j");
        assert!(
            c.on_terminal(job, JobStatus::Canceled).is_empty(),
            "retained on cancellation"
        );
        c.settings.retention = ExternalizedCheckpointRetention::DeleteOnCancellation;
        assert!(
            c.on_terminal(job, JobStatus::Failed).is_empty(),
            "retained on failure"
        );
        assert_eq!(
            c.on_terminal(job, JobStatus::Canceled),
            vec![format!("/ck/{job}")]
        );
        // Without a checkpoint directory, the retained ones one by one.
        c.settings.dir = None;
        c.retained.push(Retained {
            id: 2,
            location: "/elsewhere/chk-2".into(),
            metadata: restore_spec(SnapshotKind::Checkpoint, "/elsewhere/chk-2").metadata,
        });
        assert_eq!(
            c.on_terminal(job, JobStatus::Finished),
            vec!["/elsewhere/chk-2".to_string()]
        );
    }

    fn restore_spec(kind: SnapshotKind, location: &str) -> RestoreSpec {
        RestoreSpec {
            location: location.into(),
            metadata: CheckpointMetadata {
                version: METADATA_VERSION,
                job_id: JobId::from_seed("j"),
                checkpoint_id: 8,
                timestamp: 0,
                kind,
                operators: vec![],
            },
        }
    }

    /// A checkpoint restored by a later JobManager is subsumed and cleaned
    /// up like one it took itself; a savepoint the job started from is not.
    #[test]
    fn a_restored_own_checkpoint_is_owned_and_a_savepoint_is_not() {
        let mut s = settings();
        s.num_retained = 1;
        s.dir = Some("/ck".into());
        let own =
            RestoreSource::OwnCheckpoint(restore_spec(SnapshotKind::Checkpoint, "/ck/j/chk-8"));
        let mut c = Coordinator::new(s.clone(), StorageConfig::default(), Some(own), 0);
        assert_eq!(c.next_id, 9);
        let id = c.start(
            SnapshotKind::Checkpoint,
            "/ck/j/chk-9".into(),
            None,
            false,
            1,
            10,
        );
        c.writing(id);
        let metadata = restore_spec(SnapshotKind::Checkpoint, "/ck/j/chk-9").metadata;
        let (_, deletes) = c.complete(id, metadata, 20).unwrap();
        assert_eq!(
            deletes,
            vec![StorageTask::Delete {
                location: "/ck/j/chk-8".into(),
                storage: StorageConfig::default()
            }],
            "the restored checkpoint is subsumed"
        );
        let job = JobId::from_seed("j");
        assert_eq!(
            c.on_terminal(job, JobStatus::Finished),
            vec![format!("/ck/{job}")],
            "the job's whole directory goes at the end"
        );

        let savepoint =
            RestoreSource::Savepoint(restore_spec(SnapshotKind::Savepoint, "/sp/savepoint-1"));
        let c = Coordinator::new(s, StorageConfig::default(), Some(savepoint), 0);
        assert!(c.retained.is_empty(), "a savepoint is never deleted");
        assert_eq!(
            c.restore_from.map(|r| r.location),
            Some("/sp/savepoint-1".to_string())
        );
    }
}
