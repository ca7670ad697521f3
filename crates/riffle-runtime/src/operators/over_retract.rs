//! `RetractOverAggregate`: `agg(...) OVER (PARTITION BY ... ORDER BY ...
//! ROWS BETWEEN n|UNBOUNDED PRECEDING AND CURRENT ROW)` over an updating
//! input — something Flink refuses (FLINK-19059), needed by Nexmark q6.
//!
//! The defined result: at every moment, the rows emitted so far fold into
//! exactly what the same OVER query gives as a batch query over the input's
//! current rows. Per partition the operator keeps the input's current rows
//! in `ORDER BY` order (equal rows in arrival order) with the aggregate
//! values each was last emitted with. An input row (`+I`/`+U`) is inserted
//! at its place; a retraction (`-U`/`-D`) removes the earliest equal row.
//! Either changes the frames of the rows from that place on, so after each
//! chunk those rows' values are computed again: a row whose values changed
//! is updated (`-U` old, `+U` new), a new row inserted (`+I`), a removed row
//! deleted (`-D`). Rows before the first change keep their values and emit
//! nothing.
//!
//! The order need not be a time attribute, and nothing waits for a
//! watermark: the result is updated as the input changes. Work per chunk is
//! proportional to the rows from the first change to the end of its
//! partition (times the frame size), so the operator suits inputs whose
//! changes fall near the end of their order, like q6's winning bids.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::row::RowConverter;
use datafusion_common::ScalarValue;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind};

use crate::Result;
use crate::checkpoint::{Decoder, OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::SortKey;
use crate::operators::aggregate::AggCall;
use crate::operators::aggregate::acc::{BoundAggs, accs_descriptor};
use crate::operators::aggregate::keys::{GroupKeys, assemble, keys_descriptor};
use crate::operators::rank::{earliest_equal, order_and_rows_descriptor, sort_fields, whole_rows};
use crate::state::{KeyAt, KeyedState};

/// An OVER aggregate over an updating input, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct RetractOverFactory {
    /// `PARTITION BY` (none: one subtask sees every row).
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// `ORDER BY`.
    pub order: Vec<SortKey>,
    /// The aggregates, all over the same frame.
    pub calls: Vec<AggCall>,
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`; `None` is unbounded.
    pub preceding: Option<u64>,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// The input's columns, then one per call.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for RetractOverFactory {
    fn name(&self) -> String {
        "OverAggregate".into()
    }

    fn explain(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
        let order: Vec<String> = self
            .order
            .iter()
            .map(|k| format!("{}{}", k.expr, if k.descending { " DESC" } else { " ASC" }))
            .collect();
        let calls: Vec<String> = self.calls.iter().map(|c| c.to_string()).collect();
        let frame = match self.preceding {
            None => "UNBOUNDED".to_string(),
            Some(n) => n.to_string(),
        };
        format!(
            "strategy=[Retract], partitionBy=[{}], orderBy=[{}], \
             window=[ROWS BETWEEN {frame} PRECEDING AND CURRENT ROW], select=[{}]",
            keys.join(", "),
            order.join(", "),
            calls.join(", ")
        )
    }

    fn produces_updates(&self) -> bool {
        true
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(RetractOver {
            aggs: BoundAggs::bind(&self.calls, &self.input_schema, false)?,
            keys: GroupKeys::new(&self.keys, &self.input_schema, task.max_parallelism)?,
            order: RowConverter::new(sort_fields(&self.order, &self.input_schema)?)?,
            rows: whole_rows(&self.input_schema)?,
            spec: self.clone(),
            state: KeyedState::default(),
            touched: Vec::new(),
            seq: 0,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        let accs = accs_descriptor(&self.calls, &self.input_schema, false).ok()?;
        let (order, rows) = order_and_rows_descriptor(&self.order, &self.input_schema);
        Some(format!(
            "RetractOverAggregate v1 keys [{}] order [{}] rows [{}] preceding [{:?}] [{accs}]",
            keys_descriptor(&self.keys, &self.input_schema),
            order,
            rows,
            self.preceding
        ))
    }
}

/// One current input row of a partition.
#[derive(Clone)]
struct Held {
    sort: Box<[u8]>,
    seq: u64,
    row: Arc<[u8]>,
    /// The values it was last emitted with (`None`: not emitted yet).
    emitted: Option<Vec<ScalarValue>>,
}

#[derive(Clone, Default)]
struct Partition {
    /// The current rows in order.
    rows: Vec<Held>,
    /// From which position the frames changed since the last emission.
    dirty_from: Option<usize>,
    /// Rows removed since the last emission that had been emitted.
    removed: Vec<(Arc<[u8]>, Vec<ScalarValue>)>,
    /// Whether the current chunk changed it.
    touched: bool,
}

impl Partition {
    fn mark(&mut self, at: usize) {
        self.dirty_from = Some(self.dirty_from.map_or(at, |d| d.min(at)));
    }
}

struct RetractOver {
    spec: RetractOverFactory,
    aggs: BoundAggs,
    keys: GroupKeys,
    order: RowConverter,
    rows: RowConverter,
    state: KeyedState<Partition>,
    /// Partitions changed by the current chunk.
    touched: Vec<KeyAt>,
    seq: u64,
}

/// Rows to emit: (row bytes, aggregate values, kind).
type Emitted = Vec<(Arc<[u8]>, Vec<ScalarValue>, RowKind)>;

/// The parts of the operator that compute values (apart from its state).
struct Evaluator<'a> {
    spec: &'a RetractOverFactory,
    aggs: &'a BoundAggs,
    rows: &'a RowConverter,
}

impl Evaluator<'_> {
    /// Computes the values of the rows from the partition's first change on
    /// and appends what changed.
    fn refresh(&self, p: &mut Partition, out: &mut Emitted) -> Result<()> {
        for (row, values) in p.removed.drain(..) {
            out.push((row, values, RowKind::Delete));
        }
        let Some(from) = p.dirty_from.take() else {
            return Ok(());
        };
        if from >= p.rows.len() {
            return Ok(());
        }
        // The rows whose frames reach back to `from`'s frame start.
        let first = match self.spec.preceding {
            None => 0,
            Some(n) => from.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let parser = self.rows.parser();
        let cols = self
            .rows
            .convert_rows(p.rows[first..].iter().map(|h| parser.parse(&h.row)))?;
        let batch = arrow::array::RecordBatch::try_new(Arc::clone(&self.spec.input_schema), cols)?;
        let inputs = self.aggs.evaluate(&batch)?;
        let mut running = self.aggs.new_accs();
        for (j, i) in (first..p.rows.len()).enumerate() {
            let values = match self.spec.preceding {
                None => {
                    self.aggs.update(&mut running, &inputs, j, 1);
                    if i < from {
                        continue;
                    }
                    self.aggs.values(&running)?
                }
                Some(n) => {
                    if i < from {
                        continue;
                    }
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    let mut accs = self.aggs.new_accs();
                    for k in j.saturating_sub(n)..=j {
                        self.aggs.update(&mut accs, &inputs, k, 1);
                    }
                    self.aggs.values(&accs)?
                }
            };
            let h = &mut p.rows[i];
            match h.emitted.take() {
                None => out.push((Arc::clone(&h.row), values.clone(), RowKind::Insert)),
                Some(old) if old == values => {}
                Some(old) => {
                    out.push((Arc::clone(&h.row), old, RowKind::UpdateBefore));
                    out.push((Arc::clone(&h.row), values.clone(), RowKind::UpdateAfter));
                }
            }
            h.emitted = Some(values);
        }
        Ok(())
    }
}

impl Operator for RetractOver {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let n = chunk.num_rows();
        let encoded = self.keys.encode(&chunk.data)?;
        let sort_cols = self
            .spec
            .order
            .iter()
            .map(|k| k.expr.evaluate(&chunk.data).and_then(|v| v.into_array(n)))
            .collect::<datafusion_common::Result<Vec<_>>>()?;
        let sorts = self.order.convert_columns(&sort_cols)?;
        let full = self.rows.convert_columns(chunk.data.columns())?;
        for i in 0..n {
            let key = encoded.key(i);
            let kg = encoded.key_group(i);
            let sort = sorts.row(i).data();
            let bytes = full.row(i).data();
            if chunk.kind(i).is_accumulate() {
                self.seq += 1;
                let p = self.state.get_or_insert_with(key, kg, Partition::default);
                let at = p.rows.partition_point(|h| h.sort.as_ref() <= sort);
                p.rows.insert(
                    at,
                    Held {
                        sort: sort.into(),
                        seq: self.seq,
                        row: Arc::from(bytes),
                        emitted: None,
                    },
                );
                p.mark(at);
                if !p.touched {
                    p.touched = true;
                    self.touched.push((key.into(), kg));
                }
            } else {
                let Some(p) = self.state.get_mut(key, kg) else {
                    continue;
                };
                let Some(at) = earliest_equal(&p.rows, sort, bytes, |h| (&h.sort, &h.row)) else {
                    continue;
                };
                let gone = p.rows.remove(at);
                if let Some(values) = gone.emitted {
                    p.removed.push((gone.row, values));
                }
                p.mark(at);
                if !p.touched {
                    p.touched = true;
                    self.touched.push((key.into(), kg));
                }
            }
        }
        let mut emitted: Emitted = Vec::new();
        let eval = Evaluator {
            spec: &self.spec,
            aggs: &self.aggs,
            rows: &self.rows,
        };
        for (key, kg) in std::mem::take(&mut self.touched) {
            let Some(p) = self.state.get_mut(&key, kg) else {
                continue;
            };
            p.touched = false;
            eval.refresh(p, &mut emitted)?;
            if p.rows.is_empty() {
                self.state.remove(&key, kg);
            }
        }
        if emitted.is_empty() {
            return Ok(());
        }
        let parser = self.rows.parser();
        let cols = self
            .rows
            .convert_rows(emitted.iter().map(|e| parser.parse(&e.0)))?;
        let values: Vec<Vec<ScalarValue>> = emitted.iter().map(|e| e.1.clone()).collect();
        let agg_cols = self.aggs.columns(&values)?;
        let kinds = emitted.iter().map(|e| e.2 as u8).collect();
        out.emit(assemble(
            &self.spec.output_schema,
            cols,
            agg_cols,
            Some(kinds),
        )?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = self.state.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, p) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    e.len_prefix(p.rows.len());
                    for h in &p.rows {
                        e.bytes(&h.sort);
                        e.u64(h.seq);
                        e.bytes(&h.row);
                        e.opt_scalars(h.emitted.as_deref())?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        let mut max_seq = self.seq;
        state.for_each_keyed(|entry| {
            let mut d = Decoder::new(entry.value);
            let n = d.len_prefix(18)?;
            let mut rows = Vec::with_capacity(n);
            for _ in 0..n {
                let sort: Box<[u8]> = d.bytes()?.into();
                let seq = d.u64()?;
                let row: Arc<[u8]> = Arc::from(d.bytes()?);
                let emitted = d.opt_scalars()?;
                max_seq = max_seq.max(seq);
                rows.push(Held {
                    sort,
                    seq,
                    row,
                    emitted,
                });
            }
            *self
                .state
                .get_or_insert_with(entry.key, entry.key_group, Partition::default) = Partition {
                rows,
                ..Partition::default()
            };
            Ok(())
        })?;
        // New rows come after every restored one among equals.
        self.seq = max_seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::AggFunction;
    use crate::operators::aggregate::tests::{
        assert_restores_anywhere, kinds_and_rows, run_chunks,
    };
    use arrow::array::{Int64Array, RecordBatch, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::col;

    fn factory(preceding: Option<u64>) -> RetractOverFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("t", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let mut out: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        out.push(Field::new("s", DataType::Int64, true));
        RetractOverFactory {
            keys: vec![col("k", &input).unwrap()],
            order: vec![SortKey {
                expr: col("t", &input).unwrap(),
                descending: false,
                nulls_first: false,
            }],
            calls: vec![AggCall {
                function: AggFunction::Sum,
                arg: Some(col("v", &input).unwrap()),
                filter: None,
                distinct: false,
                output_type: DataType::Int64,
            }],
            preceding,
            input_schema: input,
            output_schema: Arc::new(Schema::new(out)),
        }
    }

    fn chunk(rows: &[(RowKind, i64, i64, i64)]) -> Chunk {
        let f = factory(None);
        let col = |i: usize| {
            Arc::new(Int64Array::from(
                rows.iter().map(|r| [r.1, r.2, r.3][i]).collect::<Vec<_>>(),
            )) as arrow::array::ArrayRef
        };
        Chunk::with_kinds(
            RecordBatch::try_new(f.input_schema, vec![col(0), col(1), col(2)]).unwrap(),
            UInt8Array::from(rows.iter().map(|r| r.0 as u8).collect::<Vec<_>>()),
        )
        .unwrap()
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn a_change_updates_the_frames_that_hold_it_and_nothing_before() {
        // One row before the current one (ROWS 1 PRECEDING), by t.
        let out = run_chunks(
            &factory(Some(1)),
            vec![
                chunk(&[(I, 1, 10, 1), (I, 1, 30, 3)]),
                // Between the two: the row at 30 now follows it.
                chunk(&[(I, 1, 20, 2)]),
                // Replace the row at 20 by one at 40: 30's frame loses it, 40 comes last.
                chunk(&[(UB, 1, 20, 2), (UA, 1, 40, 4)]),
                // A retraction of a row never seen is ignored; the first row goes.
                chunk(&[(D, 1, 99, 9), (D, 1, 10, 1)]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,10,1,1",
                "+I 1,30,3,4",
                "+I 1,20,2,3",
                "-U 1,30,3,4",
                "+U 1,30,3,5",
                "-D 1,20,2,3",
                "-U 1,30,3,5",
                "+U 1,30,3,4",
                "+I 1,40,4,7",
                "-D 1,10,1,1",
                "-U 1,30,3,4",
                "+U 1,30,3,3",
            ]
        );
    }

    #[test]
    fn an_unbounded_frame_sums_everything_before() {
        let out = run_chunks(
            &factory(None),
            vec![
                chunk(&[(I, 1, 20, 2), (I, 2, 5, 7)]),
                chunk(&[(I, 1, 10, 1)]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,20,2,2",
                "+I 2,5,7,7",
                "+I 1,10,1,1",
                "-U 1,20,2,2",
                "+U 1,20,2,3",
            ]
        );
    }

    #[test]
    fn restores_anywhere_with_the_same_output() {
        assert_restores_anywhere(
            &factory(Some(1)),
            vec![
                riffle_common::Message::Data(chunk(&[(I, 1, 10, 1), (I, 1, 30, 3)])),
                riffle_common::Message::Data(chunk(&[(I, 1, 20, 2), (I, 2, 1, 1)])),
                riffle_common::Message::Data(chunk(&[(UB, 1, 20, 2), (UA, 1, 40, 4)])),
                riffle_common::Message::Data(chunk(&[(I, 1, 15, 5)])),
            ],
        );
    }
}
