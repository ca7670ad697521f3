//! Wiring one process's share of a job: the subtasks placed here, the
//! channels between them, and the hooks for channels that cross processes.
//!
//! Every process that runs part of a job plans the same SQL into the same
//! [`JobGraph`], so the channel numbering below is the same everywhere: for
//! each downstream subtask, channels are numbered by edge (in graph order),
//! then by upstream subtask. A receiver can therefore tell the watermark and
//! end-of-input of each channel apart whether the sender is a thread next to
//! it or a process on another machine. The embedded mini-cluster places every
//! subtask locally; a TaskManager places the ones the JobManager assigned it
//! and reaches the others through [`RemoteChannels`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Sender, bounded, unbounded};
use riffle_common::keygroup::range_for_subtask;

use crate::checkpoint::uid::operator_uids;
use crate::checkpoint::{CheckpointContext, Items, StateStore, TaskCommand, restore_state};
use crate::exchange::{EdgeWriter, Envelope};
use crate::graph::{JobGraph, Partitioning};
use crate::metrics::JobMetrics;
use crate::operator::TaskInfo;
use crate::task::{InputGate, Subtask};
use crate::{Error, Result};

/// Capacity (in messages, i.e. batches) of each subtask's input channel.
/// With 8192-row batches this bounds in-flight data per subtask to a few MB.
pub const CHANNEL_CAPACITY: usize = 16;

/// A subtask of a job: (vertex index, subtask index).
pub type SubtaskId = (usize, usize);

/// One channel: from an upstream subtask into a downstream subtask's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelAddr {
    /// Upstream subtask.
    pub from: SubtaskId,
    /// Downstream subtask.
    pub to: SubtaskId,
    /// Channel index at the downstream subtask.
    pub channel: usize,
}

/// Opens channels to subtasks that run in another process.
pub trait RemoteChannels {
    /// A sender whose messages arrive at `addr.to`'s input on `addr.channel`.
    fn open(&self, addr: ChannelAddr) -> Result<Sender<Envelope>>;
}

/// For a process that runs every subtask itself.
#[derive(Debug)]
pub struct NoRemote;

impl RemoteChannels for NoRemote {
    fn open(&self, addr: ChannelAddr) -> Result<Sender<Envelope>> {
        Err(Error::Internal(format!(
            "subtask {} of vertex {} is not placed in this process",
            addr.to.1, addr.to.0
        )))
    }
}

/// The subtasks of this process, ready to run.
pub struct Wiring {
    /// The subtasks.
    pub subtasks: Vec<Subtask>,
    /// The input channel of every local non-source subtask, for receivers of
    /// remote channels to deliver into.
    pub inputs: HashMap<SubtaskId, Sender<Envelope>>,
    /// The command channel of every local subtask.
    pub commands: HashMap<SubtaskId, Sender<TaskCommand>>,
}

/// How a job's subtasks take part in checkpoints.
#[derive(Clone, Default)]
pub struct Checkpointing {
    /// Where snapshots go; `None`: the job takes no checkpoints.
    pub context: Option<CheckpointContext>,
    /// The checkpoint to restore from, if any.
    pub restore: Option<Arc<dyn StateStore>>,
}

impl std::fmt::Debug for Checkpointing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointing")
            .field("context", &self.context)
            .field("restore", &self.restore.is_some())
            .finish()
    }
}

impl std::fmt::Debug for Wiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring")
            .field("subtasks", &self.subtasks.len())
            .field("inputs", &self.inputs.len())
            .finish()
    }
}

/// For each edge and upstream subtask, the downstream subtasks it sends to
/// and the channel index each assigns it. Also, per vertex and subtask, the
/// operator input that each channel feeds.
#[derive(Debug)]
pub struct ChannelMap {
    /// edge -> upstream subtask -> [(downstream subtask, channel)].
    pub targets: Vec<Vec<Vec<(usize, usize)>>>,
    /// vertex -> subtask -> operator input per channel.
    pub inputs: Vec<Vec<Vec<usize>>>,
}

impl ChannelMap {
    /// Numbers the channels of a graph.
    pub fn of(graph: &JobGraph) -> Result<ChannelMap> {
        let mut inputs: Vec<Vec<Vec<usize>>> = graph
            .vertices
            .iter()
            .map(|v| vec![Vec::new(); v.parallelism])
            .collect();
        let mut targets = Vec::new();
        for edge in &graph.edges {
            let up = vertex(graph, edge.from)?;
            let down = vertex(graph, edge.to)?;
            let forward = matches!(edge.partitioning, Partitioning::Forward)
                && up.parallelism == down.parallelism;
            let mut per_up = vec![Vec::new(); up.parallelism];
            for (u, t) in per_up.iter_mut().enumerate() {
                let downs: Vec<usize> = if forward {
                    vec![u]
                } else if matches!(edge.partitioning, Partitioning::Single) {
                    vec![0]
                } else {
                    (0..down.parallelism).collect()
                };
                for d in downs {
                    let channels = inputs
                        .get_mut(edge.to)
                        .and_then(|v| v.get_mut(d))
                        .ok_or_else(|| Error::Internal(format!("no subtask {d} of {}", edge.to)))?;
                    channels.push(edge.input);
                    t.push((d, channels.len() - 1));
                }
            }
            targets.push(per_up);
        }
        Ok(ChannelMap { targets, inputs })
    }
}

/// Builds the subtasks that `is_local` places in this process, restoring
/// their state when `checkpointing` names a checkpoint.
pub fn wire(
    graph: &JobGraph,
    is_local: &dyn Fn(SubtaskId) -> bool,
    remote: &dyn RemoteChannels,
    metrics: &Arc<JobMetrics>,
    cancel: &Arc<AtomicBool>,
    checkpointing: &Checkpointing,
) -> Result<Wiring> {
    let uids = operator_uids(graph);
    let periodic = graph.config.checkpointing_enabled();
    let mut commands = HashMap::new();
    let execution = &graph.config.execution;
    let max_parallelism = execution.max_parallelism;
    let idle_timeout_ms = execution.source_idle_timeout_ms;
    let tz = execution.local_time_zone_offset_ms;
    let batch_size = execution.batch_size;
    let map = ChannelMap::of(graph)?;

    // Input channels of the local non-source subtasks.
    let mut senders: HashMap<SubtaskId, Sender<Envelope>> = HashMap::new();
    let mut gates: HashMap<SubtaskId, InputGate> = HashMap::new();
    for v in &graph.vertices {
        if v.source.is_some() {
            continue;
        }
        for s in 0..v.parallelism {
            if !is_local((v.id, s)) {
                continue;
            }
            let (tx, rx) = bounded(CHANNEL_CAPACITY);
            let channels = map.inputs[v.id][s].clone();
            senders.insert((v.id, s), tx);
            gates.insert((v.id, s), InputGate::new(rx, channels));
        }
    }

    let mut subtasks = Vec::new();
    let mut restores = Vec::new();
    for v in &graph.vertices {
        for s in 0..v.parallelism {
            if !is_local((v.id, s)) {
                continue;
            }
            let info = TaskInfo {
                job_name: graph.name.clone(),
                vertex_id: v.id,
                vertex_name: v.name.clone(),
                subtask_index: s,
                parallelism: v.parallelism,
                max_parallelism,
                local_time_zone_offset_ms: tz,
                checkpointing: periodic,
            };
            let task_metrics = metrics.register_task(v.id, &v.name, s);
            let vertex_uids = uids.get(v.id).cloned().unwrap_or_default();
            let mut uid_iter = vertex_uids.into_iter();
            let source_state = match &v.source {
                Some(f) => uid_iter.next().map(|u| (u, f.state_descriptor())),
                None => None,
            };
            let source = match &v.source {
                Some(f) => {
                    let restored = match (&checkpointing.restore, &source_state) {
                        (Some(store), Some((uid, desc))) => {
                            let items = if f.restores_union() {
                                Items::Union
                            } else {
                                Items::Dealt
                            };
                            restore_state(store.as_ref(), uid, desc, &info, items)?.map(|r| r.items)
                        }
                        _ => None,
                    };
                    let mut reader = f.create_reader(&info, batch_size, restored)?;
                    reader.bind_metrics(Arc::clone(&task_metrics));
                    Some(reader)
                }
                None => None,
            };
            let mut chain = Vec::with_capacity(v.operators.len());
            let mut operator_state = Vec::with_capacity(v.operators.len());
            for f in &v.operators {
                let op = f.create(&info)?;
                let identity = match (uid_iter.next(), f.state_descriptor()) {
                    (Some(uid), Some(desc)) => Some((uid, desc)),
                    _ => None,
                };
                if let Some((uid, desc)) = &identity {
                    restores.push(Restore {
                        subtask: subtasks.len(),
                        operator: chain.len(),
                        uid: uid.clone(),
                        descriptor: desc.clone(),
                        name: f.name(),
                    });
                }
                chain.push(op);
                operator_state.push(identity);
            }
            let (command_tx, command_rx) = unbounded();
            commands.insert((v.id, s), command_tx);
            let mut outputs = Vec::new();
            for (ei, edge) in graph.edges.iter().enumerate() {
                if edge.from != v.id {
                    continue;
                }
                let mut targets = Vec::new();
                for &(d, channel) in &map.targets[ei][s] {
                    let tx = if is_local((edge.to, d)) {
                        senders
                            .get(&(edge.to, d))
                            .cloned()
                            .ok_or_else(|| Error::Internal("edge into a source vertex".into()))?
                    } else {
                        remote.open(ChannelAddr {
                            from: (v.id, s),
                            to: (edge.to, d),
                            channel,
                        })?
                    };
                    targets.push((tx, channel));
                }
                let partitioning = if targets.len() == 1 {
                    Partitioning::Forward
                } else {
                    edge.partitioning.clone()
                };
                outputs.push(EdgeWriter::new(
                    partitioning,
                    targets,
                    s,
                    max_parallelism,
                    Arc::clone(cancel),
                    Arc::clone(&task_metrics),
                ));
            }
            subtasks.push(Subtask {
                info,
                source,
                input: gates.remove(&(v.id, s)),
                chain,
                outputs,
                metrics: Arc::clone(metrics),
                task_metrics,
                cancel: Arc::clone(cancel),
                idle_timeout_ms,
                source_state,
                operator_state,
                key_groups: range_for_subtask(s, max_parallelism, v.parallelism),
                commands: command_rx,
                checkpoints: checkpointing.context.clone(),
                taking: None,
                stopping: false,
                stop_committed: false,
            });
        }
    }
    if let Some(store) = &checkpointing.restore {
        restore_operators(&mut subtasks, restores, store.as_ref())?;
    }
    Ok(Wiring {
        subtasks,
        inputs: senders,
        commands,
    })
}

/// An operator instance whose state may be in the restored checkpoint.
struct Restore {
    subtask: usize,
    operator: usize,
    uid: String,
    descriptor: String,
    name: String,
}

/// Restores operator state, one thread per subtask: reading and decoding a
/// gigabyte of state takes seconds, and recovery should take that once,
/// not once per subtask.
fn restore_operators(
    subtasks: &mut [Subtask],
    restores: Vec<Restore>,
    store: &dyn StateStore,
) -> Result<()> {
    let mut per_subtask: Vec<Vec<Restore>> = subtasks.iter().map(|_| Vec::new()).collect();
    for r in restores {
        if let Some(list) = per_subtask.get_mut(r.subtask) {
            list.push(r);
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = subtasks
            .iter_mut()
            .zip(per_subtask)
            .filter(|(_, list)| !list.is_empty())
            .map(|(st, list)| scope.spawn(move || restore_subtask(st, list, store)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Internal("a state restore thread panicked".into())))
        })
    })
}

fn restore_subtask(st: &mut Subtask, list: Vec<Restore>, store: &dyn StateStore) -> Result<()> {
    for r in list {
        let started = std::time::Instant::now();
        let Some(state) = restore_state(store, &r.uid, &r.descriptor, &st.info, Items::Dealt)?
        else {
            continue;
        };
        let op = st
            .chain
            .get_mut(r.operator)
            .ok_or_else(|| Error::Internal(format!("no operator {} to restore", r.operator)))?;
        op.restore(state)
            .map_err(|e| e.context(format!("restoring {} ({})", r.name, r.uid)))?;
        tracing::info!(
            operator = r.uid.as_str(),
            subtask = st.info.subtask_index,
            ms = started.elapsed().as_millis() as u64,
            "state restored"
        );
    }
    Ok(())
}

/// How a subtask ended.
pub type Exit = (SubtaskId, Result<()>);

/// Starts one thread per subtask. `on_exit` is called from each thread when
/// its subtask ends; the first failure also sets `cancel`, so the others stop.
pub fn spawn(
    subtasks: Vec<Subtask>,
    cancel: &Arc<AtomicBool>,
    on_exit: Arc<dyn Fn(Exit) + Send + Sync>,
) -> Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    // The caller's span (the TaskManager's names the job and attempt) is the
    // parent of every subtask's span, so each log line of a task says which
    // job and task it comes from.
    let parent = tracing::Span::current();
    for st in subtasks {
        let id = (st.info.vertex_id, st.info.subtask_index);
        let name = format!("{}-{}", st.info.vertex_name, st.info.subtask_index);
        let task = format!(
            "{} ({}/{})",
            st.info.vertex_name,
            st.info.subtask_index + 1,
            st.info.parallelism
        );
        let span = tracing::info_span!(parent: &parent, "task", task = %task);
        let cancel = Arc::clone(cancel);
        let on_exit = Arc::clone(&on_exit);
        let handle = std::thread::Builder::new()
            .name(name.chars().take(15).collect())
            .spawn(move || {
                let _entered = span.enter();
                tracing::info!("switched to RUNNING");
                // A bug in an operator must fail the job (and let the restart
                // strategy act), not leave it waiting for a thread that died.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| st.run()))
                    .unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "no message".into());
                        Err(Error::Internal(format!("the task panicked: {what}")))
                    });
                match &result {
                    Ok(()) => tracing::info!("switched to FINISHED"),
                    Err(e) if e.is_cancelled() => tracing::info!("switched to CANCELED"),
                    Err(e) => tracing::info!(error = %e, "switched to FAILED"),
                }
                if result.is_err() {
                    cancel.store(true, Ordering::Relaxed);
                }
                on_exit((id, result));
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Collects the first real failure among subtask exits (never a cancellation
/// that the failure caused).
#[derive(Debug, Default)]
pub struct FirstError(Mutex<Option<Error>>);

impl FirstError {
    /// Records `e` unless an earlier failure is known or `e` is a cancellation.
    pub fn record(&self, e: Error) {
        if e.is_cancelled() {
            return;
        }
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(e);
        }
    }

    /// Takes the recorded failure.
    pub fn take(&self) -> Option<Error> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

fn vertex(graph: &JobGraph, id: usize) -> Result<&crate::graph::Vertex> {
    graph
        .vertices
        .get(id)
        .ok_or_else(|| Error::Internal(format!("edge names unknown vertex {id}")))
}
