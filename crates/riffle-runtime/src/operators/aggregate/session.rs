//! `SessionAggregate`: session windows, which merge.
//!
//! Every row arrives as its own provisional session `[ts, ts + gap)` (the
//! `window_start` / `window_end` columns the session table function
//! appended). Per key the operator keeps the open sessions; a new row's
//! interval merges with every session it intersects — Flink's rule, where
//! touching intervals intersect — and the accumulators merge with it. A row
//! that merges with nothing and whose own session has already passed the
//! watermark is late and dropped; a session fires when the watermark reaches
//! `end - 1`. Output: the keys with `window_start`/`window_end` (and
//! `window_time` if grouped by) set to the merged session, then the results.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, Watermark};

use super::acc::{Acc, AggCall, BoundAggs, decode_accs, encode_accs};
use super::keys::{GroupKeys, assemble};
use super::window::{Clock, TimeDomain};
use crate::checkpoint::{Decoder, OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::watermark::to_millis;
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// Session window aggregation, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct SessionAggregateFactory {
    /// All group keys in output order, the window columns included.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Which key is `window_start`.
    pub start_key: usize,
    /// Which key is `window_end`.
    pub end_key: usize,
    /// Which key is `window_time`, if grouped by.
    pub time_key: Option<usize>,
    /// Aggregate calls.
    pub aggs: Vec<AggCall>,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// Schema of the output: the keys, then one column per call.
    pub output_schema: SchemaRef,
    /// The clock that closes sessions.
    pub time: TimeDomain,
    /// Subtracted from `window_end` to get epoch ms (see the window aggregate).
    pub end_offset_ms: i64,
}

impl SessionAggregateFactory {
    /// The keys that partition sessions (all but the window columns).
    pub fn partition_keys(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_window_key(*i))
            .map(|(_, k)| Arc::clone(k))
            .collect()
    }

    fn is_window_key(&self, i: usize) -> bool {
        i == self.start_key || i == self.end_key || Some(i) == self.time_key
    }
}

impl OperatorFactory for SessionAggregateFactory {
    fn name(&self) -> String {
        "SessionWindowAggregate".into()
    }

    fn explain(&self) -> String {
        super::explain_aggs(&self.keys, &self.aggs, &self.output_schema)
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        let get = |i: usize| {
            self.keys
                .get(i)
                .cloned()
                .ok_or_else(|| Error::Internal("session window key out of range".into()))
        };
        let field_type = |i: usize| {
            self.output_schema
                .fields()
                .get(i)
                .map(|f| f.data_type().clone())
                .ok_or_else(|| Error::Internal("session window key out of range".into()))
        };
        Ok(Box::new(SessionAggregate {
            aggs: BoundAggs::bind(&self.aggs, &self.input_schema, false)?,
            keys: GroupKeys::new(
                &self.partition_keys(),
                &self.input_schema,
                task.max_parallelism,
            )?,
            start: get(self.start_key)?,
            end: get(self.end_key)?,
            start_type: field_type(self.start_key)?,
            end_type: field_type(self.end_key)?,
            time_type: self.time_key.map(field_type).transpose()?,
            spec: self.clone(),
            sessions: KeyedState::default(),
            timers: BTreeMap::new(),
            clock: Clock::new(self.time, self.end_offset_ms),
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        Some(super::aggregate_descriptor(
            "SessionWindowAggregate",
            &self.partition_keys(),
            &self.aggs,
            &self.input_schema,
            false,
        ))
    }
}

#[derive(Clone)]
struct Session {
    start: i64,
    end: i64,
    accs: Vec<Acc>,
}

struct SessionAggregate {
    spec: SessionAggregateFactory,
    aggs: BoundAggs,
    keys: GroupKeys,
    start: Arc<dyn PhysicalExpr>,
    end: Arc<dyn PhysicalExpr>,
    start_type: DataType,
    end_type: DataType,
    time_type: Option<DataType>,
    sessions: KeyedState<Vec<Session>>,
    /// Trigger time → keys that may have a session due then (checked on firing).
    timers: BTreeMap<i64, Vec<KeyAt>>,
    clock: Clock,
}

impl SessionAggregate {
    fn fire(&mut self, t: i64, out: &mut Output) -> Result<()> {
        let later = match t.checked_add(1) {
            Some(next) => self.timers.split_off(&next),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut self.timers, later);
        let mut keys = Vec::new();
        let mut bounds = Vec::new();
        let mut values = Vec::new();
        for (key, kg) in due.into_values().flatten() {
            let Some(list) = self.sessions.get_mut(&key, kg) else {
                continue;
            };
            let mut kept = Vec::with_capacity(list.len());
            for s in list.drain(..) {
                if self.clock.trigger(s.end) <= t {
                    keys.push(key.clone());
                    bounds.push((s.start, s.end));
                    values.push(self.aggs.values(&s.accs)?);
                } else {
                    kept.push(s);
                }
            }
            if kept.is_empty() {
                self.sessions.remove(&key, kg);
            } else {
                *list = kept;
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        let partition_cols = self.keys.decode(&keys)?;
        let as_type = |v: Vec<i64>, t: &DataType| -> Result<ArrayRef> {
            let arr: ArrayRef = Arc::new(Int64Array::from(v));
            Ok(cast(&arr, t)?)
        };
        let starts = as_type(bounds.iter().map(|b| b.0).collect(), &self.start_type)?;
        let ends = as_type(bounds.iter().map(|b| b.1).collect(), &self.end_type)?;
        let times = match &self.time_type {
            None => None,
            Some(t) => Some(as_type(
                bounds.iter().map(|b| self.clock.trigger(b.1)).collect(),
                t,
            )?),
        };
        let mut partition = partition_cols.into_iter();
        let mut key_cols = Vec::with_capacity(self.spec.keys.len());
        for i in 0..self.spec.keys.len() {
            let col = if i == self.spec.start_key {
                Some(Arc::clone(&starts))
            } else if i == self.spec.end_key {
                Some(Arc::clone(&ends))
            } else if Some(i) == self.spec.time_key {
                times.clone()
            } else {
                partition.next()
            };
            key_cols.push(col.ok_or_else(|| Error::Internal("session key column missing".into()))?);
        }
        let agg_cols = self.aggs.columns(&values)?;
        out.emit(assemble(
            &self.spec.output_schema,
            key_cols,
            agg_cols,
            None,
        )?);
        Ok(())
    }
}

impl Operator for SessionAggregate {
    fn process(&mut self, _input: usize, chunk: Chunk, _out: &mut Output) -> Result<()> {
        let n = chunk.num_rows();
        let starts = to_millis(&self.start.evaluate(&chunk.data)?.into_array(n)?)?;
        let ends = to_millis(&self.end.evaluate(&chunk.data)?.into_array(n)?)?;
        let encoded = self.keys.encode(&chunk.data)?;
        let inputs = self.aggs.evaluate(&chunk.data)?;
        for row in 0..n {
            if starts.is_null(row) || ends.is_null(row) {
                continue;
            }
            let (mut start, mut end) = (starts.value(row), ends.value(row));
            let key = encoded.key(row);
            let kg = encoded.key_group(row);
            let intersects = |s: &Session| s.start <= end && s.end >= start;
            let merges = self
                .sessions
                .get_mut(key, kg)
                .is_some_and(|list| list.iter().any(intersects));
            if !merges && self.clock.has_fired(end) {
                continue; // late: its own session is already complete
            }
            let aggs = &self.aggs;
            let list = self.sessions.get_or_insert_with(key, kg, Vec::new);
            let mut accs = aggs.new_accs();
            let mut i = 0;
            while i < list.len() {
                if list[i].start <= end && list[i].end >= start {
                    let s = list.swap_remove(i);
                    start = start.min(s.start);
                    end = end.max(s.end);
                    aggs.merge(&mut accs, s.accs);
                } else {
                    i += 1;
                }
            }
            aggs.update(&mut accs, &inputs, row, 1);
            list.push(Session { start, end, accs });
            self.timers
                .entry(self.clock.trigger(end))
                .or_default()
                .push((key.into(), kg));
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
        match self.clock.on_end_of_input() {
            Some(t) => self.fire(t, out),
            None => Ok(()),
        }
    }

    fn next_processing_timer(&self) -> Option<i64> {
        self.clock.next_timer(self.timers.keys().next().copied())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = self.sessions.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, list) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    e.len_prefix(list.len());
                    for s in list {
                        e.i64(s.start);
                        e.i64(s.end);
                        encode_accs(&s.accs, e)?;
                    }
                    Ok(())
                })?;
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
            let n = d.len_prefix(16)?;
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                let start = d.i64()?;
                let end = d.i64()?;
                let accs = decode_accs(&mut d)?;
                // Timers are derived from the sessions, as `process` sets them.
                self.timers
                    .entry(self.clock.trigger(end))
                    .or_default()
                    .push((entry.key.into(), entry.key_group));
                list.push(Session { start, end, accs });
            }
            self.sessions
                .get_or_insert_with(entry.key, entry.key_group, || list);
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
    use arrow::array::RecordBatch;
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_expr::expressions::col;
    use riffle_common::Message;

    fn factory() -> SessionAggregateFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("window_start", DataType::Int64, false),
            Field::new("window_end", DataType::Int64, false),
        ]));
        SessionAggregateFactory {
            keys: vec![
                col("k", &input).unwrap(),
                col("window_start", &input).unwrap(),
                col("window_end", &input).unwrap(),
            ],
            start_key: 1,
            end_key: 2,
            time_key: None,
            aggs: vec![AggCall {
                function: AggFunction::Count,
                arg: None,
                filter: None,
                distinct: false,
                output_type: DataType::Int64,
            }],
            output_schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Int64, false),
                Field::new("window_start", DataType::Int64, false),
                Field::new("window_end", DataType::Int64, false),
                Field::new("c", DataType::Int64, false),
            ])),
            input_schema: input,
            time: TimeDomain::EventTime,
            end_offset_ms: 0,
        }
    }

    /// Rows `(key, ts)` with a gap of 10.
    fn rows(r: &[(i64, i64)]) -> Message {
        let f = factory();
        Message::Data(Chunk::insert_only(
            RecordBatch::try_new(
                f.input_schema,
                vec![
                    Arc::new(Int64Array::from(r.iter().map(|x| x.0).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(r.iter().map(|x| x.1).collect::<Vec<_>>())),
                    Arc::new(Int64Array::from(
                        r.iter().map(|x| x.1 + 10).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap(),
        ))
    }

    #[test]
    fn merges_touching_sessions_and_bridges_gaps() {
        let out = run_messages(
            &factory(),
            vec![
                // Two sessions of key 1: [0,15) and [25,35).
                rows(&[(1, 0), (1, 5), (1, 25), (2, 100)]),
                // [15,25) touches both ends, so all three merge into [0,35).
                rows(&[(1, 15)]),
                Message::Watermark(Watermark(50)),
                // Late: its own session [0,10) ended and it merges with nothing.
                rows(&[(1, 0)]),
                Message::EndOfInput,
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec!["+I 1,0,35,4", "WM 50", "+I 2,100,110,1"]
        );
    }

    #[test]
    fn restores_anywhere_with_the_same_output() {
        crate::operators::aggregate::tests::assert_restores_anywhere(
            &factory(),
            vec![
                rows(&[(1, 0), (1, 5), (1, 25), (2, 100)]),
                rows(&[(1, 15)]),
                Message::Watermark(Watermark(50)),
                rows(&[(1, 0)]),
                Message::EndOfInput,
            ],
        );
    }
}
