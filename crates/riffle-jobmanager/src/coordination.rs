//! The checkpoint rules of the cluster: when to trigger and whom, what
//! acknowledgements, declines and task ends mean for pending checkpoints,
//! and what a completed one sets in motion (commits, the end of a bounded
//! job, the end of a stopped one). The per-job bookkeeping lives in
//! [`crate::checkpoints::Coordinator`]; this module connects it to jobs,
//! placements and TaskManagers.

use std::collections::BTreeSet;

use riffle_rpc::checkpoint::{CheckpointAck, CheckpointMetadata, SnapshotKind};
use riffle_rpc::control::{ExecutionState, ToTaskManager};
use riffle_rpc::{JobId, ResourceId};

use crate::checkpoints::{EndHandling, JobShape, Operation, StorageTask, SubtaskKey, random_hex};
use crate::cluster::{Cluster, Outgoing};
use crate::job::{Failure, Job, JobStatus};

/// Why a savepoint or checkpoint cannot be triggered now.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerError {
    /// No such job.
    NotFound(String),
    /// The job cannot take one now, or the request lacks something.
    Refused(String),
}

impl Job {
    /// Every subtask of the job.
    fn all_subtasks(&self) -> Vec<SubtaskKey> {
        self.vertices
            .iter()
            .enumerate()
            .flat_map(|(v, info)| (0..info.parallelism).map(move |s| (v, s)))
            .collect()
    }

    /// Subtasks that finished.
    fn finished_subtasks(&self) -> BTreeSet<SubtaskKey> {
        self.states
            .iter()
            .enumerate()
            .flat_map(|(v, ss)| {
                ss.iter()
                    .enumerate()
                    .filter(|(_, s)| **s == ExecutionState::Finished)
                    .map(move |(s, _)| (v, s))
            })
            .collect()
    }

    /// Source subtasks (vertices without inputs).
    fn source_subtasks(&self) -> Vec<SubtaskKey> {
        self.all_subtasks()
            .into_iter()
            .filter(|(v, _)| self.vertices.get(*v).is_some_and(|i| i.inputs.is_empty()))
            .collect()
    }

    /// Whether every subtask is running.
    fn all_running(&self) -> bool {
        self.states
            .iter()
            .flatten()
            .all(|s| *s == ExecutionState::Running)
    }

    /// The TaskManagers of the current attempt.
    fn taskmanagers(&self) -> Vec<ResourceId> {
        let mut tms = self.slots.clone();
        tms.sort();
        tms.dedup();
        tms
    }

    /// Trigger messages: every TaskManager of the job learns the location;
    /// each is asked to trigger the `direct` subtasks it runs.
    fn trigger_messages(
        &self,
        id: u64,
        kind: SnapshotKind,
        location: &str,
        direct: &[SubtaskKey],
        now: i64,
    ) -> Vec<Outgoing> {
        self.taskmanagers()
            .into_iter()
            .map(|tm| {
                let mine: Vec<SubtaskKey> = direct
                    .iter()
                    .copied()
                    .filter(|(_, s)| self.slots.get(*s) == Some(&tm))
                    .collect();
                (
                    tm,
                    ToTaskManager::TriggerCheckpoint {
                        job_id: self.id,
                        attempt: self.attempt,
                        checkpoint_id: id,
                        timestamp: now,
                        kind,
                        location: location.to_string(),
                        direct: mine,
                    },
                )
            })
            .collect()
    }

    fn complete_messages(&self, id: u64, stop: bool) -> Vec<Outgoing> {
        self.taskmanagers()
            .into_iter()
            .map(|tm| {
                (
                    tm,
                    ToTaskManager::CheckpointComplete {
                        job_id: self.id,
                        attempt: self.attempt,
                        checkpoint_id: id,
                        stop,
                    },
                )
            })
            .collect()
    }

    /// Asks for `_metadata` of every pending checkpoint all subtasks are done with.
    fn ready_checkpoints(&mut self) -> Vec<StorageTask> {
        let all = self.all_subtasks();
        let finished = self.finished_subtasks();
        let names: Vec<String> = self.vertices.iter().map(|v| v.name.clone()).collect();
        let parallelism: Vec<usize> = self.vertices.iter().map(|v| v.parallelism).collect();
        let max_parallelism = self.vertices.first().map_or(128, |v| v.max_parallelism);
        let ids: Vec<u64> = self.checkpoints.pending.keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            let shape = JobShape {
                job_id: self.id,
                all: &all,
                finished: &finished,
                names: &names,
                parallelism: &parallelism,
                max_parallelism,
            };
            let Some(metadata) = self.checkpoints.ready(id, &shape) else {
                continue;
            };
            self.checkpoints.writing(id);
            let location = self
                .checkpoints
                .pending
                .get(&id)
                .map(|p| p.location.clone())
                .unwrap_or_default();
            out.push(StorageTask::WriteMetadata {
                job_id: self.id,
                checkpoint_id: id,
                location,
                metadata: Box::new(metadata),
                storage: self.checkpoints.storage.clone(),
            });
        }
        out
    }
}

impl Cluster {
    /// Queues the handling of every job that reached a globally terminal
    /// state since the last call: its result is recorded, then what
    /// retention does not keep is deleted ([`StorageTask::EndJob`]). Run
    /// after every rule, so a finished job is handled at once.
    pub fn handle_ended_jobs(&mut self) {
        for (id, job) in &mut self.jobs {
            if !job.status.is_globally_terminal() || job.checkpoints.end != EndHandling::NotEnded {
                continue;
            }
            job.checkpoints.end = EndHandling::Running;
            let deletes = job.checkpoints.on_terminal(*id, job.status);
            self.storage.push(StorageTask::EndJob {
                result: Box::new(crate::result_store::JobResult::of(job)),
                store: job.checkpoints.settings.result_store.clone(),
                deletes,
                storage: job.checkpoints.storage.clone(),
            });
        }
    }

    /// Periodic and final checkpoints and timeouts; part of [`Cluster::tick`].
    pub(crate) fn checkpoint_tick(&mut self, now: i64) -> Vec<Outgoing> {
        self.handle_ended_jobs();
        let mut out = Vec::new();
        let ids: Vec<JobId> = self.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.status.is_globally_terminal() {
                continue;
            }
            if job.status != JobStatus::Running {
                continue;
            }
            // Timeouts.
            let mut over = false;
            let mut stop_failed = None;
            for cid in job.checkpoints.expired(now) {
                let kind = job.checkpoints.pending.get(&cid).map(|p| p.kind);
                let reason = format!(
                    "Checkpoint expired before completing (execution.checkpointing.timeout is {} ms)",
                    job.checkpoints.settings.timeout_ms
                );
                if matches!(kind, Some(SnapshotKind::StopWithSavepoint { .. })) {
                    stop_failed = Some(reason.clone());
                }
                self.storage
                    .extend(job.checkpoints.fail(cid, &reason, now, true));
                over |= job.checkpoints.over_tolerance();
            }
            if let Some(reason) = stop_failed {
                out.extend(self.stop_failed(id, &reason, now));
                continue;
            }
            if over {
                out.extend(self.tolerance_exceeded(
                    id,
                    "Checkpoint expired before completing",
                    now,
                ));
                continue;
            }
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            // The final checkpoint of a bounded job.
            if !job.checkpoints.awaiting_final.is_empty() && job.checkpoints.pending.is_empty() {
                let finished = job.finished_subtasks();
                let all_done = job
                    .all_subtasks()
                    .iter()
                    .all(|k| finished.contains(k) || job.checkpoints.awaiting_final.contains(k));
                if all_done {
                    let next = job.checkpoints.next_id;
                    if let Some(location) = job.checkpoints.settings.checkpoint_location(id, next) {
                        let n = job.all_subtasks().len();
                        let cid = job.checkpoints.start(
                            SnapshotKind::Checkpoint,
                            location.clone(),
                            None,
                            true,
                            n,
                            now,
                        );
                        let direct: Vec<SubtaskKey> =
                            job.checkpoints.awaiting_final.iter().copied().collect();
                        tracing::info!(job_id = %id, checkpoint_id = cid, "triggering the final checkpoint");
                        out.extend(job.trigger_messages(
                            cid,
                            SnapshotKind::Checkpoint,
                            &location,
                            &direct,
                            now,
                        ));
                    }
                }
                continue;
            }
            // Periodic checkpoints, while every task runs.
            if job.all_running()
                && job.checkpoints.awaiting_final.is_empty()
                && job.checkpoints.periodic_due(now)
            {
                let next = job.checkpoints.next_id;
                if let Some(location) = job.checkpoints.settings.checkpoint_location(id, next) {
                    let n = job.all_subtasks().len();
                    let cid = job.checkpoints.start(
                        SnapshotKind::Checkpoint,
                        location.clone(),
                        None,
                        false,
                        n,
                        now,
                    );
                    let direct = job.source_subtasks();
                    out.extend(job.trigger_messages(
                        cid,
                        SnapshotKind::Checkpoint,
                        &location,
                        &direct,
                        now,
                    ));
                }
            }
        }
        out
    }

    /// A savepoint, stop-with-savepoint or manual checkpoint asked for
    /// through the REST API. Returns the trigger id to poll.
    pub fn trigger(
        &mut self,
        job_id: JobId,
        kind: SnapshotKind,
        target_directory: Option<String>,
        trigger_id: Option<String>,
        now: i64,
    ) -> Result<(String, Vec<Outgoing>), TriggerError> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| TriggerError::NotFound(format!("Job {job_id} not found")))?;
        // A trigger id already known is the same request again (a client
        // that retries after losing the answer): answered, not repeated.
        if let Some(id) = &trigger_id
            && job.checkpoints.operations.contains_key(id)
        {
            return Ok((id.clone(), Vec::new()));
        }
        let what = if kind.is_savepoint() {
            "savepoint"
        } else {
            "checkpoint"
        };
        if job.status != JobStatus::Running || !job.all_running() {
            return Err(TriggerError::Refused(format!(
                "Cannot trigger a {what} for job {job_id}: it is {} and not every task is running",
                job.status.name()
            )));
        }
        let trigger_id = trigger_id.unwrap_or_else(|| random_hex(32));
        let location = if kind.is_savepoint() {
            let dir = target_directory
                .or_else(|| job.checkpoints.settings.savepoint_dir.clone())
                .ok_or_else(|| {
                    TriggerError::Refused(
                        "No savepoint directory was given and none is configured: pass a target \
                         directory or set execution.checkpointing.savepoint-dir (state.savepoints.dir)"
                            .into(),
                    )
                })?;
            let short: String = job_id.to_string().chars().take(6).collect();
            format!(
                "{}/savepoint-{short}-{}",
                dir.trim_end_matches('/'),
                random_hex(12)
            )
        } else {
            let next = job.checkpoints.next_id;
            job.checkpoints
                .settings
                .checkpoint_location(job_id, next)
                .ok_or_else(|| {
                    TriggerError::Refused(
                        "The job has no checkpoint directory: set execution.checkpointing.dir \
                         (state.checkpoints.dir) to take checkpoints"
                            .into(),
                    )
                })?
        };
        let n = job.all_subtasks().len();
        let id = job.checkpoints.start(
            kind,
            location.clone(),
            Some(trigger_id.clone()),
            false,
            n,
            now,
        );
        tracing::info!(%job_id, checkpoint_id = id, %kind, %location, "triggered on request");
        let direct = job.source_subtasks();
        let out = job.trigger_messages(id, kind, &location, &direct, now);
        Ok((trigger_id, out))
    }

    /// The state of a triggered operation.
    pub fn operation(&self, job_id: JobId, trigger_id: &str) -> Option<Operation> {
        self.jobs
            .get(&job_id)?
            .checkpoints
            .operations
            .get(trigger_id)
            .cloned()
    }

    /// A subtask acknowledged a checkpoint.
    pub fn checkpoint_ack(&mut self, ack: CheckpointAck, now: i64) -> Vec<Outgoing> {
        let Some(job) = self.jobs.get_mut(&ack.job_id) else {
            return Vec::new();
        };
        if job.attempt != ack.attempt || job.status != JobStatus::Running {
            return Vec::new();
        }
        if job.checkpoints.acknowledge(ack, now) {
            let tasks = job.ready_checkpoints();
            self.storage.extend(tasks);
        }
        Vec::new()
    }

    /// A subtask could not take its part of a checkpoint.
    #[allow(clippy::too_many_arguments)]
    pub fn checkpoint_declined(
        &mut self,
        job_id: JobId,
        attempt: u32,
        checkpoint_id: u64,
        task: SubtaskKey,
        reason: &str,
        now: i64,
    ) -> Vec<Outgoing> {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Vec::new();
        };
        if job.attempt != attempt || !job.checkpoints.pending.contains_key(&checkpoint_id) {
            return Vec::new();
        }
        let kind = job.checkpoints.pending.get(&checkpoint_id).map(|p| p.kind);
        let message = format!(
            "Task {} declined checkpoint {checkpoint_id}: {reason}",
            job.task_name(task.0, task.1)
        );
        self.storage
            .extend(job.checkpoints.fail(checkpoint_id, &message, now, true));
        if matches!(kind, Some(SnapshotKind::StopWithSavepoint { .. })) {
            return self.stop_failed(job_id, &message, now);
        }
        let over = self
            .jobs
            .get(&job_id)
            .is_some_and(|j| j.checkpoints.over_tolerance());
        if over {
            return self.tolerance_exceeded(job_id, &message, now);
        }
        Vec::new()
    }

    /// A subtask's input ended and it waits for the final checkpoint.
    pub fn end_of_input(
        &mut self,
        job_id: JobId,
        attempt: u32,
        task: SubtaskKey,
        now: i64,
    ) -> Vec<Outgoing> {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Vec::new();
        };
        if job.attempt != attempt {
            return Vec::new();
        }
        job.checkpoints.awaiting_final.insert(task);
        // Pending checkpoints whose barrier can no longer reach it in-band
        // are triggered on it directly.
        let waiting: Vec<(u64, SnapshotKind, String)> = job
            .checkpoints
            .pending
            .values()
            .filter(|p| !p.acks.contains_key(&task))
            .map(|p| (p.id, p.kind, p.location.clone()))
            .collect();
        let mut out = Vec::new();
        for (id, kind, location) in waiting {
            out.extend(
                job.trigger_messages(id, kind, &location, &[task], now)
                    .into_iter()
                    .filter(|(tm, _)| job.slots.get(task.1) == Some(tm)),
            );
        }
        out
    }

    /// A task finished: pending checkpoints may now be complete.
    pub(crate) fn checkpoints_after_task_change(&mut self, job_id: JobId) {
        if let Some(job) = self.jobs.get_mut(&job_id)
            && job.status == JobStatus::Running
        {
            let tasks = job.ready_checkpoints();
            self.storage.extend(tasks);
        }
    }

    /// `_metadata` of a checkpoint was written (or could not be).
    pub fn metadata_written(
        &mut self,
        job_id: JobId,
        checkpoint_id: u64,
        result: Result<CheckpointMetadata, String>,
        now: i64,
    ) -> Vec<Outgoing> {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Vec::new();
        };
        let metadata = match result {
            Ok(m) => m,
            Err(e) => {
                let kind = job.checkpoints.pending.get(&checkpoint_id).map(|p| p.kind);
                let reason = format!("cannot write the checkpoint metadata: {e}");
                self.storage
                    .extend(job.checkpoints.fail(checkpoint_id, &reason, now, true));
                if matches!(kind, Some(SnapshotKind::StopWithSavepoint { .. })) {
                    return self.stop_failed(job_id, &reason, now);
                }
                return Vec::new();
            }
        };
        let Some((p, deletes)) = job.checkpoints.complete(checkpoint_id, metadata, now) else {
            return Vec::new();
        };
        self.storage.extend(deletes);
        tracing::info!(%job_id, checkpoint_id, location = %p.location, kind = ?p.kind, "checkpoint completed");
        if job.status != JobStatus::Running {
            return Vec::new();
        }
        match p.kind {
            SnapshotKind::Checkpoint => job.complete_messages(checkpoint_id, p.is_final),
            SnapshotKind::StopWithSavepoint { .. } => job.complete_messages(checkpoint_id, true),
            // A savepoint commits nothing: a later recovery from an older
            // checkpoint would write that output again.
            SnapshotKind::Savepoint => Vec::new(),
        }
    }

    /// A stop-with-savepoint failed after its sources paused: the attempt
    /// cannot go on, it restarts from the latest checkpoint.
    fn stop_failed(&mut self, job_id: JobId, reason: &str, now: i64) -> Vec<Outgoing> {
        let failure = Failure {
            timestamp: now,
            message: format!(
                "Stopping the job with a savepoint failed: {reason}. The job restarts from its \
                 latest checkpoint."
            ),
            task_name: None,
            endpoint: None,
            taskmanager_id: None,
        };
        self.fail_attempt(job_id, failure, now)
    }

    fn tolerance_exceeded(&mut self, job_id: JobId, reason: &str, now: i64) -> Vec<Outgoing> {
        let tolerable = self
            .jobs
            .get(&job_id)
            .map_or(0, |j| j.checkpoints.settings.tolerable_failures);
        let failure = Failure {
            timestamp: now,
            message: format!(
                "Exceeded checkpoint tolerable failure threshold \
                 (execution.checkpointing.tolerable-failed-checkpoints = {tolerable}). \
                 The latest checkpoint failed: {reason}"
            ),
            task_name: None,
            endpoint: None,
            taskmanager_id: None,
        };
        self.fail_attempt(job_id, failure, now)
    }
}
