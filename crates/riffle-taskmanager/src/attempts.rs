//! The job attempts running on this TaskManager.
//!
//! Deploying an attempt plans the shipped SQL script into the job graph,
//! checks it matches the JobManager's plan, wires the local subtasks (local
//! channels between them, network channels to the others) and starts one
//! thread per subtask. Every state change goes back to the JobManager
//! through the [`Reporter`]. The registry also answers the data server: an
//! incoming channel is delivered into the input queue of the subtask it
//! names, but only for the attempt it was opened for, so a straggler of a
//! cancelled attempt never feeds the restarted one.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use riffle_connectors::collect::CollectBuffer;
use riffle_rpc::JobId;
use riffle_rpc::checkpoint::SnapshotKind;
use riffle_rpc::control::{
    Deployment, ExecutionState, ResultRow, SubtaskReport, TaskUpdate, ToJobManager,
};
use riffle_rpc::net::{Handshake, InputRegistry, open_channel};
use riffle_runtime::checkpoint::{CheckpointContext, TaskCommand};
use riffle_runtime::deploy::{
    ChannelAddr, Checkpointing, RemoteChannels, SubtaskId, Wiring, spawn, wire,
};
use riffle_runtime::exchange::Envelope;
use riffle_runtime::metrics::{JobMetrics, TaskRates, TaskSample};

use crate::checkpoints::{Locations, RestoreStore, UploadListener, Uploader};
use riffle_runtime::{JobGraph, Result as RtResult};

/// Sends messages to the JobManager (dropped while disconnected).
pub trait Reporter: Send + Sync {
    /// Sends one message.
    fn report(&self, msg: ToJobManager);
}

/// One running attempt.
struct Attempt {
    job_name: String,
    /// Command channels of the local subtasks.
    commands: HashMap<SubtaskId, Sender<TaskCommand>>,
    /// Where this attempt's checkpoints go.
    locations: Arc<Locations>,
    /// Vertex names (operator names joined by ` -> `).
    vertex_names: Vec<String>,
    cancel: Arc<AtomicBool>,
    /// Rows of the job's query for the SQL client, when it has one.
    collector: Option<Arc<CollectBuffer>>,
    inputs: HashMap<SubtaskId, Sender<Envelope>>,
    metrics: Arc<JobMetrics>,
    /// Subtasks still running here.
    running: usize,
}

/// Called with each attempt's metrics when it is deployed (the embedded
/// mini-cluster shows them as the progress line).
pub type AttemptObserver = Arc<dyn Fn(JobId, u32, &Arc<JobMetrics>) + Send + Sync>;

/// All attempts on this TaskManager.
#[derive(Default)]
pub struct Attempts {
    observer: Mutex<Option<AttemptObserver>>,
    inner: Mutex<BTreeMap<(JobId, u32), Attempt>>,
    reporter: Mutex<Option<Arc<dyn Reporter>>>,
    /// Query rows of ended attempts not fetched yet.
    leftovers: Mutex<HashMap<(JobId, u32), Arc<CollectBuffer>>>,
    /// The last sample and the rates up to it, per subtask ([`Attempts::sample`]).
    rates: Mutex<HashMap<TaskKey, (TaskSample, TaskRates)>>,
}

/// A subtask of an attempt.
type TaskKey = (JobId, u32, SubtaskId);

/// A running subtask's counters and where it belongs, for metric reporters.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// Job.
    pub job_id: JobId,
    /// The job's name.
    pub job_name: String,
    /// Attempt number.
    pub attempt: u32,
    /// Vertex index.
    pub vertex: usize,
    /// Vertex name (operator names joined by ` -> `).
    pub vertex_name: String,
    /// Subtask index.
    pub subtask: usize,
    /// Counters now.
    pub sample: TaskSample,
    /// Per-second rates over the last sampling period.
    pub rates: TaskRates,
}

impl Attempts {
    /// Cancels one attempt (a no-op if it is not here).
    pub fn cancel(&self, job_id: JobId, attempt: u32) {
        if let Ok(map) = self.inner.lock()
            && let Some(a) = map.get(&(job_id, attempt))
        {
            a.stop();
        }
        if let Ok(mut left) = self.leftovers.lock() {
            left.remove(&(job_id, attempt));
        }
    }

    /// Cancels everything (the JobManager is gone).
    pub fn cancel_all(&self) {
        if let Ok(map) = self.inner.lock() {
            for a in map.values() {
                a.stop();
            }
        }
        if let Ok(mut left) = self.leftovers.lock() {
            left.clear();
        }
    }

    /// Starts checkpoint `id`: records its directory and triggers the
    /// `direct` subtasks that run here.
    #[allow(clippy::too_many_arguments)]
    pub fn trigger_checkpoint(
        &self,
        job_id: JobId,
        attempt: u32,
        id: u64,
        timestamp: i64,
        kind: SnapshotKind,
        location: String,
        direct: &[SubtaskId],
    ) {
        let Ok(map) = self.inner.lock() else { return };
        let Some(a) = map.get(&(job_id, attempt)) else {
            return;
        };
        a.locations.set(id, location);
        let (drain, stop) = match kind {
            SnapshotKind::StopWithSavepoint { drain } => (drain, true),
            _ => (false, false),
        };
        let barrier = riffle_common::CheckpointBarrier {
            checkpoint_id: id,
            timestamp_ms: timestamp,
            is_savepoint: kind.is_savepoint(),
            stop,
        };
        for t in direct {
            if let Some(tx) = a.commands.get(t) {
                // A subtask that already ended counts as done for the JobManager.
                let _ = tx.send(TaskCommand::Trigger { barrier, drain });
            }
        }
    }

    /// Checkpoint `id` completed: every local subtask commits (and ends, with `stop`).
    pub fn checkpoint_complete(&self, job_id: JobId, attempt: u32, id: u64, stop: bool) {
        let Ok(map) = self.inner.lock() else { return };
        if let Some(a) = map.get(&(job_id, attempt)) {
            for tx in a.commands.values() {
                let _ = tx.send(TaskCommand::Complete {
                    checkpoint_id: id,
                    stop,
                });
            }
        }
    }

    /// Takes up to `max` query rows of an attempt, running or ended.
    pub fn take_results(&self, job_id: JobId, attempt: u32, max: usize) -> Vec<ResultRow> {
        let key = (job_id, attempt);
        let live = self
            .inner
            .lock()
            .ok()
            .and_then(|m| m.get(&key).and_then(|a| a.collector.clone()));
        let rows = match live {
            Some(buffer) => buffer.take(max),
            None => {
                let Ok(mut left) = self.leftovers.lock() else {
                    return Vec::new();
                };
                let rows = left.get(&key).map(|b| b.take(max)).unwrap_or_default();
                if left.get(&key).is_some_and(|b| b.is_empty()) {
                    left.remove(&key);
                }
                rows
            }
        };
        rows.into_iter()
            .map(|r| ResultRow {
                kind: r.kind.short_string().to_string(),
                fields: r.fields,
            })
            .collect()
    }

    /// Takes a sample of every running subtask and updates the per-second
    /// rates; called once a second, so heartbeats and the Prometheus endpoint
    /// see the same rates however often they ask.
    pub fn sample(&self) {
        let Ok(map) = self.inner.lock() else { return };
        let Ok(mut rates) = self.rates.lock() else {
            return;
        };
        let mut current = HashMap::new();
        for ((job_id, attempt), a) in map.iter() {
            for t in a.metrics.tasks() {
                let s = t.sample();
                let key = (*job_id, *attempt, (t.vertex, t.subtask));
                let r = rates
                    .get(&key)
                    .map(|(old, _)| TaskRates::between(old, &s))
                    .unwrap_or_default();
                current.insert(key, (s, r));
            }
        }
        // Finished attempts drop out here.
        *rates = current;
    }

    /// Every running subtask with its counters and rates.
    pub fn tasks(&self) -> Vec<TaskView> {
        let (Ok(map), Ok(rates)) = (self.inner.lock(), self.rates.lock()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ((job_id, attempt), a) in map.iter() {
            for t in a.metrics.tasks() {
                let key = (*job_id, *attempt, (t.vertex, t.subtask));
                out.push(TaskView {
                    job_id: *job_id,
                    job_name: a.job_name.clone(),
                    attempt: *attempt,
                    vertex: t.vertex,
                    vertex_name: a.vertex_names.get(t.vertex).cloned().unwrap_or_default(),
                    subtask: t.subtask,
                    sample: t.sample(),
                    rates: rates.get(&key).map(|(_, r)| *r).unwrap_or_default(),
                });
            }
        }
        out
    }

    /// Counters of every running subtask, for heartbeats.
    pub fn reports(&self) -> Vec<SubtaskReport> {
        self.tasks().iter().map(report).collect()
    }

    /// The current counters of one subtask, for its final state report.
    fn final_counters(&self, job_id: JobId, attempt: u32, id: SubtaskId) -> Option<SubtaskReport> {
        self.tasks()
            .iter()
            .find(|t| (t.job_id, t.attempt, (t.vertex, t.subtask)) == (job_id, attempt, id))
            .map(report)
    }

    fn finish_one(&self, job_id: JobId, attempt: u32) {
        if let Ok(mut map) = self.inner.lock()
            && let Some(a) = map.get_mut(&(job_id, attempt))
        {
            a.running = a.running.saturating_sub(1);
            if a.running == 0
                && let Some(ended) = map.remove(&(job_id, attempt))
                && let Some(buffer) = ended.collector.filter(|b| !b.is_empty())
                && let Ok(mut left) = self.leftovers.lock()
            {
                // The query's last rows wait for the JobManager to fetch them.
                left.insert((job_id, attempt), buffer);
            }
        }
    }
}

impl InputRegistry for Attempts {
    fn lookup(&self, hs: &Handshake) -> Option<(Sender<Envelope>, Arc<AtomicBool>)> {
        let map = self.inner.lock().ok()?;
        let a = map.get(&(hs.job_id, hs.attempt))?;
        Some((a.inputs.get(&hs.to)?.clone(), Arc::clone(&a.cancel)))
    }

    fn channel_failed(&self, hs: &Handshake, reason: String) {
        tracing::warn!(job_id = %hs.job_id, subtask = %riffle_runtime::display::subtask(hs.to), %reason, "input channel failed");
        // The downstream subtask cannot finish correctly: fail the attempt here.
        self.cancel(hs.job_id, hs.attempt);
        if let Some(r) = self.reporter.lock().ok().and_then(|r| r.clone()) {
            r.report(failed(hs.job_id, hs.attempt, hs.to, reason));
        }
    }
}

impl Attempt {
    /// Cancels the subtasks and wakes a collect sink blocked on a full buffer.
    fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(c) = &self.collector {
            c.close();
        }
    }
}

/// A subtask's counters as heartbeats carry them.
fn report(t: &TaskView) -> SubtaskReport {
    let s = &t.sample;
    SubtaskReport {
        job_id: t.job_id,
        attempt: t.attempt,
        vertex: t.vertex,
        subtask: t.subtask,
        records_in: s.records_in,
        records_out: s.records_out,
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        busy_ms: s.busy_ns / 1_000_000,
        idle_ms: s.idle_ns / 1_000_000,
        backpressured_ms: s.backpressured_ns / 1_000_000,
        backpressured_ms_per_second: t.rates.backpressured_ms,
        busy_ms_per_second: t.rates.busy_ms,
        input_watermark: s.input_watermark,
        output_watermark: s.output_watermark,
        source_out: s.source_out,
        pending_records: s.pending_records,
    }
}

/// A task state message.
fn task_state(
    job_id: JobId,
    attempt: u32,
    id: SubtaskId,
    state: ExecutionState,
    failure: Option<String>,
) -> ToJobManager {
    ToJobManager::TaskState(TaskUpdate {
        job_id,
        attempt,
        vertex: id.0,
        subtask: id.1,
        state,
        failure,
        counters: None,
        restore_failed: false,
    })
}

fn failed(job_id: JobId, attempt: u32, id: SubtaskId, reason: String) -> ToJobManager {
    task_state(job_id, attempt, id, ExecutionState::Failed, Some(reason))
}

/// Channels to subtasks on other TaskManagers.
struct NetChannels<'a> {
    deployment: &'a Deployment,
    cancel: Arc<AtomicBool>,
    reporter: Arc<dyn Reporter>,
}

impl RemoteChannels for NetChannels<'_> {
    fn open(&self, addr: ChannelAddr) -> RtResult<Sender<Envelope>> {
        let d = self.deployment;
        let peer = d
            .placement
            .get(addr.to.0)
            .and_then(|v| v.get(addr.to.1))
            .cloned()
            .ok_or_else(|| {
                riffle_runtime::Error::Internal(format!(
                    "no placement for {}",
                    riffle_runtime::display::subtask(addr.to)
                ))
            })?;
        let (job_id, attempt, from) = (d.job_id, d.attempt, addr.from);
        let reporter = Arc::clone(&self.reporter);
        let cancel = Arc::clone(&self.cancel);
        let on_error = Arc::new(move |reason: String| {
            cancel.store(true, Ordering::Relaxed);
            reporter.report(failed(job_id, attempt, from, reason));
        });
        Ok(open_channel(
            peer,
            Handshake {
                job_id,
                attempt,
                from: addr.from,
                to: addr.to,
                channel: addr.channel,
            },
            Arc::clone(&self.cancel),
            on_error,
        )?)
    }
}

/// Rows a query's collect buffer holds before its sink waits for a fetch.
const COLLECT_CAPACITY: usize = 8192;

/// Plans a deployment's script into its job graph; a bare query's rows go
/// to `collector` when given.
pub fn plan(
    d: &Deployment,
    metrics: &Arc<JobMetrics>,
    collector: Option<Arc<CollectBuffer>>,
) -> Result<JobGraph, String> {
    let mut session = riffle_sql::Session::with_resolved(Arc::new(d.config.clone()));
    session.collector = collector;
    // Planned on riffle-sql's planner thread, whose stack (not this
    // deployment thread's) takes whatever the script nests.
    let script = session
        .plan(&d.script, metrics)
        .map_err(|e| format!("planning the job failed: {e}"))?;
    let mut graph = script
        .job
        .ok_or_else(|| "the job's script has no INSERT or SELECT".to_string())?;
    if graph.vertices.len() != d.parallelism.len() {
        return Err(format!(
            "the TaskManager planned {} vertices, the JobManager {}; are both the same \
             Riffle version?",
            graph.vertices.len(),
            d.parallelism.len()
        ));
    }
    // The JobManager's parallelisms rule: they include the per-vertex
    // overrides (pipeline.jobvertex-parallelism-overrides) it applied.
    let overrides: std::collections::BTreeMap<String, usize> = d
        .parallelism
        .iter()
        .enumerate()
        .map(|(i, p)| (i.to_string(), *p))
        .collect();
    graph.apply_parallelism_overrides(|i| i.to_string(), &overrides)?;
    Ok(graph)
}

impl Attempts {
    /// Sets the observer of new attempts.
    pub fn observe(&self, f: AttemptObserver) {
        if let Ok(mut slot) = self.observer.lock() {
            *slot = Some(f);
        }
    }

    /// The reporter failures of incoming channels go to.
    pub fn set_reporter(&self, r: Arc<dyn Reporter>) {
        if let Ok(mut slot) = self.reporter.lock() {
            *slot = Some(r);
        }
    }
}

/// Deploys an attempt: plans, wires and starts its local subtasks.
pub fn deploy(attempts: &Arc<Attempts>, d: Deployment, reporter: Arc<dyn Reporter>) {
    let (job_id, attempt) = (d.job_id, d.attempt);
    // Every log line of this attempt's subtasks carries the job id and attempt.
    let _span = tracing::info_span!("job", job_id = %job_id, attempt).entered();
    let state = move |id: SubtaskId, state: ExecutionState, failure: Option<String>| {
        task_state(job_id, attempt, id, state, failure)
    };
    let fail_with = |reason: String, restore_failed: bool| {
        for &id in &d.subtasks {
            let mut msg = state(id, ExecutionState::Failed, Some(reason.clone()));
            if let ToJobManager::TaskState(u) = &mut msg {
                u.restore_failed = restore_failed;
            }
            reporter.report(msg);
        }
    };
    let fail_all = |reason: String| fail_with(reason, false);
    let metrics = Arc::new(JobMetrics::default());
    if let Some(observe) = attempts.observer.lock().ok().and_then(|o| o.clone()) {
        observe(job_id, attempt, &metrics);
    }
    let collect = d.config.execution.result_collect;
    let collector = collect.then(|| Arc::new(CollectBuffer::new(COLLECT_CAPACITY)));
    let graph = match plan(&d, &metrics, collector.clone()) {
        Ok(g) => g,
        Err(e) => return fail_all(e),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let local: std::collections::HashSet<SubtaskId> = d.subtasks.iter().copied().collect();
    let storage = graph.config.storage.clone();
    let locations = Arc::new(Locations::default());
    let uploader = Arc::new(Uploader {
        job_id,
        attempt,
        storage: storage.clone(),
        locations: Arc::clone(&locations),
        reporter: Arc::clone(&reporter),
    });
    let restore = match d.restore.clone() {
        None => None,
        Some(spec) => match RestoreStore::open(spec, &storage) {
            Ok(store) => Some(Arc::new(store) as Arc<dyn riffle_runtime::checkpoint::StateStore>),
            Err(e) => return fail_with(e, true),
        },
    };
    let checkpointing = Checkpointing {
        context: Some(CheckpointContext {
            listener: Arc::new(UploadListener(uploader)),
        }),
        restore,
    };
    let remote = NetChannels {
        deployment: &d,
        cancel: Arc::clone(&cancel),
        reporter: Arc::clone(&reporter),
    };
    let Wiring {
        subtasks,
        inputs,
        commands,
    } = match wire(
        &graph,
        &|id| local.contains(&id),
        &remote,
        &metrics,
        &cancel,
        &checkpointing,
    ) {
        Ok(w) => w,
        Err(e) => return fail_with(format!("deploying the job failed: {e}"), e.is_restore()),
    };
    if let Ok(mut map) = attempts.inner.lock() {
        map.insert(
            (job_id, attempt),
            Attempt {
                commands,
                locations,
                collector,
                job_name: d.job_name.clone(),
                vertex_names: graph.vertices.iter().map(|v| v.name.clone()).collect(),
                cancel: Arc::clone(&cancel),
                inputs,
                metrics,
                running: subtasks.len(),
            },
        );
    }
    for st in &subtasks {
        let id = (st.info.vertex_id, st.info.subtask_index);
        reporter.report(state(id, ExecutionState::Running, None));
    }
    let done = Arc::clone(attempts);
    let r = Arc::clone(&reporter);
    let on_exit = Arc::new(move |(id, result): (SubtaskId, RtResult<()>)| {
        let mut msg = match result {
            Ok(()) => state(id, ExecutionState::Finished, None),
            Err(e) if e.is_cancelled() => state(id, ExecutionState::Canceled, None),
            Err(e) => {
                tracing::error!(%job_id, subtask = %riffle_runtime::display::subtask(id), error = %e, "subtask failed");
                state(id, ExecutionState::Failed, Some(e.to_string()))
            }
        };
        if let ToJobManager::TaskState(u) = &mut msg {
            u.counters = done.final_counters(job_id, attempt, id);
        }
        r.report(msg);
        done.finish_one(job_id, attempt);
    });
    if let Err(e) = spawn(subtasks, &cancel, on_exit) {
        cancel.store(true, Ordering::Relaxed);
        fail_all(format!("cannot start subtask threads: {e}"));
    }
}
