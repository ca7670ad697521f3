//! The local executor: runs a whole job graph inside this process.
//!
//! One OS thread per subtask, bounded channels between them (see
//! [`crate::exchange`]). This is the embedded mini-cluster of `riffle run`;
//! the distributed runtime reuses [`crate::task::Subtask`] unchanged and only
//! replaces the channels with network exchanges.
//!
//! Failure rule: the first subtask error cancels the job (every task checks the
//! shared flag while blocked), all threads are joined, and that first error is
//! returned — never a cancellation that it caused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};

use crate::exchange::{EdgeWriter, Envelope};
use crate::graph::{JobGraph, Partitioning};
use crate::metrics::JobMetrics;
use crate::operator::TaskInfo;
use crate::task::{InputGate, Subtask};
use crate::{Error, Result};

/// Capacity (in messages, i.e. batches) of each subtask's input channel.
/// With 8192-row batches this bounds in-flight data per subtask to a few MB.
const CHANNEL_CAPACITY: usize = 16;

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// Wall time from start to the last subtask's end.
    pub duration: Duration,
    /// Rows produced by all sources.
    pub source_records: u64,
    /// Rows written by all sinks.
    pub sink_records: u64,
}

/// Runs job graphs in this process.
#[derive(Debug, Default, Clone)]
pub struct LocalExecutor {
    cancel: Arc<AtomicBool>,
    metrics: Arc<JobMetrics>,
}

impl LocalExecutor {
    /// A new executor with fresh metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag that cancels the running job when set.
    pub fn cancel_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// The job's live counters.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs the graph to completion.
    pub fn run(&self, graph: &JobGraph) -> Result<JobOutcome> {
        let start = Instant::now();
        let subtasks = self.build(graph)?;
        let first_error: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let mut handles = Vec::new();
        for st in subtasks {
            let name = format!("{}-{}", st.info.vertex_name, st.info.subtask_index);
            let cancel = Arc::clone(&self.cancel);
            let first_error = Arc::clone(&first_error);
            let handle = std::thread::Builder::new()
                .name(truncate(&name, 15))
                .spawn(move || {
                    if let Err(e) = st.run() {
                        if !e.is_cancelled() {
                            tracing::error!(error = %e, "subtask failed");
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                        cancel.store(true, Ordering::Relaxed);
                    }
                })?;
            handles.push(handle);
        }
        for h in handles {
            if h.join().is_err() {
                self.cancel.store(true, Ordering::Relaxed);
                if let Ok(mut slot) = first_error.lock() {
                    slot.get_or_insert(Error::Internal("a subtask thread panicked".into()));
                }
            }
        }
        if let Some(e) = first_error.lock().ok().and_then(|mut s| s.take()) {
            return Err(e);
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        Ok(JobOutcome {
            duration: start.elapsed(),
            source_records: self.metrics.source_records.load(Ordering::Relaxed),
            sink_records: self.metrics.sink_records.load(Ordering::Relaxed),
        })
    }

    /// Wires channels and instantiates every subtask.
    fn build(&self, graph: &JobGraph) -> Result<Vec<Subtask>> {
        let max_parallelism = graph.config.max_parallelism()?;
        let idle_timeout_ms = graph.config.source_idle_timeout_ms()?;
        let tz = graph.config.local_time_zone_offset_ms()?;
        // Per vertex and subtask: the input channel and which operator input each channel feeds.
        let mut senders: Vec<Vec<Option<Sender<Envelope>>>> = Vec::new();
        let mut gates: Vec<Vec<Option<InputGate>>> = Vec::new();
        // (edge index, upstream subtask) -> targets
        let mut channel_of: Vec<Vec<Vec<(usize, usize)>>> = Vec::new(); // edge -> up -> [(down, channel)]
        for v in &graph.vertices {
            let mut vs = Vec::new();
            let mut vg = Vec::new();
            for _ in 0..v.parallelism {
                if v.source.is_some() {
                    vs.push(None);
                    vg.push(None);
                } else {
                    let (tx, rx) = bounded(CHANNEL_CAPACITY);
                    vs.push(Some(tx));
                    vg.push(Some((rx, Vec::new())));
                }
            }
            senders.push(vs);
            gates.push(
                vg.into_iter()
                    .map(|g| g.map(|(rx, inputs)| InputGate::new(rx, inputs)))
                    .collect(),
            );
        }
        // Assign channel indices per downstream subtask.
        let mut inputs_per_down: Vec<Vec<Vec<usize>>> = graph
            .vertices
            .iter()
            .map(|v| vec![Vec::new(); v.parallelism])
            .collect();
        for edge in &graph.edges {
            let up = vertex(graph, edge.from)?;
            let down = vertex(graph, edge.to)?;
            let forward = matches!(edge.partitioning, Partitioning::Forward)
                && up.parallelism == down.parallelism;
            let mut per_up = vec![Vec::new(); up.parallelism];
            for (u, targets) in per_up.iter_mut().enumerate() {
                let downs: Vec<usize> = if forward {
                    vec![u]
                } else if matches!(edge.partitioning, Partitioning::Single) {
                    vec![0]
                } else {
                    (0..down.parallelism).collect()
                };
                for d in downs {
                    let inputs = &mut inputs_per_down[edge.to][d];
                    inputs.push(edge.input);
                    targets.push((d, inputs.len() - 1));
                }
            }
            channel_of.push(per_up);
        }
        // Rebuild gates with the channel -> input mapping.
        for (vi, v) in graph.vertices.iter().enumerate() {
            for s in 0..v.parallelism {
                if let Some(g) = gates[vi][s].take() {
                    gates[vi][s] = Some(InputGate::new(
                        g.into_receiver(),
                        inputs_per_down[vi][s].clone(),
                    ));
                }
            }
        }
        let mut subtasks = Vec::new();
        for v in &graph.vertices {
            for s in 0..v.parallelism {
                let info = TaskInfo {
                    job_name: graph.name.clone(),
                    vertex_name: v.name.clone(),
                    subtask_index: s,
                    parallelism: v.parallelism,
                    max_parallelism,
                    local_time_zone_offset_ms: tz,
                };
                let batch_size = graph.config.batch_size()?;
                let source = match &v.source {
                    Some(f) => Some(f.create_reader(&info, batch_size)?),
                    None => None,
                };
                let chain = v
                    .operators
                    .iter()
                    .map(|f| f.create(&info))
                    .collect::<Result<Vec<_>>>()?;
                let mut outputs = Vec::new();
                for (ei, edge) in graph.edges.iter().enumerate() {
                    if edge.from != v.id {
                        continue;
                    }
                    let targets = channel_of[ei][s]
                        .iter()
                        .map(|(d, ch)| {
                            senders[edge.to][*d]
                                .clone()
                                .map(|tx| (tx, *ch))
                                .ok_or_else(|| Error::Internal("edge into a source vertex".into()))
                        })
                        .collect::<Result<Vec<_>>>()?;
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
                        Arc::clone(&self.cancel),
                    ));
                }
                subtasks.push(Subtask {
                    info,
                    source,
                    input: gates[v.id][s].take(),
                    chain,
                    outputs,
                    metrics: Arc::clone(&self.metrics),
                    cancel: Arc::clone(&self.cancel),
                    idle_timeout_ms,
                });
            }
        }
        // Drop our copies of the senders so receivers see disconnection if all producers die.
        drop(senders);
        Ok(subtasks)
    }
}

fn vertex(graph: &JobGraph, id: usize) -> Result<&crate::graph::Vertex> {
    graph
        .vertices
        .get(id)
        .ok_or_else(|| Error::Internal(format!("edge names unknown vertex {id}")))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
