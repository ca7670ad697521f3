//! A subtask: one thread that drives a chain of operators.
//!
//! Input side (non-source vertices): one bounded channel carries envelopes from
//! every upstream subtask. The task keeps, per input channel, the last
//! watermark and whether the channel has ended. The combined watermark is the
//! minimum over the channels that have not ended (`i64::MAX` once all have);
//! it is handed to the chain only when it advances. A checkpoint barrier is
//! handed on once every open channel has delivered it (snapshots arrive with
//! the fault-tolerance work; until then barriers only pass through). When all
//! channels have ended, the chain sees `Watermark::MAX`, then each operator's
//! `on_end_of_input` in chain order, and the task sends end-of-input downstream.
//!
//! Source vertices pull their reader instead, in the same thread, so source,
//! chained operators and output cost no thread hand-off. A source that has
//! produced nothing for `table.exec.source.idle-timeout` declares itself idle
//! downstream; a receiver leaves idle channels out of the watermark minimum
//! (and is idle itself, downstream, when all its open channels are), so one
//! silent split does not stall every window. Data makes a channel active again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use riffle_common::{Chunk, Message, Watermark};

use crate::connector::{SourcePoll, SourceReader};
use crate::exchange::{EdgeWriter, Envelope};
use crate::metrics::{JobMetrics, TaskMetrics};
use crate::operator::{Operator, Output, TaskInfo};
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

/// The input side of a non-source subtask.
pub struct InputGate {
    rx: Receiver<Envelope>,
    channels: Vec<ChannelState>,
    combined: i64,
    barrier_counts: HashMap<u64, usize>,
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
            barrier_counts: HashMap::new(),
            idle: false,
        }
    }

    /// Gives back the receiver (used when the channel mapping is rebuilt).
    pub fn into_receiver(self) -> Receiver<Envelope> {
        self.rx
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
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
        loop {
            self.check_cancel()?;
            match reader.poll()? {
                SourcePoll::Batch(b) => {
                    last_data = std::time::Instant::now();
                    if idle {
                        idle = false;
                        self.send_downstream(Message::Idle(false))?;
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
        self.flush_chain()
    }

    fn run_input(&mut self) -> Result<()> {
        let mut gate = self
            .input
            .take()
            .ok_or_else(|| Error::Internal("task without input".into()))?;
        while gate.open_channels() > 0 {
            self.check_cancel()?;
            let timeout = self
                .next_timer()
                .map(|t| Duration::from_millis((t - now_ms()).clamp(0, 50) as u64))
                .unwrap_or(IDLE_WAIT);
            let waiting = Instant::now();
            let received = gate.rx.recv_timeout(timeout);
            self.task_metrics.add_idle(waiting.elapsed());
            match received {
                Ok((channel, msg)) => self.on_envelope(&mut gate, channel, msg)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.check_cancel()?;
                    return Err(Error::Internal(
                        "all upstream tasks vanished before end of input".into(),
                    ));
                }
            }
            self.fire_timers()?;
        }
        self.flush_chain()
    }

    fn on_envelope(&mut self, gate: &mut InputGate, channel: usize, msg: Message) -> Result<()> {
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
                self.advance_watermark(gate)
            }
            Message::Barrier(b) => {
                let count = gate.barrier_counts.entry(b.checkpoint_id).or_insert(0);
                *count += 1;
                if *count >= gate.open_channels() {
                    gate.barrier_counts.remove(&b.checkpoint_id);
                    self.push(0, vec![Message::Barrier(b)])
                } else {
                    Ok(())
                }
            }
            Message::EndOfInput => {
                state.ended = true;
                self.advance_watermark(gate)
            }
        }
    }

    /// Hands the combined input watermark to the chain when it advanced.
    fn advance_watermark(&mut self, gate: &mut InputGate) -> Result<()> {
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
        for (i, op) in self.chain.iter_mut().enumerate().skip(from) {
            if msgs.is_empty() {
                return Ok(());
            }
            for msg in msgs.drain(..) {
                match msg {
                    Message::Data(c) => {
                        if i == tail {
                            self.task_metrics.add_tail_in(c.num_rows());
                        }
                        op.process(0, c, &mut out)?
                    }
                    Message::Watermark(w) => op.on_watermark(w, &mut out)?,
                    Message::Barrier(b) => op.on_barrier(b, &mut out)?,
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
