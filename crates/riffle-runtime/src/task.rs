//! A subtask: one thread that drives a chain of operators.
//!
//! Input side (non-source vertices): one bounded channel carries envelopes from
//! every upstream subtask. The task keeps, per input channel, the last
//! watermark and whether the channel has ended. The combined watermark is the
//! minimum over the channels that have not ended (`i64::MAX` once all have);
//! it is handed to the chain only when it advances. When all channels have
//! ended, the chain sees `Watermark::MAX`, then each operator's
//! `on_end_of_input` in chain order, and the task sends end-of-input downstream.
//!
//! Checkpoints use aligned barriers. A channel that delivered barrier `n` is
//! blocked: its later messages wait in the gate until every open channel has
//! delivered `n` (or ended). Then the barrier runs through the chain; each
//! stateful operator writes its snapshot just before forwarding it, so the
//! snapshot holds exactly the effect of the records before the barrier on
//! every input. The encoded files go to the [`SnapshotListener`], which
//! uploads them while the subtask goes on. Sources take barriers from
//! [`TaskCommand::Trigger`] between two batches and snapshot their splits
//! first. With periodic checkpoints, a subtask whose chain commits output
//! on checkpoints (an exactly-once sink) does not end with its input: it
//! waits for the final checkpoint, so nothing becomes visible that a
//! restore from an earlier checkpoint would produce again.
//!
//! Source vertices pull their reader instead, in the same thread, so source,
//! chained operators and output cost no thread hand-off. A source that has
//! produced nothing for `table.exec.source.idle-timeout` declares itself idle
//! downstream; a receiver leaves idle channels out of the watermark minimum
//! (and is idle itself, downstream, when all its open channels are), so one
//! silent split does not stall every window. Data makes a channel active again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use riffle_common::keygroup::KeyGroupRange;
use riffle_common::{CheckpointBarrier, Chunk, Message, Watermark};

use crate::checkpoint::{
    CheckpointContext, OperatorSnapshot, SnapshotListener, SnapshotPart, SubtaskSnapshot,
    TaskCommand,
};
use crate::clock::now_ms;
use crate::connector::{SourcePoll, SourceReader};
use crate::exchange::{EdgeWriter, Envelope};
use crate::metrics::{JobMetrics, TaskMetrics};
use crate::operator::{Operator, Output, SourceSplit, TaskInfo};
use crate::{Error, Result};

/// How long an idle task waits before checking cancellation and timers again.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// Per-channel bookkeeping of the input side.
#[derive(Debug, Clone)]
struct ChannelState {
    input: usize,
    watermark: i64,
    ended: bool,
    idle: bool,
}

/// Barrier alignment in progress.
#[derive(Debug)]
struct Alignment {
    barrier: CheckpointBarrier,
    /// Channels that delivered the barrier.
    blocked: Vec<bool>,
    started: Instant,
}

/// The input side of a non-source subtask.
pub struct InputGate {
    rx: Receiver<Envelope>,
    channels: Vec<ChannelState>,
    combined: i64,
    /// The checkpoint being aligned, if any.
    aligning: Option<Alignment>,
    /// Messages of blocked channels, in arrival order.
    held: VecDeque<Envelope>,
    /// The newest checkpoint already passed on (older barriers are stale).
    last_checkpoint: u64,
    /// Whether this task told its downstream that it is idle.
    idle: bool,
}

impl InputGate {
    /// `inputs[c]` is the operator input (0 or 1) that channel `c` feeds.
    pub fn new(rx: Receiver<Envelope>, inputs: Vec<usize>) -> Self {
        InputGate {
            rx,
            channels: inputs
                .into_iter()
                .map(|input| ChannelState {
                    input,
                    watermark: i64::MIN,
                    ended: false,
                    idle: false,
                })
                .collect(),
            combined: i64::MIN,
            aligning: None,
            held: VecDeque::new(),
            last_checkpoint: 0,
            idle: false,
        }
    }

    /// Gives back the receiver (used when the channel mapping is rebuilt).
    pub fn into_receiver(self) -> Receiver<Envelope> {
        self.rx
    }

    /// Whether a channel's messages are held back by an alignment.
    fn is_blocked(&self, channel: usize) -> bool {
        self.aligning
            .as_ref()
            .is_some_and(|a| a.blocked.get(channel).copied().unwrap_or(false))
    }

    /// Whether every open channel delivered the barrier being aligned.
    fn aligned(&self) -> bool {
        self.aligning.as_ref().is_some_and(|a| {
            self.channels
                .iter()
                .enumerate()
                .all(|(i, c)| c.ended || a.blocked.get(i).copied().unwrap_or(false))
        })
    }

    fn open_channels(&self) -> usize {
        self.channels.iter().filter(|c| !c.ended).count()
    }

    /// Whether every open channel is idle (and at least one is open).
    fn all_idle(&self) -> bool {
        let mut open = self.channels.iter().filter(|c| !c.ended).peekable();
        open.peek().is_some() && open.all(|c| c.idle)
    }

    fn recompute(&mut self) -> Option<Watermark> {
        let open = || self.channels.iter().filter(|c| !c.ended);
        let min = if open().next().is_some() && open().all(|c| c.idle) {
            // Every open channel is idle: what they reached is final for now
            // (Flink's valve then emits the maximum over all channels).
            open().map(|c| c.watermark).max().unwrap_or(i64::MIN)
        } else {
            open()
                .filter(|c| !c.idle)
                .map(|c| c.watermark)
                .min()
                .unwrap_or(i64::MAX)
        };
        if min > self.combined {
            self.combined = min;
            Some(Watermark(min))
        } else {
            None
        }
    }
}

/// One running subtask.
pub struct Subtask {
    /// Where it runs.
    pub info: TaskInfo,
    /// The reader, for source vertices.
    pub source: Option<Box<dyn SourceReader>>,
    /// The input gate, for other vertices.
    pub input: Option<InputGate>,
    /// The operator chain.
    pub chain: Vec<Box<dyn Operator>>,
    /// One writer per outgoing edge.
    pub outputs: Vec<EdgeWriter>,
    /// Shared counters.
    pub metrics: Arc<JobMetrics>,
    /// This subtask's counters.
    pub task_metrics: Arc<TaskMetrics>,
    /// Set when the job is cancelled or failing.
    pub cancel: Arc<AtomicBool>,
    /// `table.exec.source.idle-timeout` in ms (0: never idle).
    pub idle_timeout_ms: i64,
    /// The source's state identity `(uid, descriptor)`, for source vertices.
    pub source_state: Option<(String, String)>,
    /// Per chained operator: its state identity, `None` for stateless ones.
    pub operator_state: Vec<Option<(String, String)>>,
    /// The key groups this subtask owns (written into snapshot headers).
    pub key_groups: KeyGroupRange,
    /// Commands from the TaskManager (checkpoint triggers and completions).
    pub commands: Receiver<TaskCommand>,
    /// How the subtask takes part in checkpoints; `None`: it does not.
    pub checkpoints: Option<CheckpointContext>,
    /// The snapshot being taken while its barrier passes the chain.
    pub(crate) taking: Option<Taking>,
    /// A stop-with-savepoint barrier passed: no more output, no flush at the end.
    pub(crate) stopping: bool,
    /// The stop's savepoint completed and was committed here.
    pub(crate) stop_committed: bool,
}

/// A snapshot being taken while its barrier passes the chain.
pub(crate) struct Taking {
    barrier: CheckpointBarrier,
    files: Vec<SnapshotPart>,
    sync: Duration,
    alignment: Duration,
}

/// What a command asks the loop to do next.
#[derive(Debug, PartialEq)]
enum After {
    Continue,
    /// Stop producing (after a stop-with-savepoint barrier).
    Pause,
    /// End the subtask successfully.
    Finish,
}

impl Subtask {
    /// Runs to completion: until end of input, cancellation or an error.
    pub fn run(mut self) -> Result<()> {
        let label = format!(
            "{} ({}/{})",
            self.info.vertex_name,
            self.info.subtask_index + 1,
            self.info.parallelism
        );
        let result = if self.source.is_some() {
            self.run_source()
        } else {
            self.run_input()
        };
        result.map_err(|e| {
            if e.is_cancelled() {
                e
            } else {
                e.context(label)
            }
        })
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    fn run_source(&mut self) -> Result<()> {
        let mut reader = self
            .source
            .take()
            .ok_or_else(|| Error::Internal("source task without a reader".into()))?;
        let mut last_data = std::time::Instant::now();
        let mut idle = false;
        let mut paused = false;
        loop {
            self.check_cancel()?;
            while let Ok(cmd) = self.commands.try_recv() {
                match self.on_command(cmd, Some(reader.as_mut()))? {
                    After::Continue => {}
                    After::Pause => paused = true,
                    After::Finish => {
                        // Stopped with a savepoint: close the channels cleanly,
                        // the tasks downstream end once all their inputs did.
                        return self.send_downstream(Message::EndOfInput);
                    }
                }
            }
            if paused {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            match reader.poll()? {
                SourcePoll::Batch(b) => {
                    last_data = std::time::Instant::now();
                    if idle {
                        idle = false;
                        self.send_downstream(Message::Idle(false))?;
                    }
                    if let Some(split) = reader.batch_split() {
                        let assigned = reader.assigned_splits();
                        let at = SourceSplit {
                            split,
                            assigned: &assigned,
                            idle_timeout_ms: self.idle_timeout_ms,
                        };
                        for op in &mut self.chain {
                            op.on_source_split(&at);
                        }
                    }
                    self.metrics.add_source_records(b.num_rows());
                    self.task_metrics.add_source_out(b.num_rows());
                    self.push(0, vec![Message::Data(Chunk::insert_only(b))])?;
                }
                SourcePoll::Pending => {
                    if !idle
                        && self.idle_timeout_ms > 0
                        && last_data.elapsed().as_millis() as i64 >= self.idle_timeout_ms
                    {
                        idle = true;
                        self.send_downstream(Message::Idle(true))?;
                    }
                    let wait = self
                        .next_timer()
                        .map(|t| Duration::from_millis((t - now_ms()).clamp(0, 10) as u64))
                        .unwrap_or(Duration::from_millis(1));
                    std::thread::sleep(wait);
                    self.task_metrics.add_idle(wait);
                }
                SourcePoll::End => break,
            }
            self.fire_timers()?;
        }
        // A finished bounded source completes all event time, as in Flink.
        self.push(0, vec![Message::Watermark(Watermark::MAX)])?;
        self.flush_chain()?;
        self.await_final_checkpoint()
    }

    fn run_input(&mut self) -> Result<()> {
        let mut gate = self
            .input
            .take()
            .ok_or_else(|| Error::Internal("task without input".into()))?;
        let rx = gate.rx.clone();
        let commands = self.commands.clone();
        while gate.open_channels() > 0 {
            self.check_cancel()?;
            let timeout = self
                .next_timer()
                .map(|t| Duration::from_millis((t - now_ms()).clamp(0, 50) as u64))
                .unwrap_or(IDLE_WAIT);
            let waiting = Instant::now();
            select! {
                recv(rx) -> received => {
                    self.task_metrics.add_idle(waiting.elapsed());
                    match received {
                        Ok((channel, msg)) => self.on_envelope(&mut gate, channel, msg)?,
                        Err(_) => {
                            self.check_cancel()?;
                            return Err(Error::Internal(
                                "all upstream tasks vanished before end of input".into(),
                            ));
                        }
                    }
                }
                recv(commands) -> cmd => {
                    if let Ok(cmd) = cmd {
                        self.on_command(cmd, None)?;
                    }
                }
                default(timeout) => self.task_metrics.add_idle(waiting.elapsed()),
            }
            if !self.stopping {
                self.fire_timers()?;
            }
        }
        if self.stopping {
            // Stopped with a savepoint: what is left stays in the savepoint.
            self.send_downstream(Message::EndOfInput)?;
            return self.await_stop_commit();
        }
        self.flush_chain()?;
        self.await_final_checkpoint()
    }

    /// Waits until the stop's savepoint completed and was committed here.
    fn await_stop_commit(&mut self) -> Result<()> {
        while !self.stop_committed {
            self.check_cancel()?;
            match self.commands.recv_timeout(IDLE_WAIT) {
                Ok(cmd) => {
                    self.on_command(cmd, None)?;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Cancelled);
                }
            }
        }
        Ok(())
    }

    /// Handles a command from the TaskManager. `reader` is the source's,
    /// for source subtasks that are still reading.
    fn on_command(
        &mut self,
        cmd: TaskCommand,
        reader: Option<&mut dyn SourceReader>,
    ) -> Result<After> {
        match cmd {
            TaskCommand::Trigger { barrier, drain } => {
                let Some(reader) = reader else {
                    // A running subtask with inputs gets its barriers in-band.
                    return Ok(After::Continue);
                };
                if drain {
                    self.push(0, vec![Message::Watermark(Watermark::MAX)])?;
                }
                self.start_snapshot(barrier, Duration::ZERO);
                if let Some((uid, descriptor)) = self.source_state.clone() {
                    let started = Instant::now();
                    let mut snap = OperatorSnapshot::default();
                    match reader.snapshot_splits(barrier.checkpoint_id) {
                        Ok(splits) => {
                            for split in splits {
                                snap.item(split);
                            }
                            self.add_file(uid, &descriptor, snap, started, true);
                        }
                        Err(e) => self.snapshot_failed(barrier.checkpoint_id, e.to_string()),
                    }
                }
                self.push(0, vec![Message::Barrier(barrier)])?;
                self.finish_snapshot();
                if barrier.stop {
                    self.stopping = true;
                    return Ok(After::Pause);
                }
                Ok(After::Continue)
            }
            TaskCommand::Complete {
                checkpoint_id,
                stop,
            } => {
                if let Some(reader) = reader {
                    reader.notify_checkpoint_complete(checkpoint_id)?;
                }
                for op in &mut self.chain {
                    op.notify_checkpoint_complete(checkpoint_id)?;
                }
                if stop {
                    self.stop_committed = true;
                    return Ok(After::Finish);
                }
                Ok(After::Continue)
            }
        }
    }

    /// With periodic checkpoints, a chain that commits on checkpoints stays
    /// after its input ended until the final checkpoint completed.
    fn await_final_checkpoint(&mut self) -> Result<()> {
        // Whether checkpoints run periodically is the job configuration's
        // one answer, carried in the task's info.
        let waits = self.checkpoints.is_some()
            && self.info.checkpointing
            && self.chain.iter().any(|op| op.commits_on_checkpoint());
        if !waits {
            return Ok(());
        }
        if let Some(cx) = &self.checkpoints {
            cx.listener
                .end_of_input((self.info.vertex_id, self.info.subtask_index));
        }
        loop {
            self.check_cancel()?;
            let cmd = match self.commands.recv_timeout(IDLE_WAIT) {
                Ok(cmd) => cmd,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                // The TaskManager dropped the attempt: nothing to commit into.
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(Error::Cancelled);
                }
            };
            match cmd {
                TaskCommand::Trigger { barrier, .. } => {
                    // Input has ended: the snapshot is taken here directly.
                    self.start_snapshot(barrier, Duration::ZERO);
                    if let Some((uid, descriptor)) = self.source_state.clone() {
                        // A finished source has no splits left.
                        self.add_file(
                            uid,
                            &descriptor,
                            OperatorSnapshot::default(),
                            Instant::now(),
                            true,
                        );
                    }
                    for i in 0..self.chain.len() {
                        self.snapshot_operator(i, barrier.checkpoint_id);
                    }
                    self.finish_snapshot();
                }
                TaskCommand::Complete {
                    checkpoint_id,
                    stop,
                } => {
                    for op in &mut self.chain {
                        op.notify_checkpoint_complete(checkpoint_id)?;
                    }
                    if stop {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn listener(&self) -> Option<Arc<dyn SnapshotListener>> {
        self.checkpoints.as_ref().map(|c| Arc::clone(&c.listener))
    }

    fn start_snapshot(&mut self, barrier: CheckpointBarrier, alignment: Duration) {
        self.taking = Some(Taking {
            barrier,
            files: Vec::new(),
            sync: Duration::ZERO,
            alignment,
        });
    }

    /// Adds one operator instance's snapshot to the one being taken; it is
    /// encoded by the listener, off this thread. Empty state of an operator
    /// writes no file (it restores as empty); a source always writes one,
    /// since no splits means "finished".
    fn add_file(
        &mut self,
        uid: String,
        descriptor: &str,
        snapshot: OperatorSnapshot,
        started: Instant,
        always: bool,
    ) {
        let key_groups = self.key_groups;
        if let Some(t) = self.taking.as_mut() {
            if always || !snapshot.is_empty() {
                t.files.push(SnapshotPart {
                    uid,
                    descriptor: descriptor.to_string(),
                    key_groups,
                    snapshot,
                });
            }
            t.sync += started.elapsed();
        }
    }

    /// Snapshots chain operator `i` if it has state.
    fn snapshot_operator(&mut self, i: usize, checkpoint_id: u64) {
        let Some(Some((uid, descriptor))) = self.operator_state.get(i).cloned() else {
            return;
        };
        if self.taking.is_none() {
            return;
        }
        let started = Instant::now();
        let mut snap = OperatorSnapshot::default();
        match self.chain[i].snapshot(checkpoint_id, &mut snap) {
            Ok(()) => self.add_file(uid, &descriptor, snap, started, false),
            Err(e) => self.snapshot_failed(checkpoint_id, format!("operator {uid}: {e}")),
        }
    }

    fn snapshot_failed(&mut self, checkpoint_id: u64, reason: String) {
        tracing::warn!(checkpoint_id, %reason, "cannot take my part of the checkpoint");
        if let Some(l) = self.listener() {
            l.snapshot_failed(
                (self.info.vertex_id, self.info.subtask_index),
                checkpoint_id,
                reason,
            );
        }
        self.taking = None;
    }

    /// Hands the finished snapshot to the listener.
    fn finish_snapshot(&mut self) {
        let Some(t) = self.taking.take() else { return };
        if let Some(l) = self.listener() {
            l.snapshot_taken(
                (self.info.vertex_id, self.info.subtask_index),
                SubtaskSnapshot {
                    barrier: t.barrier,
                    files: t.files,
                    sync_ms: t.sync.as_millis() as u64,
                    alignment_ms: t.alignment.as_millis() as u64,
                },
            );
        }
    }

    fn on_envelope(&mut self, gate: &mut InputGate, channel: usize, msg: Message) -> Result<()> {
        if gate.is_blocked(channel) {
            gate.held.push_back((channel, msg));
            return Ok(());
        }
        let state = gate
            .channels
            .get_mut(channel)
            .ok_or_else(|| Error::Internal(format!("message on unknown channel {channel}")))?;
        match msg {
            Message::Data(chunk) => {
                let input = state.input;
                if state.idle {
                    state.idle = false;
                    self.on_idleness(gate)?;
                }
                self.task_metrics
                    .add_in(chunk.num_rows(), chunk.data.get_array_memory_size());
                self.push_input(input, chunk)
            }
            Message::Idle(idle) => {
                state.idle = idle;
                self.on_idleness(gate)?;
                self.advance_watermark(gate)
            }
            Message::Watermark(w) => {
                state.watermark = state.watermark.max(w.0);
                // A watermark marks its channel active again, as in Flink (a
                // source idle for lack of records may still move event time
                // on: a partition it reads went idle).
                if state.idle {
                    state.idle = false;
                    self.on_idleness(gate)?;
                }
                self.advance_watermark(gate)
            }
            Message::Barrier(b) => self.on_barrier(gate, channel, b),
            Message::EndOfInput => {
                state.ended = true;
                self.advance_watermark(gate)?;
                self.complete_alignment(gate)
            }
        }
    }

    /// A barrier arrived on `channel`: block the channel until all have it.
    fn on_barrier(
        &mut self,
        gate: &mut InputGate,
        channel: usize,
        b: CheckpointBarrier,
    ) -> Result<()> {
        if b.checkpoint_id <= gate.last_checkpoint {
            return Ok(()); // stale: that checkpoint was passed on or given up
        }
        if let Some(a) = &gate.aligning
            && b.checkpoint_id > a.barrier.checkpoint_id
        {
            // A newer checkpoint overtook the one being aligned, which can
            // no longer complete here: give it up and release its channels.
            let old = a.barrier.checkpoint_id;
            tracing::debug!(old, new = b.checkpoint_id, "alignment superseded");
            gate.last_checkpoint = old;
            gate.aligning = None;
            self.snapshot_failed(old, "superseded by a newer checkpoint".into());
            gate.held.push_back((channel, Message::Barrier(b)));
            return self.release_held(gate);
        }
        let n = gate.channels.len();
        let a = gate.aligning.get_or_insert_with(|| Alignment {
            barrier: b,
            blocked: vec![false; n],
            started: Instant::now(),
        });
        if let Some(slot) = a.blocked.get_mut(channel) {
            *slot = true;
        }
        self.complete_alignment(gate)
    }

    /// Passes the aligned barrier on once every open channel delivered it,
    /// then replays what the blocked channels sent meanwhile.
    fn complete_alignment(&mut self, gate: &mut InputGate) -> Result<()> {
        if !gate.aligned() {
            return Ok(());
        }
        let Some(a) = gate.aligning.take() else {
            return Ok(());
        };
        gate.last_checkpoint = a.barrier.checkpoint_id;
        self.start_snapshot(a.barrier, a.started.elapsed());
        self.push(0, vec![Message::Barrier(a.barrier)])?;
        self.finish_snapshot();
        if a.barrier.stop {
            self.stopping = true;
        }
        self.release_held(gate)
    }

    /// Replays held messages; a barrier among them may block channels again.
    fn release_held(&mut self, gate: &mut InputGate) -> Result<()> {
        let held = std::mem::take(&mut gate.held);
        for (channel, msg) in held {
            self.on_envelope(gate, channel, msg)?;
        }
        Ok(())
    }

    /// Hands the combined input watermark to the chain when it advanced.
    /// After a stop barrier nothing moves on: inputs closing then must not
    /// complete event time (that would fire windows past the savepoint).
    fn advance_watermark(&mut self, gate: &mut InputGate) -> Result<()> {
        if self.stopping {
            return Ok(());
        }
        match gate.recompute() {
            Some(w) => {
                self.task_metrics
                    .input_watermark
                    .store(w.0, Ordering::Relaxed);
                self.push(0, vec![Message::Watermark(w)])
            }
            None => Ok(()),
        }
    }

    /// Tells downstream when this task as a whole turns idle or active.
    fn on_idleness(&mut self, gate: &mut InputGate) -> Result<()> {
        let all_idle = gate.all_idle();
        if all_idle != gate.idle {
            gate.idle = all_idle;
            self.send_downstream(Message::Idle(all_idle))?;
        }
        Ok(())
    }

    /// Delivers a chunk to the head operator's given input.
    fn push_input(&mut self, input: usize, chunk: Chunk) -> Result<()> {
        let mut out = Output::default();
        match self.chain.first_mut() {
            Some(op) => op.process(input, chunk, &mut out)?,
            None => out.emit(chunk),
        }
        let msgs: Vec<Message> = out.drain().collect();
        self.push(1, msgs)
    }

    /// Sends messages through operators `from..` of the chain, then downstream.
    fn push(&mut self, from: usize, mut msgs: Vec<Message>) -> Result<()> {
        let mut out = Output::default();
        let tail = self.chain.len().saturating_sub(1);
        for i in from..self.chain.len() {
            if msgs.is_empty() {
                return Ok(());
            }
            for msg in msgs.drain(..) {
                match msg {
                    Message::Data(c) => {
                        if i == tail {
                            self.task_metrics.add_tail_in(c.num_rows());
                        }
                        self.chain[i].process(0, c, &mut out)?
                    }
                    Message::Watermark(w) => self.chain[i].on_watermark(w, &mut out)?,
                    Message::Barrier(b) => {
                        // Snapshot where the barrier stands, then let it pass.
                        self.snapshot_operator(i, b.checkpoint_id);
                        self.chain[i].on_barrier(b, &mut out)?
                    }
                    Message::Idle(_) | Message::EndOfInput => {}
                }
            }
            msgs.extend(out.drain());
        }
        for msg in msgs {
            self.send_downstream(msg)?;
        }
        Ok(())
    }

    fn send_downstream(&mut self, msg: Message) -> Result<()> {
        match &msg {
            Message::Data(c) => self
                .task_metrics
                .add_out(c.num_rows(), c.data.get_array_memory_size()),
            Message::Watermark(w) => self
                .task_metrics
                .output_watermark
                .store(w.0, Ordering::Relaxed),
            _ => {}
        }
        match self.outputs.len() {
            0 => Ok(()),
            1 => self.outputs[0].send(msg),
            _ => {
                for w in &mut self.outputs {
                    w.send(msg.clone())?;
                }
                Ok(())
            }
        }
    }

    fn next_timer(&self) -> Option<i64> {
        self.chain
            .iter()
            .filter_map(|op| op.next_processing_timer())
            .min()
    }

    fn fire_timers(&mut self) -> Result<()> {
        if self.next_timer().is_none() {
            return Ok(());
        }
        let now = now_ms();
        for i in 0..self.chain.len() {
            if self.chain[i]
                .next_processing_timer()
                .is_some_and(|t| t <= now)
            {
                let mut out = Output::default();
                self.chain[i].on_processing_time(now, &mut out)?;
                let msgs: Vec<Message> = out.drain().collect();
                self.push(i + 1, msgs)?;
            }
        }
        Ok(())
    }

    /// End of input (after `Watermark::MAX` went through the chain): each
    /// operator's flush in chain order, then end-of-input downstream.
    fn flush_chain(&mut self) -> Result<()> {
        for i in 0..self.chain.len() {
            let mut out = Output::default();
            self.chain[i].on_end_of_input(&mut out)?;
            let msgs: Vec<Message> = out.drain().collect();
            self.push(i + 1, msgs)?;
        }
        self.send_downstream(Message::EndOfInput)
    }
}
