//! The JobManager's view of the cluster and the rules that move it.
//!
//! Every input (a TaskManager registers, heartbeats, reports a task state or
//! disappears; a job is submitted or cancelled; time passes) is a method on
//! [`Cluster`] that updates the state and returns the messages to send to
//! TaskManagers. No I/O happens here, so the rules are tested as plain
//! functions; the RPC layer and the REST API only lock, call and send.
//!
//! Scheduling uses slot sharing as Flink does: a job needs as many slots as
//! its largest vertex parallelism, and subtask `i` of every vertex runs in
//! the job's slot `i`. Slots are taken round-robin over TaskManagers so a job
//! spreads over the cluster.

use std::collections::BTreeMap;

use riffle_common::restart::{RestartDecision, RestartTracker};
use riffle_rpc::control::{
    Deployment, ExecutionState, ProcessReport, SubtaskReport, TaskManagerInfo, TaskUpdate,
    ToTaskManager,
};
use riffle_rpc::{JobId, ResourceId};

use crate::job::{Failure, Job, JobStatus, VertexInfo};

/// A message to one TaskManager.
pub type Outgoing = (ResourceId, ToTaskManager);

/// A registered TaskManager.
#[derive(Debug, Clone)]
pub struct TaskManagerEntry {
    /// What it said when registering.
    pub info: TaskManagerInfo,
    /// When it registered (epoch ms).
    pub registered_at: i64,
    /// Its last heartbeat (epoch ms).
    pub last_heartbeat: i64,
    /// Address it connected from, for `/taskmanagers` `path`.
    pub peer: String,
    /// Its process's memory and CPU, from the last heartbeat.
    pub process: ProcessReport,
}

impl TaskManagerEntry {
    /// `host:dataPort`, where other TaskManagers send it records.
    pub fn data_address(&self) -> String {
        format!("{}:{}", self.info.host, self.info.data_port)
    }
}

/// Timeouts the rules depend on.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `heartbeat.timeout` in ms.
    pub heartbeat_ms: i64,
    /// `slot.request.timeout` in ms.
    pub slot_request_ms: i64,
    /// How long a cancellation waits for tasks to confirm.
    pub cancel_ms: i64,
}

/// The cluster as the JobManager sees it.
#[derive(Debug)]
pub struct Cluster {
    /// Registered TaskManagers.
    pub taskmanagers: BTreeMap<ResourceId, TaskManagerEntry>,
    /// Jobs, by id.
    pub jobs: BTreeMap<JobId, Job>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Checkpoint I/O requested by the rules, run by the JobManager off the lock.
    pub storage: Vec<crate::checkpoints::StorageTask>,
}

impl Cluster {
    /// An empty cluster.
    pub fn new(timeouts: Timeouts) -> Self {
        Cluster {
            taskmanagers: BTreeMap::new(),
            jobs: BTreeMap::new(),
            timeouts,
            storage: Vec::new(),
        }
    }

    /// Total slots of all TaskManagers.
    pub fn slots_total(&self) -> usize {
        self.taskmanagers.values().map(|t| t.info.slots).sum()
    }

    /// Slots of `tm` used by jobs that hold slots.
    pub fn slots_used(&self, tm: ResourceId) -> usize {
        self.jobs
            .values()
            .filter(|j| holds_slots(j.status))
            .flat_map(|j| j.slots.iter())
            .filter(|t| **t == tm)
            .count()
    }

    /// Free slots over the cluster.
    pub fn slots_available(&self) -> usize {
        self.taskmanagers
            .keys()
            .map(|tm| {
                self.taskmanagers[tm]
                    .info
                    .slots
                    .saturating_sub(self.slots_used(*tm))
            })
            .sum()
    }

    /// A TaskManager registered (again).
    pub fn register(&mut self, info: TaskManagerInfo, peer: String, now: i64) -> Vec<Outgoing> {
        let id = info.resource_id;
        let mut out = Vec::new();
        if self.taskmanagers.contains_key(&id) {
            // A restarted process with the same id: what ran there is gone.
            out = self.taskmanager_lost(id, "the TaskManager registered again", now);
        }
        tracing::info!(resource_id = %id, slots = info.slots, "TaskManager registered");
        self.taskmanagers.insert(
            id,
            TaskManagerEntry {
                info,
                registered_at: now,
                last_heartbeat: now,
                peer,
                process: ProcessReport::default(),
            },
        );
        out.extend(self.tick(now));
        out
    }

    /// A heartbeat arrived. `false`: the TaskManager is not registered (it
    /// was dropped after a heartbeat timeout) and must be told to register anew.
    #[must_use]
    pub fn heartbeat(
        &mut self,
        tm: ResourceId,
        reports: Vec<SubtaskReport>,
        process: ProcessReport,
        now: i64,
    ) -> bool {
        let Some(t) = self.taskmanagers.get_mut(&tm) else {
            return false;
        };
        t.last_heartbeat = now;
        t.process = process;
        for r in reports {
            if let Some(job) = self.jobs.get_mut(&r.job_id)
                && job.attempt == r.attempt
            {
                job.reports.insert((r.vertex, r.subtask), r);
            }
        }
        true
    }

    /// A TaskManager is gone (connection closed or heartbeat timed out).
    pub fn taskmanager_lost(&mut self, tm: ResourceId, reason: &str, now: i64) -> Vec<Outgoing> {
        let Some(entry) = self.taskmanagers.remove(&tm) else {
            return Vec::new();
        };
        tracing::warn!(resource_id = %tm, %reason, "TaskManager lost");
        self.forget_result_host(tm);
        let mut out = Vec::new();
        let affected: Vec<JobId> = self
            .jobs
            .values()
            .filter(|j| holds_slots(j.status) && j.slots.contains(&tm))
            .map(|j| j.id)
            .collect();
        for id in affected {
            let failure = Failure {
                timestamp: now,
                message: format!(
                    "TaskManager {tm} at {} is lost: {reason}",
                    entry.data_address()
                ),
                task_name: None,
                endpoint: Some(entry.data_address()),
                taskmanager_id: Some(tm),
            };
            out.extend(self.fail_attempt(id, failure, now));
        }
        out
    }

    /// Adds a planned job; it is scheduled on the next tick.
    pub fn submit(&mut self, job: Job) -> Vec<Outgoing> {
        let now = job.start_time;
        self.jobs.insert(job.id, job);
        self.tick(now)
    }

    /// A subtask changed state.
    pub fn task_state(&mut self, tm: ResourceId, update: TaskUpdate, now: i64) -> Vec<Outgoing> {
        let TaskUpdate {
            job_id,
            attempt,
            vertex,
            subtask,
            state,
            failure,
            counters,
            restore_failed,
        } = update;
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return Vec::new();
        };
        if job.attempt != attempt {
            return Vec::new();
        }
        let Some(slot) = job.states.get_mut(vertex).and_then(|v| v.get_mut(subtask)) else {
            return Vec::new();
        };
        *slot = state;
        if let Some(c) = counters.filter(|c| c.job_id == job_id && c.attempt == attempt) {
            job.reports.insert((vertex, subtask), c);
        }
        if let Some(t) = job.since.get_mut(vertex).and_then(|v| v.get_mut(subtask)) {
            *t = now;
        }
        job.last_modification = now;
        match (job.status, state) {
            (JobStatus::Running, ExecutionState::Failed) => {
                if restore_failed && !job.checkpoints.drop_broken_restore() {
                    // Nothing older to fall back to: restarting would fail the same way.
                    job.checkpoints.unrecoverable = true;
                }
                let endpoint = self.taskmanagers.get(&tm).map(|t| t.data_address());
                let failure = Failure {
                    timestamp: now,
                    message: failure.unwrap_or_else(|| "the task failed".into()),
                    task_name: Some(job.task_name(vertex, subtask)),
                    endpoint,
                    taskmanager_id: Some(tm),
                };
                self.fail_attempt(job_id, failure, now)
            }
            (JobStatus::Running, _)
                if job
                    .states
                    .iter()
                    .flatten()
                    .all(|s| *s == ExecutionState::Finished) =>
            {
                job.set_status(JobStatus::Finished, now);
                Vec::new()
            }
            (JobStatus::Running, ExecutionState::Finished) => {
                self.checkpoints_after_task_change(job_id);
                Vec::new()
            }
            (JobStatus::Cancelling, _) if job.all_tasks_terminal() => {
                job.set_status(JobStatus::Canceled, now);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Cancels a job. `Err` says why it cannot be cancelled.
    pub fn cancel(&mut self, job_id: JobId, now: i64) -> Result<Vec<Outgoing>, String> {
        let cancel_ms = self.timeouts.cancel_ms;
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| format!("Job {job_id} not found"))?;
        if job.status.is_globally_terminal() {
            return Err(format!(
                "Job {job_id} is in terminal state {} and cannot be cancelled",
                job.status.name()
            ));
        }
        match job.status {
            JobStatus::Running | JobStatus::Failing => {
                let out = cancel_messages(job);
                for v in job.states.iter_mut() {
                    for s in v.iter_mut() {
                        if !s.is_terminal() {
                            *s = ExecutionState::Canceling;
                        }
                    }
                }
                job.set_status(JobStatus::Cancelling, now);
                job.cancel_deadline = Some(now + cancel_ms);
                Ok(out)
            }
            _ => {
                job.set_all_tasks(ExecutionState::Canceled, now);
                job.schedule_at = None;
                job.set_status(JobStatus::Canceled, now);
                Ok(Vec::new())
            }
        }
    }

    /// Lets time pass: heartbeat timeouts, due restarts, slot waits, cancellations.
    pub fn tick(&mut self, now: i64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let timeout = self.timeouts.heartbeat_ms;
        let silent: Vec<ResourceId> = self
            .taskmanagers
            .values()
            .filter(|t| now - t.last_heartbeat > timeout)
            .map(|t| t.info.resource_id)
            .collect();
        for tm in silent {
            let reason =
                format!("heartbeat of TaskManager with id {tm} timed out after {timeout} ms");
            out.extend(self.taskmanager_lost(tm, &reason, now));
            // It may only be frozen: when it wakes it must learn that it was
            // dropped, instead of running stale tasks beside the failover.
            out.push((tm, ToTaskManager::Disconnect { reason }));
        }
        let ids: Vec<JobId> = self.jobs.keys().copied().collect();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            match job.status {
                JobStatus::Cancelling if job.cancel_deadline.is_some_and(|d| now >= d) => {
                    job.set_all_tasks(ExecutionState::Canceled, now);
                    job.set_status(JobStatus::Canceled, now);
                }
                JobStatus::Restarting if job.schedule_at.is_some_and(|t| now >= t) => {
                    job.attempt += 1;
                    job.checkpoints.restoring(now);
                    job.reports.clear();
                    job.set_all_tasks(ExecutionState::Created, now);
                    job.set_status(JobStatus::Created, now);
                    job.waiting_since = Some(now);
                    out.extend(self.try_schedule(id, now));
                }
                JobStatus::Created => out.extend(self.try_schedule(id, now)),
                _ => {}
            }
        }
        out.extend(self.checkpoint_tick(now));
        out
    }

    /// Places a waiting job if enough slots are free; fails it after `slot.request.timeout`.
    fn try_schedule(&mut self, id: JobId, now: i64) -> Vec<Outgoing> {
        let slot_timeout = self.timeouts.slot_request_ms;
        let Some(job) = self.jobs.get(&id) else {
            return Vec::new();
        };
        let need = job.required_slots();
        let Some(slots) = self.pick_slots(need) else {
            let Some(job) = self.jobs.get_mut(&id) else {
                return Vec::new();
            };
            let since = *job.waiting_since.get_or_insert(now);
            if now - since >= slot_timeout {
                let message = format!(
                    "Could not acquire the minimum required resources: the job needs {need} slot(s), \
                     {} of {} are free after waiting {slot_timeout} ms (slot.request.timeout). \
                     Start more TaskManagers or raise taskmanager.numberOfTaskSlots.",
                    self.slots_available(),
                    self.slots_total()
                );
                let Some(job) = self.jobs.get_mut(&id) else {
                    return Vec::new();
                };
                job.failures.push(Failure {
                    timestamp: now,
                    message,
                    task_name: None,
                    endpoint: None,
                    taskmanager_id: None,
                });
                job.set_all_tasks(ExecutionState::Canceled, now);
                job.set_status(JobStatus::Failed, now);
            }
            return Vec::new();
        };
        let placement: Vec<Vec<String>> = job
            .vertices
            .iter()
            .map(|v| {
                (0..v.parallelism)
                    .map(|s| {
                        self.taskmanagers
                            .get(&slots[s])
                            .map(|t| t.data_address())
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        let mut per_tm: BTreeMap<ResourceId, Vec<(usize, usize)>> = BTreeMap::new();
        for (vi, v) in job.vertices.iter().enumerate() {
            for (s, tm) in slots.iter().enumerate().take(v.parallelism) {
                per_tm.entry(*tm).or_default().push((vi, s));
            }
        }
        let base = Deployment {
            job_id: id,
            attempt: job.attempt,
            job_name: job.name.clone(),
            script: job.script.clone(),
            config: job.config.as_ref().clone(),
            parallelism: job.vertices.iter().map(|v| v.parallelism).collect(),
            placement,
            subtasks: Vec::new(),
            restore: job.checkpoints.restore_from.clone(),
        };
        let out = per_tm
            .into_iter()
            .map(|(tm, subtasks)| {
                let mut d = base.clone();
                d.subtasks = subtasks;
                (tm, ToTaskManager::Deploy(Box::new(d)))
            })
            .collect();
        let Some(job) = self.jobs.get_mut(&id) else {
            return Vec::new();
        };
        job.slots = slots;
        job.waiting_since = None;
        job.schedule_at = None;
        job.set_all_tasks(ExecutionState::Deploying, now);
        job.set_status(JobStatus::Running, now);
        out
    }

    /// `need` free slots, round-robin over TaskManagers, or `None`.
    fn pick_slots(&self, need: usize) -> Option<Vec<ResourceId>> {
        let mut free: Vec<(ResourceId, usize)> = self
            .taskmanagers
            .values()
            .map(|t| {
                let id = t.info.resource_id;
                (id, t.info.slots.saturating_sub(self.slots_used(id)))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if free.iter().map(|(_, n)| n).sum::<usize>() < need {
            return None;
        }
        let mut picked = Vec::with_capacity(need);
        while picked.len() < need {
            for (id, n) in free.iter_mut() {
                if *n > 0 && picked.len() < need {
                    picked.push(*id);
                    *n -= 1;
                }
            }
        }
        Some(picked)
    }

    /// The current attempt failed: restart or give up, per the restart strategy.
    pub(crate) fn fail_attempt(&mut self, id: JobId, failure: Failure, now: i64) -> Vec<Outgoing> {
        let known: Vec<ResourceId> = self.taskmanagers.keys().copied().collect();
        let Some(job) = self.jobs.get_mut(&id) else {
            return Vec::new();
        };
        if !matches!(job.status, JobStatus::Running) {
            return Vec::new();
        }
        tracing::warn!(job_id = %id, cause = %failure.message, "job attempt failed");
        job.failures.push(failure);
        let aborted = job.checkpoints.abort_all(
            "the job attempt failed before the checkpoint completed",
            now,
        );
        self.storage.extend(aborted);
        let out: Vec<Outgoing> = cancel_messages(job)
            .into_iter()
            .filter(|(tm, _)| known.contains(tm))
            .collect();
        for v in job.states.iter_mut() {
            for s in v.iter_mut() {
                if !s.is_terminal() {
                    *s = ExecutionState::Canceled;
                }
            }
        }
        let decision = if job.checkpoints.unrecoverable {
            RestartDecision::GiveUp {
                reason: "the checkpoint to restore from cannot be read and no older retained \
                         checkpoint is left to fall back to"
                    .into(),
            }
        } else {
            job.restarts.on_failure(now)
        };
        match decision {
            RestartDecision::Restart { delay_ms } => {
                job.num_restarts += 1;
                job.slots.clear();
                job.schedule_at = Some(now + delay_ms);
                job.set_status(JobStatus::Restarting, now);
            }
            RestartDecision::GiveUp { reason } => {
                tracing::warn!(job_id = %id, %reason, "not restarting");
                job.set_status(JobStatus::Failing, now);
                job.slots.clear();
                job.set_status(JobStatus::Failed, now);
            }
        }
        out
    }
}

/// Whether a job in this status occupies its slots.
fn holds_slots(status: JobStatus) -> bool {
    matches!(
        status,
        JobStatus::Running | JobStatus::Cancelling | JobStatus::Failing
    )
}

/// Cancel messages for every TaskManager running part of the job's attempt.
fn cancel_messages(job: &Job) -> Vec<Outgoing> {
    let mut tms: Vec<ResourceId> = job.slots.clone();
    tms.sort();
    tms.dedup();
    tms.into_iter()
        .map(|tm| {
            (
                tm,
                ToTaskManager::Cancel {
                    job_id: job.id,
                    attempt: job.attempt,
                },
            )
        })
        .collect()
}

/// A new job in status CREATED.
pub fn new_job(
    spec: crate::job::JobSpec,
    config: std::sync::Arc<riffle_common::JobConfig>,
    name: String,
    vertices: Vec<VertexInfo>,
    restarts: RestartTracker,
    checkpoints: crate::checkpoints::Coordinator,
    now: i64,
) -> Job {
    let states: Vec<Vec<ExecutionState>> = vertices
        .iter()
        .map(|v| vec![ExecutionState::Created; v.parallelism])
        .collect();
    let since = states.iter().map(|v| vec![now; v.len()]).collect();
    let collects = config.execution.result_collect;
    let mut job = Job {
        id: spec.id,
        name,
        script: spec.script,
        config,
        vertices,
        status: JobStatus::Initializing,
        timestamps: BTreeMap::new(),
        start_time: now,
        end_time: None,
        last_modification: now,
        attempt: 0,
        slots: Vec::new(),
        states,
        since,
        restarts,
        num_restarts: 0,
        failures: Vec::new(),
        schedule_at: None,
        waiting_since: Some(now),
        cancel_deadline: None,
        reports: BTreeMap::new(),
        results: collects.then(crate::results::ResultBuffer::default),
        checkpoints,
    };
    job.set_status(JobStatus::Initializing, now);
    job.set_status(JobStatus::Created, now);
    job
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobSpec;
    use riffle_common::restart::RestartStrategy;

    fn tm(seed: &str, slots: usize) -> TaskManagerInfo {
        TaskManagerInfo {
            resource_id: ResourceId::from_seed(seed),
            protocol_version: 1,
            host: "127.0.0.1".into(),
            data_port: 1,
            metrics_port: None,
            slots,
            cpu_cores: 1,
            physical_memory: 0,
        }
    }

    fn job(p: usize, strategy: RestartStrategy) -> Job {
        let spec = JobSpec {
            id: JobId::from_seed("job"),
            script: "INSERT ...".into(),
            config: riffle_common::Configuration::new(),
            on_recorded_result: Default::default(),
        };
        let vertices = vec![
            VertexInfo {
                id: JobId::from_seed("v0"),
                name: "Source".into(),
                parallelism: p,
                max_parallelism: 128,
                inputs: vec![],
            },
            VertexInfo {
                id: JobId::from_seed("v1"),
                name: "Sink".into(),
                parallelism: 1,
                max_parallelism: 128,
                inputs: vec![(0, "HASH")],
            },
        ];
        let config = riffle_common::JobConfig::resolve(&spec.config).unwrap();
        new_job(
            spec,
            std::sync::Arc::new(config),
            "j".into(),
            vertices,
            RestartTracker::new(strategy),
            crate::checkpoints::Coordinator::disabled(),
            0,
        )
    }

    fn timeouts() -> Timeouts {
        Timeouts {
            heartbeat_ms: 1000,
            slot_request_ms: 5000,
            cancel_ms: 1000,
        }
    }

    fn deploys(out: &[Outgoing]) -> usize {
        out.iter()
            .filter(|(_, m)| matches!(m, ToTaskManager::Deploy(_)))
            .count()
    }

    fn update(
        job_id: JobId,
        attempt: u32,
        vertex: usize,
        subtask: usize,
        state: ExecutionState,
        failure: Option<&str>,
    ) -> TaskUpdate {
        TaskUpdate {
            job_id,
            attempt,
            vertex,
            subtask,
            state,
            failure: failure.map(str::to_string),
            counters: None,
            restore_failed: false,
        }
    }

    #[test]
    fn final_counters_ride_on_the_finished_report() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 1), String::new(), 0);
        c.submit(job(1, RestartStrategy::None));
        let id = JobId::from_seed("job");
        let mut u = update(id, 0, 0, 0, ExecutionState::Finished, None);
        u.counters = Some(SubtaskReport {
            job_id: id,
            records_out: 42,
            ..SubtaskReport::default()
        });
        c.task_state(ResourceId::from_seed("a"), u, 5);
        assert_eq!(c.jobs[&id].reports[&(0, 0)].records_out, 42);
    }

    #[test]
    fn a_job_spreads_over_taskmanagers_and_finishes() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 2), String::new(), 0);
        c.register(tm("b", 2), String::new(), 0);
        let out = c.submit(job(4, RestartStrategy::None));
        assert_eq!(deploys(&out), 2);
        assert_eq!(c.slots_available(), 0);
        let id = JobId::from_seed("job");
        assert_eq!(c.jobs[&id].status, JobStatus::Running);
        let slots = c.jobs[&id].slots.clone();
        for (v, p) in [(0, 4), (1, 1)] {
            for (s, tm) in slots.iter().enumerate().take(p) {
                c.task_state(*tm, update(id, 0, v, s, ExecutionState::Finished, None), 5);
            }
        }
        assert_eq!(c.jobs[&id].status, JobStatus::Finished);
        assert_eq!(c.slots_available(), 4);
    }

    #[test]
    fn a_lost_taskmanager_restarts_the_job_when_slots_return() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 2), String::new(), 0);
        c.register(tm("b", 2), String::new(), 0);
        let strategy = RestartStrategy::FixedDelay {
            attempts: 3,
            delay_ms: 100,
        };
        c.submit(job(4, strategy));
        let id = JobId::from_seed("job");
        let out = c.taskmanager_lost(ResourceId::from_seed("b"), "killed", 10);
        assert!(out.iter().all(|(t, _)| *t == ResourceId::from_seed("a")));
        assert_eq!(c.jobs[&id].status, JobStatus::Restarting);
        assert_eq!(c.jobs[&id].num_restarts, 1);
        // Not enough slots yet: waits.
        assert_eq!(deploys(&c.tick(200)), 0);
        assert_eq!(c.jobs[&id].status, JobStatus::Created);
        let out = c.register(tm("c", 2), String::new(), 300);
        assert_eq!(deploys(&out), 2);
        assert_eq!(c.jobs[&id].attempt, 1);
        // Reports of the old attempt are ignored.
        c.task_state(
            ResourceId::from_seed("a"),
            update(id, 0, 0, 0, ExecutionState::Failed, None),
            301,
        );
        assert_eq!(c.jobs[&id].status, JobStatus::Running);
    }

    #[test]
    fn a_failure_without_restarts_fails_the_job_with_its_cause() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 4), String::new(), 0);
        c.submit(job(2, RestartStrategy::None));
        let id = JobId::from_seed("job");
        c.task_state(
            ResourceId::from_seed("a"),
            update(
                id,
                0,
                1,
                0,
                ExecutionState::Failed,
                Some("division by zero"),
            ),
            7,
        );
        let j = &c.jobs[&id];
        assert_eq!(j.status, JobStatus::Failed);
        assert_eq!(j.failures[0].message, "division by zero");
        assert_eq!(j.failures[0].task_name.as_deref(), Some("Sink (1/1)"));
        assert_eq!(c.slots_available(), 4);
    }

    #[test]
    fn silent_taskmanagers_time_out_and_missing_slots_fail_the_job() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 1), String::new(), 0);
        c.submit(job(2, RestartStrategy::None));
        let id = JobId::from_seed("job");
        assert_eq!(c.jobs[&id].status, JobStatus::Created);
        c.tick(1500);
        assert!(c.taskmanagers.is_empty());
        c.tick(5000);
        let j = &c.jobs[&id];
        assert_eq!(j.status, JobStatus::Failed);
        assert!(j.failures[0].message.contains("slot.request.timeout"));
    }

    #[test]
    fn cancelling_waits_for_tasks_then_gives_up() {
        let mut c = Cluster::new(timeouts());
        c.register(tm("a", 2), String::new(), 0);
        c.submit(job(2, RestartStrategy::None));
        let id = JobId::from_seed("job");
        let out = c.cancel(id, 10).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(c.jobs[&id].status, JobStatus::Cancelling);
        assert!(c.heartbeat(
            ResourceId::from_seed("a"),
            vec![],
            ProcessReport::default(),
            500,
        ));
        c.tick(1100);
        assert_eq!(c.jobs[&id].status, JobStatus::Canceled);
        assert!(c.cancel(id, 1200).is_err());
    }

    /// A TaskManager silent past the timeout (frozen, not dead) is dropped,
    /// told so, and its late heartbeat is refused until it registers again.
    #[test]
    fn a_silent_taskmanager_is_dropped_and_told_so() {
        let mut c = Cluster::new(timeouts());
        let a = ResourceId::from_seed("a");
        c.register(tm("a", 2), String::new(), 0);
        c.submit(job(2, RestartStrategy::None));
        let out = c.tick(1001);
        assert!(c.taskmanagers.is_empty());
        assert!(
            out.iter()
                .any(|(to, m)| *to == a && matches!(m, ToTaskManager::Disconnect { reason } if reason.contains("timed out"))),
            "{out:?}"
        );
        assert!(!c.heartbeat(a, vec![], ProcessReport::default(), 1500));
        c.register(tm("a", 2), String::new(), 1600);
        assert!(c.heartbeat(a, vec![], ProcessReport::default(), 1700));
        // Its slots are free for scheduling again (the job without restarts failed).
        assert_eq!(c.jobs[&JobId::from_seed("job")].status, JobStatus::Failed);
        assert_eq!(c.slots_available(), 2);
    }
}
