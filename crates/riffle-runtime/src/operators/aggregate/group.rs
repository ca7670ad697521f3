//! `GroupAggregate`: unbounded `GROUP BY`, emitting a changelog.
//!
//! Each key keeps its accumulators, a count of the rows it holds and the
//! result it emitted last. After every input chunk the keys the chunk touched
//! emit their change: `+I` for a new key, `-U` old / `+U` new for a changed
//! result, `-D` when the key's last row was retracted, nothing when the result
//! did not change. Emitting once per chunk rather than once per row is Flink's
//! mini-batch behaviour: the folded result is the same, the changelog shorter.
//!
//! With a state TTL a key's state is forgotten one TTL after its last write
//! (processing time): the key's next row starts over and emits `+I`, and the
//! result emitted before is not retracted — Flink's behaviour (see
//! [`crate::ttl`]).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_common::ScalarValue;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind};

use super::acc::{Acc, AggCall, BoundAggs, decode_accs, encode_accs};
use super::keys::{GroupKeys, assemble};
use crate::Result;
use crate::checkpoint::{Decoder, OperatorSnapshot, RestoredState};
use crate::clock::Clock;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::state::{KeyAt, KeyedState};
use crate::ttl::{Expiry, StateTtl};

/// Unbounded group aggregation, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct GroupAggregateFactory {
    /// Group keys, evaluated on the input.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Aggregate calls.
    pub aggs: Vec<AggCall>,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// Schema of the output: the keys, then one column per call.
    pub output_schema: SchemaRef,
    /// Whether the input carries retractions.
    pub input_updates: bool,
    /// How long a key's state lives after its last write; `None`: for ever.
    pub ttl: Option<StateTtl>,
}

impl OperatorFactory for GroupAggregateFactory {
    fn name(&self) -> String {
        "GroupAggregate".into()
    }

    fn explain(&self) -> String {
        let text = super::explain_aggs(&self.keys, &self.aggs, &self.output_schema);
        match self.ttl {
            Some(ttl) => format!("{text}, stateTtl=[{ttl}]"),
            None => text,
        }
    }

    fn produces_updates(&self) -> bool {
        true
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(self.build(task, Clock::System)?))
    }

    fn state_descriptor(&self) -> Option<String> {
        let descriptor = super::aggregate_descriptor(
            "GroupAggregate",
            &self.keys,
            &self.aggs,
            &self.input_schema,
            self.input_updates,
        );
        // With a TTL every key carries its write time.
        Some(match self.ttl {
            Some(_) => descriptor + " ttl",
            None => descriptor,
        })
    }
}

impl GroupAggregateFactory {
    fn build(&self, task: &TaskInfo, clock: Clock) -> Result<GroupAggregate> {
        Ok(GroupAggregate {
            aggs: BoundAggs::bind(&self.aggs, &self.input_schema, self.input_updates)?,
            keys: GroupKeys::new(&self.keys, &self.input_schema, task.max_parallelism)?,
            spec: self.clone(),
            state: KeyedState::default(),
            touched: Vec::new(),
            expiry: Expiry::new(&[self.ttl], clock),
        })
    }
}

#[derive(Clone)]
struct GroupState {
    /// Rows currently folded in (accumulated minus retracted).
    rows: i64,
    accs: Vec<Acc>,
    /// The result emitted last, if any.
    emitted: Option<Vec<ScalarValue>>,
    touched: bool,
    /// When it was last written (processing time, ms; with a TTL only).
    written: i64,
}

struct GroupAggregate {
    spec: GroupAggregateFactory,
    aggs: BoundAggs,
    keys: GroupKeys,
    state: KeyedState<GroupState>,
    /// Keys changed since the last flush, with their key groups.
    touched: Vec<KeyAt>,
    expiry: Expiry,
}

impl GroupAggregate {
    /// Forgets every key whose state expired by `now`, and plans the next sweep.
    fn expire(&mut self, now: i64) {
        if let Some(ttl) = self.spec.ttl {
            let stale = |st: &GroupState| ttl.expired(st.written, now);
            self.state.sweep(stale, |_| false);
        }
        self.expiry.swept(now);
    }

    fn flush(&mut self, out: &mut Output) -> Result<()> {
        let mut keys: Vec<Box<[u8]>> = Vec::new();
        let mut values = Vec::new();
        let mut kinds = Vec::new();
        for (key, kg) in std::mem::take(&mut self.touched) {
            let Some(st) = self.state.get_mut(&key, kg) else {
                continue;
            };
            st.touched = false;
            if st.rows <= 0 {
                if let Some(prev) = st.emitted.take() {
                    keys.push(key.clone());
                    values.push(prev);
                    kinds.push(RowKind::Delete as u8);
                }
                self.state.remove(&key, kg);
                continue;
            }
            let new = self.aggs.values(&st.accs)?;
            match st.emitted.take() {
                None => {
                    keys.push(key.clone());
                    values.push(new.clone());
                    kinds.push(RowKind::Insert as u8);
                }
                Some(prev) if prev == new => {}
                Some(prev) => {
                    keys.push(key.clone());
                    values.push(prev);
                    kinds.push(RowKind::UpdateBefore as u8);
                    keys.push(key.clone());
                    values.push(new.clone());
                    kinds.push(RowKind::UpdateAfter as u8);
                }
            }
            st.emitted = Some(new);
        }
        if keys.is_empty() {
            return Ok(());
        }
        let key_cols = self.keys.decode(&keys)?;
        let agg_cols = self.aggs.columns(&values)?;
        out.emit(assemble(
            &self.spec.output_schema,
            key_cols,
            agg_cols,
            Some(kinds),
        )?);
        Ok(())
    }
}

impl Operator for GroupAggregate {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let encoded = self.keys.encode(&chunk.data)?;
        let inputs = self.aggs.evaluate(&chunk.data)?;
        let ttl = self.spec.ttl;
        let now = if ttl.is_some() { self.expiry.now() } else { 0 };
        for row in 0..chunk.num_rows() {
            let sign = if chunk.kind(row).is_accumulate() {
                1
            } else {
                -1
            };
            let key = encoded.key(row);
            let kg = encoded.key_group(row);
            // An expired key is gone, as if it had never been seen; a key
            // this chunk already touched is never expired.
            if let Some(ttl) = ttl
                && self
                    .state
                    .get(key, kg)
                    .is_some_and(|st| !st.touched && ttl.expired(st.written, now))
            {
                self.state.remove(key, kg);
            }
            if sign < 0 && self.state.get_mut(key, kg).is_none() {
                // Retracting a key that holds nothing: Flink ignores it too.
                continue;
            }
            let aggs = &self.aggs;
            let st = self.state.get_or_insert_with(key, kg, || GroupState {
                rows: 0,
                accs: aggs.new_accs(),
                emitted: None,
                touched: false,
                written: now,
            });
            st.written = now;
            if !st.touched {
                st.touched = true;
                self.touched.push((key.into(), kg));
            }
            st.rows += sign;
            self.aggs.update(&mut st.accs, &inputs, row, sign);
        }
        self.flush(out)
    }

    fn next_processing_timer(&self) -> Option<i64> {
        self.expiry.next_sweep()
    }

    fn on_processing_time(&mut self, now_ms: i64, _out: &mut Output) -> Result<()> {
        self.expire(now_ms);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let timed = self.spec.ttl.is_some();
        if timed {
            // A checkpoint holds no expired key.
            self.expire(self.expiry.now());
        }
        let frozen = self.state.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, st) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    e.i64(st.rows);
                    encode_accs(&st.accs, e)?;
                    e.opt_scalars(st.emitted.as_deref())?;
                    if timed {
                        e.i64(st.written);
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        let timed = self.spec.ttl.is_some();
        state.for_each_keyed(|entry| {
            let mut d = Decoder::new(entry.value);
            let rows = d.i64()?;
            let accs = decode_accs(&mut d)?;
            let emitted = d.opt_scalars()?;
            let written = if timed { d.i64()? } else { 0 };
            self.state
                .get_or_insert_with(entry.key, entry.key_group, || GroupState {
                    rows,
                    accs,
                    emitted,
                    touched: false,
                    written,
                });
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::acc::AggFunction;
    use crate::operators::aggregate::tests::{kinds_and_rows, run_chunks};
    use arrow::array::{Int64Array, RecordBatch, StringArray, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::col;

    fn factory(input_updates: bool) -> GroupAggregateFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        GroupAggregateFactory {
            keys: vec![col("k", &input).unwrap()],
            aggs: vec![
                AggCall {
                    function: AggFunction::Count,
                    arg: None,
                    filter: None,
                    distinct: false,
                    output_type: DataType::Int64,
                },
                AggCall {
                    function: AggFunction::Max,
                    arg: Some(col("v", &input).unwrap()),
                    filter: None,
                    distinct: false,
                    output_type: DataType::Int64,
                },
            ],
            output_schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Utf8, false),
                Field::new("c", DataType::Int64, false),
                Field::new("m", DataType::Int64, true),
            ])),
            input_schema: input,
            input_updates,
            ttl: None,
        }
    }

    fn chunk(rows: &[(&str, i64)], kinds: Option<Vec<u8>>) -> Chunk {
        let f = factory(false);
        let b = RecordBatch::try_new(
            f.input_schema,
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        match kinds {
            None => Chunk::insert_only(b),
            Some(k) => Chunk::with_kinds(b, UInt8Array::from(k)).unwrap(),
        }
    }

    #[test]
    fn emits_insert_then_update_pairs() {
        let out = run_chunks(
            &factory(false),
            vec![
                chunk(&[("a", 1), ("b", 5), ("a", 3)], None),
                chunk(&[("a", 2)], None),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I a,2,3", "+I b,1,5", // first chunk, one change per key
                "-U a,2,3", "+U a,3,3",
            ]
        );
    }

    #[test]
    fn retracting_the_last_row_deletes_the_key() {
        let out = run_chunks(
            &factory(true),
            vec![
                chunk(&[("a", 1), ("a", 4)], None),
                chunk(&[("a", 4)], Some(vec![1])),
                chunk(&[("a", 1)], Some(vec![3])),
                chunk(&[("z", 1)], Some(vec![3])),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec!["+I a,2,4", "-U a,2,4", "+U a,1,1", "-D a,1,1"]
        );
    }

    #[test]
    fn restores_anywhere_with_the_same_output() {
        use crate::operators::aggregate::tests::assert_restores_anywhere;
        assert_restores_anywhere(
            &factory(true),
            vec![
                riffle_common::Message::Data(chunk(&[("a", 1), ("a", 4), ("b", 2)], None)),
                riffle_common::Message::Data(chunk(&[("a", 4)], Some(vec![1]))),
                riffle_common::Message::Data(chunk(&[("a", 1)], Some(vec![3]))),
                riffle_common::Message::Data(chunk(&[("b", 7), ("c", 1)], None)),
            ],
        );
    }

    #[test]
    fn expired_keys_start_over_and_leave_memory_and_checkpoints() {
        use std::sync::Arc as A;
        use std::sync::atomic::{AtomicI64, Ordering};
        let clock = A::new(AtomicI64::new(10_000));
        let f = GroupAggregateFactory {
            ttl: StateTtl::from_ms(1_000),
            ..factory(false)
        };
        let mut op = f
            .build(
                &crate::operators::aggregate::tests::task(),
                Clock::Manual(A::clone(&clock)),
            )
            .unwrap();
        let mut out = Output::default();
        op.process(0, chunk(&[("a", 1), ("b", 2)], None), &mut out)
            .unwrap();
        clock.store(10_600, Ordering::SeqCst);
        // A write keeps "a" alive; "b" is only 600 ms old.
        op.process(0, chunk(&[("a", 3)], None), &mut out).unwrap();
        clock.store(11_000, Ordering::SeqCst);
        // "b" expired at 11 000: it starts over with +I, its old row stays.
        op.process(0, chunk(&[("b", 5)], None), &mut out).unwrap();
        let rows = kinds_and_rows(&out.drain().collect::<Vec<_>>());
        assert_eq!(
            rows,
            vec!["+I a,1,1", "+I b,1,2", "-U a,1,1", "+U a,2,3", "+I b,1,5"]
        );
        // A retraction of an expired key is ignored.
        clock.store(12_000, Ordering::SeqCst);
        op.process(0, chunk(&[("a", 3)], Some(vec![3])), &mut out)
            .unwrap();
        assert!(out.is_empty());
        // The sweep is due one TTL after creation; it leaves "b" (written at 11 000)
        // until 12 000, and a checkpoint then holds nothing.
        assert_eq!(op.next_processing_timer(), Some(11_000));
        assert_eq!(
            crate::operators::aggregate::tests::snapshot_entries(&f, &mut op),
            0
        );
        assert_eq!(op.state.len(), 0);
    }
}
