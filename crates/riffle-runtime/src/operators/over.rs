//! `OverAggregate`: `agg(...) OVER (PARTITION BY ... ORDER BY time ROWS|RANGE
//! BETWEEN ... PRECEDING AND CURRENT ROW)` — every input row comes out once,
//! with the aggregates over its frame: the rows of its partition up to it.
//!
//! On event time rows wait, per partition key, until the watermark passes
//! their time and are then taken in time order (rows of one time in arrival
//! order); a row whose time is not after the last one taken for its key is
//! late and dropped, as in Flink.
//! A `ROWS` frame holds the row and at most `n` before it; a `RANGE` frame
//! the rows whose time is at most the interval before the row's, and rows of
//! the same time (peers) share one result. `UNBOUNDED PRECEDING` keeps only
//! the accumulators. Bounded frames retract the rows that leave them, so
//! `MIN`/`MAX` keep their values' counts.
//!
//! On processing time each row is taken when it arrives, its arrival time
//! being its time.
//!
//! The output is append-only: the input's columns, then one per aggregate.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind, Watermark};

use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::clock::now_ms;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::aggregate::acc::{Acc, BoundAggs, accs_descriptor, decode_accs, encode_accs};
use crate::operators::aggregate::keys::{GroupKeys, keys_descriptor};
use crate::operators::aggregate::{AggCall, TimeDomain};
use crate::operators::time::millis;
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// Which rows before the current one are in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`; `None` is unbounded.
    Rows(Option<u64>),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW` in
    /// milliseconds; `None` is unbounded.
    Range(Option<i64>),
}

/// Flink's EXPLAIN text of the frame (its `RANG` spelling included).
impl std::fmt::Display for OverFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverFrame::Rows(None) => write!(f, "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"),
            OverFrame::Rows(Some(n)) => write!(f, "ROWS BETWEEN {n} PRECEDING AND CURRENT ROW"),
            OverFrame::Range(None) => {
                write!(f, "RANG BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW")
            }
            OverFrame::Range(Some(ms)) => {
                write!(f, "RANG BETWEEN {ms} PRECEDING AND CURRENT ROW")
            }
        }
    }
}

/// An over aggregate, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct OverAggregateFactory {
    /// `PARTITION BY` (none: one subtask sees every row).
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The aggregates, all over the same frame.
    pub calls: Vec<AggCall>,
    /// The frame.
    pub frame: OverFrame,
    /// Whether `ORDER BY` is event or processing time.
    pub time: TimeDomain,
    /// Index of the `ORDER BY` time column in the input (event time).
    pub time_index: usize,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// The input's columns, then one per call.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for OverAggregateFactory {
    fn name(&self) -> String {
        "OverAggregate".into()
    }

    fn explain(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        let calls: Vec<String> = self.calls.iter().map(|c| c.to_string()).collect();
        let order = match self.time {
            TimeDomain::EventTime => self
                .input_schema
                .fields()
                .get(self.time_index)
                .map_or_else(|| "?".to_string(), |f| f.name().clone()),
            TimeDomain::ProcessingTime => "proctime".into(),
        };
        format!(
            "partitionBy=[{}], orderBy=[{order} ASC], window=[{}], select=[{}]",
            keys.join(", "),
            self.frame,
            calls.join(", ")
        )
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        let bounded = matches!(
            self.frame,
            OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_))
        );
        let rows = self
            .input_schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Box::new(OverAggregate {
            aggs: BoundAggs::bind(&self.calls, &self.input_schema, bounded)?,
            keys: GroupKeys::new(&self.keys, &self.input_schema, task.max_parallelism)?,
            rows: RowConverter::new(rows)?,
            spec: self.clone(),
            state: KeyedState::default(),
            due: BTreeMap::new(),
            watermark: i64::MIN,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        let retracting = matches!(
            self.frame,
            OverFrame::Rows(Some(_)) | OverFrame::Range(Some(_))
        );
        let accs = accs_descriptor(&self.calls, &self.input_schema, retracting).ok()?;
        Some(format!(
            "OverAggregate v1 keys [{}] frame [{}] [{accs}]",
            keys_descriptor(&self.keys, &self.input_schema),
            self.frame
        ))
    }
}

/// A row with its time, in the input's row format.
type TimedRow = (i64, Arc<[u8]>);

/// One partition key's state.
#[derive(Clone)]
struct Partition {
    accs: Vec<Acc>,
    /// The rows in the frame, oldest first (bounded frames only).
    frame: VecDeque<TimedRow>,
    /// Rows waiting for the watermark, by time, in arrival order.
    pending: BTreeMap<i64, Vec<Arc<[u8]>>>,
    /// The time of the last rows taken: a row not after it is late.
    last: i64,
}

struct OverAggregate {
    spec: OverAggregateFactory,
    aggs: BoundAggs,
    keys: GroupKeys,
    rows: RowConverter,
    state: KeyedState<Partition>,
    /// Keys with pending rows, by time (event time).
    due: BTreeMap<i64, Vec<KeyAt>>,
    watermark: i64,
}

impl OverAggregate {
    fn new_partition(&self) -> Partition {
        Partition {
            accs: self.aggs.new_accs(),
            frame: VecDeque::new(),
            pending: BTreeMap::new(),
            last: i64::MIN,
        }
    }

    /// Takes partition `key` out of the state (to work on it beside the
    /// operator's other fields); [`OverAggregate::put`] puts it back.
    fn take_out(&mut self, key: &[u8], kg: u16) -> Partition {
        let empty = Partition {
            accs: Vec::new(),
            frame: VecDeque::new(),
            pending: BTreeMap::new(),
            last: i64::MIN,
        };
        match self.state.get_mut(key, kg) {
            Some(p) => std::mem::replace(p, empty),
            None => self.new_partition(),
        }
    }

    fn put(&mut self, key: &[u8], kg: u16, p: Partition) {
        match self.state.get_mut(key, kg) {
            Some(slot) => *slot = p,
            None => {
                self.state.get_or_insert_with(key, kg, || p);
            }
        }
    }

    /// A batch of stored rows.
    fn batch(&self, rows: &[&Arc<[u8]>]) -> Result<RecordBatch> {
        let parser = self.rows.parser();
        let cols = self
            .rows
            .convert_rows(rows.iter().map(|r| parser.parse(r)))?;
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.input_schema),
            cols,
        )?)
    }

    /// Folds `rows` into `accs` with `sign`.
    fn fold(&self, accs: &mut [Acc], rows: &[&Arc<[u8]>], sign: i64) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = self.batch(rows)?;
        let inputs = self.aggs.evaluate(&batch)?;
        for r in 0..rows.len() {
            self.aggs.update(accs, &inputs, r, sign);
        }
        Ok(())
    }

    /// Takes the rows of time `t` of partition `p`: each comes out in
    /// `out_rows` with the aggregates over its frame.
    fn take(
        &self,
        p: &mut Partition,
        t: i64,
        rows: Vec<Arc<[u8]>>,
        out_rows: &mut Vec<(Arc<[u8]>, Vec<ScalarValue>)>,
    ) -> Result<()> {
        match self.spec.frame {
            OverFrame::Rows(bound) => {
                for row in rows {
                    self.fold(&mut p.accs, &[&row], 1)?;
                    if let Some(n) = bound {
                        p.frame.push_back((t, Arc::clone(&row)));
                        while p.frame.len() as u64 > n.saturating_add(1) {
                            if let Some((_, old)) = p.frame.pop_front() {
                                self.fold(&mut p.accs, &[&old], -1)?;
                            }
                        }
                    }
                    out_rows.push((row, self.aggs.values(&p.accs)?));
                }
            }
            OverFrame::Range(bound) => {
                let refs: Vec<&Arc<[u8]>> = rows.iter().collect();
                self.fold(&mut p.accs, &refs, 1)?;
                if let Some(ms) = bound {
                    p.frame.extend(rows.iter().map(|r| (t, Arc::clone(r))));
                    let oldest = t.saturating_sub(ms);
                    let mut leaving = Vec::new();
                    while p.frame.front().is_some_and(|(at, _)| *at < oldest) {
                        if let Some((_, old)) = p.frame.pop_front() {
                            leaving.push(old);
                        }
                    }
                    let refs: Vec<&Arc<[u8]>> = leaving.iter().collect();
                    self.fold(&mut p.accs, &refs, -1)?;
                }
                let values = self.aggs.values(&p.accs)?;
                for row in rows {
                    out_rows.push((row, values.clone()));
                }
            }
        }
        Ok(())
    }

    /// The output chunk of taken rows.
    fn emit(&self, taken: &[(Arc<[u8]>, Vec<ScalarValue>)], out: &mut Output) -> Result<()> {
        if taken.is_empty() {
            return Ok(());
        }
        let rows: Vec<&Arc<[u8]>> = taken.iter().map(|t| &t.0).collect();
        let mut cols = self.batch(&rows)?.columns().to_vec();
        let values: Vec<Vec<ScalarValue>> = taken.iter().map(|t| t.1.clone()).collect();
        cols.extend(self.aggs.columns(&values)?);
        out.emit(Chunk::insert_only(RecordBatch::try_new(
            Arc::clone(&self.spec.output_schema),
            cols,
        )?));
        Ok(())
    }

    /// Takes every pending row whose time the watermark has passed.
    fn fire(&mut self, out: &mut Output) -> Result<()> {
        let mut taken = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > self.watermark {
                break;
            }
            let t = *entry.key();
            for (key, kg) in entry.remove() {
                if self.state.get(&key, kg).is_none() {
                    continue;
                }
                let mut p = self.take_out(&key, kg);
                if let Some(rows) = p.pending.remove(&t) {
                    self.take(&mut p, t, rows, &mut taken)?;
                    p.last = t;
                }
                self.put(&key, kg, p);
            }
        }
        self.emit(&taken, out)
    }
}

impl Operator for OverAggregate {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        if (0..chunk.num_rows()).any(|i| chunk.kind(i) != RowKind::Insert) {
            return Err(Error::Internal(
                "an over aggregate received an update; its input must be append-only".into(),
            ));
        }
        let keys = self.keys.encode(&chunk.data)?;
        let rows = self.rows.convert_columns(chunk.data.columns())?;
        match self.spec.time {
            TimeDomain::ProcessingTime => {
                let now = now_ms();
                let mut taken = Vec::new();
                for i in 0..chunk.num_rows() {
                    let (key, kg) = (keys.key(i), keys.key_group(i));
                    let mut p = self.take_out(key, kg);
                    let row: Arc<[u8]> = Arc::from(rows.row(i).data());
                    self.take(&mut p, now, vec![row], &mut taken)?;
                    self.put(key, kg, p);
                }
                self.emit(&taken, out)
            }
            TimeDomain::EventTime => {
                let col = chunk
                    .data
                    .columns()
                    .get(self.spec.time_index)
                    .ok_or_else(|| Error::Internal("the over aggregate's time column".into()))?;
                let times = millis(col, "an over aggregate's ORDER BY column")?;
                for (i, t) in times.into_iter().enumerate() {
                    let Some(t) = t else { continue };
                    let (key, kg) = (keys.key(i), keys.key_group(i));
                    let fresh = self.new_partition();
                    let p = self.state.get_or_insert_with(key, kg, || fresh);
                    // A row not after the partition's last taken time is
                    // late and dropped (Flink's per-key rule).
                    if t <= p.last {
                        continue;
                    }
                    let at = p.pending.entry(t).or_default();
                    if at.is_empty() {
                        self.due.entry(t).or_default().push((Box::from(key), kg));
                    }
                    at.push(Arc::from(rows.row(i).data()));
                }
                Ok(())
            }
        }
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        if self.spec.time == TimeDomain::EventTime {
            self.watermark = self.watermark.max(wm.0);
            self.fire(out)?;
        }
        out.watermark(wm);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = self.state.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, p) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    encode_accs(&p.accs, e)?;
                    e.i64(p.last);
                    e.len_prefix(p.frame.len());
                    for (t, row) in &p.frame {
                        e.i64(*t);
                        e.bytes(row);
                    }
                    e.len_prefix(p.pending.len());
                    for (t, rows) in &p.pending {
                        e.i64(*t);
                        e.len_prefix(rows.len());
                        for row in rows {
                            e.bytes(row);
                        }
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        state.for_each_keyed(|entry| {
            let mut d = crate::checkpoint::Decoder::new(entry.value);
            let accs = decode_accs(&mut d)?;
            let last = d.i64()?;
            let mut p = Partition {
                accs,
                frame: VecDeque::new(),
                pending: BTreeMap::new(),
                last,
            };
            for _ in 0..d.len_prefix(12)? {
                let t = d.i64()?;
                p.frame.push_back((t, Arc::from(d.bytes()?)));
            }
            for _ in 0..d.len_prefix(12)? {
                let t = d.i64()?;
                let mut rows = Vec::new();
                for _ in 0..d.len_prefix(4)? {
                    rows.push(Arc::from(d.bytes()?));
                }
                self.due
                    .entry(t)
                    .or_default()
                    .push((Box::from(entry.key), entry.key_group));
                p.pending.insert(t, rows);
            }
            self.put(entry.key, entry.key_group, p);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::AggFunction;
    use crate::operators::aggregate::tests::{kinds_and_rows, task};
    use arrow::array::{Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_physical_expr::expressions::col;
    use riffle_common::{CheckpointBarrier, Message};

    /// `SUM(v), MAX(v) OVER (PARTITION BY k ORDER BY t <frame>)`.
    fn factory(frame: OverFrame) -> OverAggregateFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("v", DataType::Int64, true),
        ]));
        let call = |function| AggCall {
            function,
            arg: Some(col("v", &input).unwrap()),
            filter: None,
            distinct: false,
            output_type: DataType::Int64,
        };
        let mut fields = input.fields().to_vec();
        fields.push(Arc::new(Field::new("s", DataType::Int64, true)));
        fields.push(Arc::new(Field::new("m", DataType::Int64, true)));
        OverAggregateFactory {
            keys: vec![col("k", &input).unwrap()],
            calls: vec![call(AggFunction::Sum), call(AggFunction::Max)],
            frame,
            time: TimeDomain::EventTime,
            time_index: 1,
            input_schema: Arc::clone(&input),
            output_schema: Arc::new(Schema::new(fields)),
        }
    }

    fn rows(f: &OverAggregateFactory, rows: &[(i64, i64, i64)]) -> Message {
        let batch = RecordBatch::try_new(
            Arc::clone(&f.input_schema),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        Message::Data(Chunk::insert_only(batch))
    }

    /// Runs `input`; a barrier restores a copy from a snapshot.
    fn run(f: &OverAggregateFactory, input: Vec<Message>) -> Vec<String> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        let mut emitted = Vec::new();
        for m in input {
            match m {
                Message::Data(c) => op.process(0, c, &mut out).unwrap(),
                Message::Watermark(w) => op.on_watermark(w, &mut out).unwrap(),
                Message::Barrier(b) => {
                    let mut snap = OperatorSnapshot::default();
                    op.snapshot(b.checkpoint_id, &mut snap).unwrap();
                    op = crate::operators::aggregate::tests::restored_copy(f, snap);
                }
                _ => {}
            }
            emitted.extend(out.drain());
        }
        kinds_and_rows(&emitted)
            .into_iter()
            .map(|r| r.replace("1970-01-01T00:00:00.", ""))
            .collect()
    }

    fn barrier() -> Message {
        Message::Barrier(CheckpointBarrier {
            checkpoint_id: 1,
            timestamp_ms: 0,
            is_savepoint: false,
            stop: false,
        })
    }

    /// Key 1 at 100 (5), 300 (3), 200 (9), 300 (1); key 2 at 150 (7).
    fn input(f: &OverAggregateFactory, with_barrier: bool) -> Vec<Message> {
        let mut v = vec![
            rows(f, &[(1, 100, 5), (1, 300, 3), (2, 150, 7)]),
            rows(f, &[(1, 200, 9), (1, 300, 1)]),
            Message::Watermark(Watermark(250)),
        ];
        if with_barrier {
            v.push(barrier());
        }
        // Late: not after key 1's last taken time (200).
        v.push(rows(f, &[(1, 150, 100)]));
        v.push(Message::Watermark(Watermark(400)));
        v
    }

    #[test]
    fn rows_frames_count_rows_and_retract_the_ones_that_leave() {
        let f = factory(OverFrame::Rows(Some(1)));
        let out = run(&f, input(&f, false));
        assert_eq!(
            out,
            vec![
                "+I 1,100,5,5,5",
                "+I 2,150,7,7,7",
                "+I 1,200,9,14,9",
                "WM 250",
                // At 300, in arrival order: 3 with 9 before it, then 1 with 3.
                "+I 1,300,3,12,9",
                "+I 1,300,1,4,3",
                "WM 400",
            ]
        );
        assert_eq!(run(&f, input(&f, true)), out);
    }

    #[test]
    fn range_frames_share_one_result_among_peers() {
        let f = factory(OverFrame::Range(Some(100)));
        let out = run(&f, input(&f, true));
        assert_eq!(
            out,
            vec![
                "+I 1,100,5,5,5",
                "+I 2,150,7,7,7",
                "+I 1,200,9,14,9",
                "WM 250",
                // [200, 300]: 9, 3 and 1; 5 (at 100) left.
                "+I 1,300,3,13,9",
                "+I 1,300,1,13,9",
                "WM 400",
            ]
        );
        let f = factory(OverFrame::Rows(None));
        let out = run(&f, input(&f, false));
        assert_eq!(out[4], "+I 1,300,3,17,9");
        assert_eq!(out[5], "+I 1,300,1,18,9");
    }
}
