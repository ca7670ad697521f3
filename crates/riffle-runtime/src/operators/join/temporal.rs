//! `TemporalJoin`: an event-time temporal join of a stream (input 0) with a
//! versioned table (input 1), `JOIN t FOR SYSTEM_TIME AS OF s.rowtime ON
//! s.key = t.key` — Flink's `TemporalRowTimeJoinOperator`.
//!
//! The table's changelog is a history per key: a `+I`/`+U` row becomes the
//! key's version from its rowtime on, a `-U`/`-D` ends the version at its
//! rowtime (a `-U` is followed by its `+U` at the same time, which replaces
//! it). A stream row is joined with the version of its key that was valid at
//! the row's time: the latest one at or before it.
//!
//! Rules:
//! - a stream row waits until the watermark reaches its time (only then is
//!   the table's history up to that time complete), then emits one row with
//!   its version, or — for a LEFT join, or when the version fails the
//!   residual condition — padded with nulls (LEFT) or nothing (INNER);
//! - the stream row's change kind carries over, so the output is append-only
//!   exactly when the stream is; the watermark is forwarded unchanged, after
//!   the rows it released;
//! - a version older than the one valid at the watermark can never be read
//!   again and is dropped, so the state holds, per key, the waiting rows and
//!   the versions from the watermark on;
//! - a row whose key has a null matches nothing.
//!
//! State is keyed by the join key in key groups, so it snapshots, restores
//! and rescales like the other keyed operators.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind, Watermark};

use super::{Codec, JoinKind, Pair, assemble_pairs, check_key_types};
use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::time::millis;
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// An event-time temporal join, as stored in the job graph. Input 0 is the
/// stream, input 1 the versioned table; both are hashed by the join key.
#[derive(Debug, Clone)]
pub struct TemporalJoinFactory {
    /// INNER or LEFT.
    pub kind: JoinKind,
    /// Equality keys over the stream.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the table (they cover its primary key).
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The residual condition, over the output schema.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The stream's rowtime column.
    pub left_time: usize,
    /// The table's rowtime column.
    pub right_time: usize,
    /// Schema of the stream.
    pub left_schema: SchemaRef,
    /// Schema of the table.
    pub right_schema: SchemaRef,
    /// Stream columns then table columns.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for TemporalJoinFactory {
    fn name(&self) -> String {
        "TemporalJoin".into()
    }

    fn explain(&self) -> String {
        super::explain_keyed(
            self.kind,
            &self.left_keys,
            &self.right_keys,
            &format!(
                ", leftTimeIndex=[{}], rightTimeIndex=[{}]",
                self.left_time, self.right_time
            ),
            self.filter.as_ref(),
        )
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        super::inner_or_left(self.kind, "temporal join")?;
        check_key_types(
            &self.left_keys,
            &self.right_keys,
            &self.left_schema,
            &self.right_schema,
        )?;
        Ok(Box::new(TemporalJoin {
            codecs: [
                Codec::new(&self.left_keys, &self.left_schema, task)?,
                Codec::new(&self.right_keys, &self.right_schema, task)?,
            ],
            spec: self.clone(),
            state: KeyedState::default(),
            timers: BTreeSet::new(),
            watermark: i64::MIN,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        Some(super::state_descriptor(
            "TemporalJoin",
            self.kind,
            &self.left_keys,
            &self.left_schema,
            &self.right_schema,
        ))
    }
}

/// A stream row waiting for the watermark.
#[derive(Clone)]
struct Waiting {
    time: i64,
    row: Arc<[u8]>,
    kind: RowKind,
}

/// What one join key holds.
#[derive(Clone, Default)]
struct Versioned {
    /// Stream rows not yet released, in arrival order.
    waiting: Vec<Waiting>,
    /// The table's versions by rowtime; `None` ends the previous one.
    versions: BTreeMap<i64, Option<Arc<[u8]>>>,
}

struct TemporalJoin {
    spec: TemporalJoinFactory,
    codecs: [Codec; 2],
    state: KeyedState<Versioned>,
    /// When each key has something to do: release rows or drop versions.
    timers: BTreeSet<(i64, KeyAt)>,
    watermark: i64,
}

impl TemporalJoin {
    fn times(&self, input: usize, chunk: &Chunk) -> Result<Vec<Option<i64>>> {
        let at = if input == 0 {
            self.spec.left_time
        } else {
            self.spec.right_time
        };
        let col = chunk.data.columns().get(at).ok_or_else(|| {
            Error::Internal(format!("a temporal join's time column {at} is missing"))
        })?;
        millis(col, "a temporal join's time column")
    }

    /// Releases the stream rows of `key` with a time at or before the
    /// watermark, and drops the versions nothing can read any more.
    fn fire(&mut self, key: &[u8], kg: u16, pairs: &mut Vec<Pair>) {
        let wm = self.watermark;
        let mut emptied = false;
        if let Some(v) = self.state.get_mut(key, kg) {
            v.waiting.retain(|w| {
                if w.time > wm {
                    return true;
                }
                let version = v
                    .versions
                    .range(..=w.time)
                    .next_back()
                    .and_then(|(_, r)| r.clone());
                pairs.push((Some(Arc::clone(&w.row)), version, w.kind));
                false
            });
            // Keep the version valid at the watermark and the later ones.
            let valid_at_wm = v.versions.range(..=wm).next_back().map(|(t, _)| *t);
            if let Some(t) = valid_at_wm {
                v.versions = v.versions.split_off(&t);
                if v.versions
                    .first_key_value()
                    .is_some_and(|(_, r)| r.is_none())
                {
                    v.versions.pop_first();
                }
            }
            emptied = v.waiting.is_empty() && v.versions.is_empty();
        }
        if emptied {
            self.state.remove(key, kg);
        }
    }

    /// Emits `pairs` (stream row, version or none): those whose version
    /// fails the condition lose it; unmatched rows are padded (LEFT) or
    /// dropped (INNER).
    fn emit(&self, mut pairs: Vec<Pair>, out: &mut Output) -> Result<()> {
        let codecs = [&self.codecs[0], &self.codecs[1]];
        let matched: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].1.is_some()).collect();
        let candidates: Vec<Pair> = matched.iter().map(|&i| pairs[i].clone()).collect();
        let verdict = super::passing(
            self.spec.filter.as_ref(),
            &self.spec.output_schema,
            codecs,
            &candidates,
        )?;
        for (&i, ok) in matched.iter().zip(verdict) {
            if !ok && let Some(p) = pairs.get_mut(i) {
                p.1 = None;
            }
        }
        if self.spec.kind == JoinKind::Inner {
            pairs.retain(|p| p.1.is_some());
        }
        for slice in pairs.chunks(super::PAIRS_PER_BATCH) {
            out.emit(assemble_pairs(&self.spec.output_schema, codecs, slice)?);
        }
        Ok(())
    }
}

impl Operator for TemporalJoin {
    fn process(&mut self, input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        if input > 1 {
            return Err(Error::Internal(format!(
                "a temporal join has no input {input}"
            )));
        }
        let enc = self.codecs[input].encode(&chunk.data)?;
        let times = self.times(input, &chunk)?;
        let mut padded = Vec::new();
        for i in 0..chunk.num_rows() {
            let row: Arc<[u8]> = Arc::from(enc.rows.row(i).data());
            let kind = chunk.kind(i);
            // A row without a time or key can match nothing.
            let time = match times.get(i).copied().flatten() {
                Some(t) if !enc.null_key[i] => t,
                _ => {
                    if input == 0 {
                        padded.push((Some(row), None, kind));
                    }
                    continue;
                }
            };
            let (key, kg) = (enc.key(i), enc.key_groups[i]);
            let v = self.state.get_or_insert_with(key, kg, Versioned::default);
            if input == 0 {
                v.waiting.push(Waiting { time, row, kind });
            } else {
                let version = kind.is_accumulate().then_some(row);
                v.versions.insert(time, version);
            }
            self.timers.insert((time, (Box::from(key), kg)));
        }
        self.emit(padded, out)
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        self.watermark = wm.0;
        let mut due = Vec::new();
        while let Some(first) = self.timers.first() {
            if first.0 > wm.0 {
                break;
            }
            if let Some((_, key)) = self.timers.pop_first() {
                due.push(key);
            }
        }
        due.sort_unstable();
        due.dedup();
        let mut pairs = Vec::new();
        for (key, kg) in due {
            self.fire(&key, kg, &mut pairs);
        }
        self.emit(pairs, out)?;
        out.watermark(wm);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = self.state.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, v) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    e.len_prefix(v.waiting.len());
                    for w in &v.waiting {
                        e.i64(w.time);
                        e.bytes(&w.row);
                        e.u8(w.kind as u8);
                    }
                    e.len_prefix(v.versions.len());
                    for (t, r) in &v.versions {
                        e.i64(*t);
                        e.bool(r.is_some());
                        if let Some(r) = r {
                            e.bytes(r);
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
            let mut v = Versioned::default();
            for _ in 0..d.len_prefix(13)? {
                let time = d.i64()?;
                let row: Arc<[u8]> = Arc::from(d.bytes()?);
                let kind = RowKind::from_byte(d.u8()?)
                    .map_err(|e| Error::External(format!("corrupt temporal join state: {e}")))?;
                v.waiting.push(Waiting { time, row, kind });
            }
            for _ in 0..d.len_prefix(9)? {
                let time = d.i64()?;
                let row = if d.bool()? {
                    Some(Arc::from(d.bytes()?))
                } else {
                    None
                };
                v.versions.insert(time, row);
            }
            let key: KeyAt = (Box::from(entry.key), entry.key_group);
            for t in v
                .waiting
                .iter()
                .map(|w| w.time)
                .chain(v.versions.keys().copied())
            {
                self.timers.insert((t, key.clone()));
            }
            *self
                .state
                .get_or_insert_with(entry.key, entry.key_group, Versioned::default) = v;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::operators::join::tests::{barrier, drive};
    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};
    use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray, UInt8Array};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_expr::Operator as BinOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, col};
    use riffle_common::Message;

    fn schema(k: &str, v: &str, t: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(k, DataType::Int64, true),
            Field::new(v, DataType::Int64, true),
            Field::new(t, DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    /// `s(k, a, t) [LEFT] JOIN r(k2, b, t2) FOR SYSTEM_TIME AS OF s.t ON k = k2
    /// [AND a < b]`.
    fn factory(kind: JoinKind, residual: bool) -> TemporalJoinFactory {
        let left = schema("k", "a", "t");
        let right = schema("k2", "b", "t2");
        let fields: Vec<Field> = left
            .fields()
            .iter()
            .chain(right.fields().iter())
            .map(|f| f.as_ref().clone())
            .collect();
        let out = Arc::new(Schema::new(fields));
        let filter = residual.then(|| {
            Arc::new(BinaryExpr::new(
                col("a", &out).unwrap(),
                BinOp::Lt,
                col("b", &out).unwrap(),
            )) as Arc<dyn PhysicalExpr>
        });
        TemporalJoinFactory {
            kind,
            left_keys: vec![col("k", &left).unwrap()],
            right_keys: vec![col("k2", &right).unwrap()],
            filter,
            left_time: 2,
            right_time: 2,
            left_schema: left,
            right_schema: right,
            output_schema: out,
        }
    }

    /// Rows `(kind, key, value, time)` of side `input`.
    fn rows(
        f: &TemporalJoinFactory,
        input: usize,
        rows: &[(RowKind, Option<i64>, i64, i64)],
    ) -> (usize, Message) {
        let s = if input == 0 {
            &f.left_schema
        } else {
            &f.right_schema
        };
        let batch = RecordBatch::try_new(
            Arc::clone(s),
            vec![
                Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.2)).collect::<Int64Array>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some(r.3))
                        .collect::<TimestampMillisecondArray>(),
                ),
            ],
        )
        .unwrap();
        let kinds = UInt8Array::from(rows.iter().map(|r| r.0 as u8).collect::<Vec<_>>());
        (
            input,
            Message::Data(Chunk::with_kinds(batch, kinds).unwrap()),
        )
    }

    fn wm(t: i64) -> (usize, Message) {
        (0, Message::Watermark(Watermark(t)))
    }

    fn run(f: &TemporalJoinFactory, input: Vec<(usize, Message)>) -> Vec<String> {
        drive(f, input)
    }

    #[test]
    fn a_row_meets_the_version_valid_at_its_time_once_the_watermark_passes_it() {
        let f = factory(JoinKind::Left, false);
        let out = run(
            &f,
            vec![
                rows(&f, 1, &[(I, Some(1), 100, 10), (I, Some(1), 200, 20)]),
                rows(
                    &f,
                    0,
                    &[(I, Some(1), 1, 5), (I, Some(1), 2, 10), (I, Some(1), 3, 25)],
                ),
                wm(19),
                // The version at 30 is read by the row at 30 only.
                rows(&f, 1, &[(UB, Some(1), 200, 30), (UA, Some(1), 300, 30)]),
                rows(&f, 0, &[(I, Some(1), 4, 30), (I, None, 5, 30)]),
                barrier(),
                // Deleted at 40: a row at 45 finds no version.
                rows(&f, 1, &[(D, Some(1), 300, 40)]),
                rows(&f, 0, &[(I, Some(1), 6, 45)]),
                wm(100),
            ],
        );
        assert_eq!(
            out,
            [
                // Released at the watermark 19: the rows at 5 (no version yet) and 10.
                "+I 1,1,1970-01-01T00:00:00.005,null,null,null",
                "+I 1,2,1970-01-01T00:00:00.010,1,100,1970-01-01T00:00:00.010",
                // A row without a key is padded at once.
                "+I null,5,1970-01-01T00:00:00.030,null,null,null",
                // Released at 100, after a restore.
                "+I 1,3,1970-01-01T00:00:00.025,1,200,1970-01-01T00:00:00.020",
                "+I 1,4,1970-01-01T00:00:00.030,1,300,1970-01-01T00:00:00.030",
                "+I 1,6,1970-01-01T00:00:00.045,null,null,null",
            ]
        );
    }

    #[test]
    fn an_inner_join_drops_rows_whose_version_fails_the_condition() {
        let f = factory(JoinKind::Inner, true);
        let out = run(
            &f,
            vec![
                rows(&f, 1, &[(I, Some(1), 100, 0), (I, Some(2), 5, 0)]),
                rows(
                    &f,
                    0,
                    &[(I, Some(1), 50, 1), (I, Some(2), 50, 1), (I, Some(3), 0, 1)],
                ),
                wm(1),
            ],
        );
        assert_eq!(
            out,
            ["+I 1,50,1970-01-01T00:00:00.001,1,100,1970-01-01T00:00:00"]
        );
    }
}
