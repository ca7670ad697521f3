//! `WindowAggregate`: aggregation per key and window, one final result per
//! window when time passes its end.
//!
//! The rows arrive with their window already assigned (the window table
//! function ran upstream, one row per window a record belongs to), so the
//! window is just part of the key; the operator only needs to know which key
//! column is `window_end`. A window fires when the watermark reaches
//! `window_end - 1` (Flink's trigger time), or, for processing-time windows,
//! when the wall clock reaches `window_end`. A row whose window has already
//! fired is late and dropped — for hopping and cumulative windows that is per
//! window, exactly as Flink's slice-shared windows behave. End of input fires
//! every event-time window left; processing-time windows still open are
//! dropped, as in Flink (see [`Clock::on_end_of_input`]).
//!
//! Processing-time windows are assigned where the table function runs, before
//! the exchange; a row that reaches this operator after its window fired
//! (delayed in a channel) opens that window again and fires with the next
//! timer, rather than being dropped. Flink assigns at the window operator
//! itself, so it never sees such a row; moving the assignment here is the fix.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, Watermark};

use super::acc::{Acc, AggCall, BoundAggs, decode_accs, encode_accs};
use super::keys::{GroupKeys, assemble};
use crate::checkpoint::{Decoder, Encoder, OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::watermark::to_millis;
use crate::state::KeyedState;
use crate::{Error, Result};

/// Which clock closes windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDomain {
    /// The watermark (rowtime windows).
    EventTime,
    /// The wall clock (`PROCTIME()` windows).
    ProcessingTime,
}

/// When windows fire; shared by the window and session aggregates.
///
/// A window ending at `end` (a `window_end` value) is complete at its trigger
/// time `end - offset - 1` in epoch ms: on the watermark for event time, on
/// the wall clock for processing time. Only event time has late rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    time: TimeDomain,
    end_offset_ms: i64,
    watermark: i64,
}

impl Clock {
    pub(crate) fn new(time: TimeDomain, end_offset_ms: i64) -> Self {
        Clock {
            time,
            end_offset_ms,
            watermark: i64::MIN,
        }
    }

    /// The trigger time of a window ending at `end`.
    pub(crate) fn trigger(&self, end: i64) -> i64 {
        end.saturating_sub(self.end_offset_ms).saturating_sub(1)
    }

    /// Whether a window ending at `end` has already fired.
    /// The clock's progress as an operator-state item: after a restore,
    /// windows that had fired stay fired, so their late rows stay dropped.
    pub(crate) fn snapshot_item(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.i64(self.watermark);
        e.into_bytes()
    }

    /// Restores the progress from items (the earliest when several
    /// subtasks' clocks were merged by a rescale).
    pub(crate) fn restore_items(&mut self, items: &[Vec<u8>]) -> Result<()> {
        let mut least: Option<i64> = None;
        for item in items {
            let w = Decoder::new(item).i64()?;
            least = Some(least.map_or(w, |l| l.min(w)));
        }
        if let Some(w) = least {
            self.watermark = w;
        }
        Ok(())
    }

    pub(crate) fn has_fired(&self, end: i64) -> bool {
        self.time == TimeDomain::EventTime && self.trigger(end) <= self.watermark
    }

    /// A watermark arrived: fire windows with triggers up to the returned time.
    pub(crate) fn on_watermark(&mut self, wm: i64) -> Option<i64> {
        (self.time == TimeDomain::EventTime).then(|| {
            self.watermark = self.watermark.max(wm);
            wm
        })
    }

    /// The wall-clock time to be woken at, given the earliest pending trigger.
    pub(crate) fn next_timer(&self, earliest: Option<i64>) -> Option<i64> {
        match self.time {
            TimeDomain::ProcessingTime => earliest.map(|t| t.saturating_add(1)),
            TimeDomain::EventTime => None,
        }
    }

    /// The wall clock reached `now`: fire windows with triggers up to the returned time.
    pub(crate) fn on_processing_time(&self, now: i64) -> Option<i64> {
        (self.time == TimeDomain::ProcessingTime).then(|| now - 1)
    }

    /// The input ended: fire windows with triggers up to the returned time.
    ///
    /// Event time ends with the maximum watermark, which closes every window.
    /// The wall clock does not jump, so processing-time windows still open are
    /// dropped: Flink does not fire pending processing-time timers when a
    /// bounded job finishes, and a bounded run gives the same rows here.
    pub(crate) fn on_end_of_input(&self) -> Option<i64> {
        (self.time == TimeDomain::EventTime).then_some(i64::MAX)
    }
}

/// Window aggregation, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct WindowAggregateFactory {
    /// Group keys, including `window_start` and `window_end`.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Which key is `window_end`.
    pub end_key: usize,
    /// Aggregate calls.
    pub aggs: Vec<AggCall>,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// Schema of the output: the keys, then one column per call.
    pub output_schema: SchemaRef,
    /// The clock that fires windows.
    pub time: TimeDomain,
    /// Subtracted from `window_end` to get epoch ms (the local time zone's
    /// offset for windows over `TIMESTAMP_LTZ`, else 0).
    pub end_offset_ms: i64,
}

impl OperatorFactory for WindowAggregateFactory {
    fn name(&self) -> String {
        "WindowAggregate".into()
    }

    fn explain(&self) -> String {
        let clock = match self.time {
            TimeDomain::EventTime => "rowtime",
            TimeDomain::ProcessingTime => "proctime",
        };
        format!(
            "{}, fire=[{clock} >= window_end]",
            super::explain_aggs(&self.keys, &self.aggs, &self.output_schema)
        )
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        let end = self
            .keys
            .get(self.end_key)
            .cloned()
            .ok_or_else(|| Error::Internal("window_end key out of range".into()))?;
        Ok(Box::new(WindowAggregate {
            aggs: BoundAggs::bind(&self.aggs, &self.input_schema, false)?,
            keys: GroupKeys::new(&self.keys, &self.input_schema, task.max_parallelism)?,
            end,
            spec: self.clone(),
            windows: BTreeMap::new(),
            clock: Clock::new(self.time, self.end_offset_ms),
            late_dropped: 0,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        Some(super::aggregate_descriptor(
            "WindowAggregate",
            &self.keys,
            &self.aggs,
            &self.input_schema,
            false,
        ))
    }
}

struct WindowAggregate {
    spec: WindowAggregateFactory,
    aggs: BoundAggs,
    keys: GroupKeys,
    end: Arc<dyn PhysicalExpr>,
    /// Trigger time (epoch ms at which the window is complete) → keys.
    windows: BTreeMap<i64, KeyedState<Vec<Acc>>>,
    clock: Clock,
    late_dropped: u64,
}

impl WindowAggregate {
    /// Emits and forgets every window whose trigger time is `<= t`.
    fn fire(&mut self, t: i64, out: &mut Output) -> Result<()> {
        let later = match t.checked_add(1) {
            Some(next) => self.windows.split_off(&next),
            None => BTreeMap::new(),
        };
        let fired = std::mem::replace(&mut self.windows, later);
        for (_, keyed) in fired {
            let mut keys = Vec::with_capacity(keyed.len());
            let mut values = Vec::with_capacity(keyed.len());
            for (k, _, accs) in keyed.iter() {
                keys.push(Box::<[u8]>::from(k));
                values.push(self.aggs.values(accs)?);
            }
            let key_cols = self.keys.decode(&keys)?;
            let agg_cols = self.aggs.columns(&values)?;
            out.emit(assemble(
                &self.spec.output_schema,
                key_cols,
                agg_cols,
                None,
            )?);
        }
        Ok(())
    }
}

impl Operator for WindowAggregate {
    fn process(&mut self, _input: usize, chunk: Chunk, _out: &mut Output) -> Result<()> {
        let n = chunk.num_rows();
        let ends = to_millis(&self.end.evaluate(&chunk.data)?.into_array(n)?)?;
        let encoded = self.keys.encode(&chunk.data)?;
        let inputs = self.aggs.evaluate(&chunk.data)?;
        for row in 0..n {
            if ends.is_null(row) {
                continue;
            }
            let end = ends.value(row);
            let trigger = self.clock.trigger(end);
            if self.clock.has_fired(end) {
                self.late_dropped += 1;
                continue;
            }
            let aggs = &self.aggs;
            let accs = self.windows.entry(trigger).or_default().get_or_insert_with(
                encoded.key(row),
                encoded.key_group(row),
                || aggs.new_accs(),
            );
            self.aggs.update(accs, &inputs, row, 1);
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        if let Some(t) = self.clock.on_watermark(wm.0) {
            self.fire(t, out)?;
        }
        out.watermark(wm);
        Ok(())
    }

    fn on_end_of_input(&mut self, out: &mut Output) -> Result<()> {
        if self.late_dropped > 0 {
            tracing::debug!(
                dropped = self.late_dropped,
                "late records dropped by window aggregate"
            );
        }
        match self.clock.on_end_of_input() {
            Some(t) => self.fire(t, out),
            None => Ok(()),
        }
    }

    fn next_processing_timer(&self) -> Option<i64> {
        self.clock.next_timer(self.windows.keys().next().copied())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen: Vec<_> = self
            .windows
            .iter_mut()
            .map(|(trigger, keyed)| (*trigger, keyed.freeze()))
            .collect();
        snap.keyed_later(move |snap| {
            for (trigger, keyed) in &frozen {
                for (key, kg, accs) in keyed.iter() {
                    snap.keyed(kg, key, |e| {
                        e.i64(*trigger);
                        encode_accs(accs, e)
                    })?;
                }
            }
            Ok(())
        });
        snap.item(self.clock.snapshot_item());
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        self.clock.restore_items(&state.items)?;
        state.for_each_keyed(|entry| {
            let mut d = Decoder::new(entry.value);
            let trigger = d.i64()?;
            let accs = decode_accs(&mut d)?;
            self.windows.entry(trigger).or_default().get_or_insert_with(
                entry.key,
                entry.key_group,
                || accs,
            );
            Ok(())
        })
    }

    fn on_processing_time(&mut self, now_ms: i64, out: &mut Output) -> Result<()> {
        match self.clock.on_processing_time(now_ms) {
            Some(t) => self.fire(t, out),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::acc::AggFunction;
    use crate::operators::aggregate::tests::{kinds_and_rows, run_messages};
    use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_physical_expr::expressions::col;
    use riffle_common::Message;

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    fn factory() -> WindowAggregateFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("window_start", ts(), false),
            Field::new("window_end", ts(), false),
        ]));
        WindowAggregateFactory {
            keys: vec![
                col("k", &input).unwrap(),
                col("window_start", &input).unwrap(),
                col("window_end", &input).unwrap(),
            ],
            end_key: 2,
            aggs: vec![AggCall {
                function: AggFunction::Count,
                arg: None,
                filter: None,
                distinct: false,
                output_type: DataType::Int64,
            }],
            output_schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int64, false),
                Field::new("window_start", ts(), false),
                Field::new("window_end", ts(), false),
                Field::new("c", DataType::Int64, false),
            ])),
            input_schema: input,
            time: TimeDomain::EventTime,
            end_offset_ms: 0,
        }
    }

    fn rows(r: &[(i64, i64)]) -> Message {
        let f = factory();
        Message::Data(Chunk::insert_only(
            RecordBatch::try_new(
                f.input_schema,
                vec![
                    Arc::new(Int64Array::from(r.iter().map(|x| x.0).collect::<Vec<_>>())),
                    Arc::new(TimestampMillisecondArray::from(
                        r.iter().map(|x| x.1).collect::<Vec<_>>(),
                    )),
                    Arc::new(TimestampMillisecondArray::from(
                        r.iter().map(|x| x.1 + 10).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap(),
        ))
    }

    #[test]
    fn fires_at_end_minus_one_and_drops_late_rows() {
        let out = run_messages(
            &factory(),
            vec![
                rows(&[(1, 0), (2, 0), (1, 0)]),
                Message::Watermark(Watermark(8)),
                rows(&[(1, 10)]),
                Message::Watermark(Watermark(9)),
                rows(&[(1, 0), (1, 10)]), // the first is late
                Message::EndOfInput,
            ],
        );
        let mut got = kinds_and_rows(&out);
        got[1..3].sort();
        assert_eq!(
            got,
            vec![
                "WM 8",
                "+I 1,1970-01-01T00:00:00,1970-01-01T00:00:00.010,2",
                "+I 2,1970-01-01T00:00:00,1970-01-01T00:00:00.010,1",
                "WM 9",
                "+I 1,1970-01-01T00:00:00.010,1970-01-01T00:00:00.020,2",
            ]
        );
    }

    #[test]
    fn restores_anywhere_with_the_same_output() {
        crate::operators::aggregate::tests::assert_restores_anywhere(
            &factory(),
            vec![
                rows(&[(1, 0), (2, 0), (1, 0)]),
                Message::Watermark(Watermark(8)),
                rows(&[(1, 10)]),
                Message::Watermark(Watermark(9)),
                rows(&[(1, 0), (1, 10)]), // the first is late, also after a restore
                Message::EndOfInput,
            ],
        );
    }
}
