//! `WindowJoin`: a join of two windowed inputs on their windows — both
//! sides from window table functions (or window aggregates) and the
//! condition equating `window_start` and `window_end` plus keys — Flink's
//! `WindowJoinOperator`.
//!
//! The window bounds are part of the join key (the planner puts them
//! there), so a key's rows all belong to one window. Each side keeps its
//! rows per key until the watermark reaches the window's end; then the
//! window is joined whole and forgotten:
//! - INNER emits every pair that satisfies the residual condition; LEFT,
//!   RIGHT and FULL also emit the rows of their outer sides that matched
//!   nothing, padded; SEMI emits the left rows that matched, ANTI those that
//!   did not (left columns, right ones null: the planner projects them away);
//! - the output is append-only, and the watermark is forwarded after the
//!   windows it fired;
//! - a row whose window already fired (late) is dropped, as in Flink;
//! - a row whose key has a null matches nothing, but an outer side still
//!   emits it padded when its window fires.
//!
//! State is keyed by the join key in key groups, so it snapshots, restores
//! and rescales like the other keyed operators.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind, Watermark};

use super::{Codec, JoinKind, Pair, assemble_pairs, check_key_types, passing};
use crate::checkpoint::{Decoder, Encoder, OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::time::millis;
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// A window join, as stored in the job graph. Input 0 is the left side,
/// input 1 the right; both are hashed by the keys.
#[derive(Debug, Clone)]
pub struct WindowJoinFactory {
    /// The join type.
    pub kind: JoinKind,
    /// Equality keys over the left input, the window bounds among them.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the right input, pairwise of the same types.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The residual condition, over the left columns then the right ones.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The left input's `window_end` column.
    pub left_window_end: usize,
    /// The right input's `window_end` column.
    pub right_window_end: usize,
    /// Schema of the left input.
    pub left_schema: SchemaRef,
    /// Schema of the right input.
    pub right_schema: SchemaRef,
    /// Left columns then right columns.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for WindowJoinFactory {
    fn name(&self) -> String {
        "WindowJoin".into()
    }

    fn explain(&self) -> String {
        super::explain_keyed(
            self.kind,
            &self.left_keys,
            &self.right_keys,
            &format!(
                ", leftWindowEnd=[{}], rightWindowEnd=[{}]",
                self.left_window_end, self.right_window_end
            ),
            self.filter.as_ref(),
        )
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        check_key_types(
            &self.left_keys,
            &self.right_keys,
            &self.left_schema,
            &self.right_schema,
        )?;
        Ok(Box::new(WindowJoin {
            codecs: [
                Codec::new(&self.left_keys, &self.left_schema, task)?,
                Codec::new(&self.right_keys, &self.right_schema, task)?,
            ],
            spec: self.clone(),
            sides: [KeyedState::default(), KeyedState::default()],
            unkeyed: Vec::new(),
            timers: BTreeSet::new(),
            watermark: i64::MIN,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        Some(super::state_descriptor(
            "WindowJoin",
            self.kind,
            &self.left_keys,
            &self.left_schema,
            &self.right_schema,
        ))
    }
}

/// One side's rows of one key (so of one window).
#[derive(Clone)]
struct InWindow {
    /// The window's end (exclusive, epoch ms).
    end: i64,
    rows: Vec<Arc<[u8]>>,
}

struct WindowJoin {
    spec: WindowJoinFactory,
    codecs: [Codec; 2],
    sides: [KeyedState<InWindow>; 2],
    /// Rows with a null key, kept by an outer side until their window ends:
    /// `(window end, side, row)`.
    unkeyed: Vec<(i64, usize, Arc<[u8]>)>,
    /// Windows to fire: `(end, key)`.
    timers: BTreeSet<(i64, KeyAt)>,
    watermark: i64,
}

impl WindowJoin {
    /// The window of key `key` has ended: its pairs and unmatched rows.
    fn fire(&mut self, key: &[u8], kg: u16, pairs: &mut Vec<Pair>) -> Result<()> {
        let take = |s: &mut KeyedState<InWindow>| {
            let rows = s
                .get_mut(key, kg)
                .map(|w| std::mem::take(&mut w.rows))
                .unwrap_or_default();
            s.remove(key, kg);
            rows
        };
        let left = take(&mut self.sides[0]);
        let right = take(&mut self.sides[1]);
        let mut candidates: Vec<Pair> = Vec::with_capacity(left.len() * right.len());
        for l in &left {
            for r in &right {
                candidates.push((Some(Arc::clone(l)), Some(Arc::clone(r)), RowKind::Insert));
            }
        }
        let verdict = passing(
            self.spec.filter.as_ref(),
            &self.spec.output_schema,
            [&self.codecs[0], &self.codecs[1]],
            &candidates,
        )?;
        let mut left_matched = vec![false; left.len()];
        let mut right_matched = vec![false; right.len()];
        let n = right.len();
        for (i, ok) in verdict.iter().enumerate() {
            if !ok {
                continue;
            }
            if let Some(m) = left_matched.get_mut(i / n.max(1)) {
                *m = true;
            }
            if let Some(m) = right_matched.get_mut(i % n.max(1)) {
                *m = true;
            }
        }
        match self.spec.kind {
            JoinKind::Semi | JoinKind::Anti => {
                let want = self.spec.kind == JoinKind::Semi;
                for (l, m) in left.iter().zip(&left_matched) {
                    if *m == want {
                        pairs.push((Some(Arc::clone(l)), None, RowKind::Insert));
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        pairs.extend(
            candidates
                .into_iter()
                .zip(&verdict)
                .filter_map(|(p, ok)| ok.then_some(p)),
        );
        if self.spec.kind.keeps_unmatched(0) {
            for (l, m) in left.iter().zip(&left_matched) {
                if !m {
                    pairs.push((Some(Arc::clone(l)), None, RowKind::Insert));
                }
            }
        }
        if self.spec.kind.keeps_unmatched(1) {
            for (r, m) in right.iter().zip(&right_matched) {
                if !m {
                    pairs.push((None, Some(Arc::clone(r)), RowKind::Insert));
                }
            }
        }
        Ok(())
    }

    fn emit(&self, pairs: &[Pair], out: &mut Output) -> Result<()> {
        let codecs = [&self.codecs[0], &self.codecs[1]];
        for slice in pairs.chunks(super::PAIRS_PER_BATCH) {
            out.emit(assemble_pairs(&self.spec.output_schema, codecs, slice)?);
        }
        Ok(())
    }

    /// Whether side `side` emits its unmatched rows (ANTI's left does).
    fn keeps_unmatched(&self, side: usize) -> bool {
        self.spec.kind.keeps_unmatched(side)
    }
}

impl Operator for WindowJoin {
    fn process(&mut self, input: usize, chunk: Chunk, _out: &mut Output) -> Result<()> {
        if input > 1 {
            return Err(Error::Internal(format!(
                "a window join has no input {input}"
            )));
        }
        if !chunk.is_insert_only() {
            return Err(Error::Internal(
                "a window join received an update; its inputs must be append-only".into(),
            ));
        }
        let enc = self.codecs[input].encode(&chunk.data)?;
        let at = if input == 0 {
            self.spec.left_window_end
        } else {
            self.spec.right_window_end
        };
        let col = chunk.data.columns().get(at).ok_or_else(|| {
            Error::Internal(format!("a window join's window_end column {at} is missing"))
        })?;
        let ends = millis(col, "a window join's window_end")?;
        for i in 0..chunk.num_rows() {
            // Late (its window fired already) or without a window: dropped.
            let Some(end) = ends
                .get(i)
                .copied()
                .flatten()
                .filter(|e| e - 1 > self.watermark)
            else {
                continue;
            };
            let row: Arc<[u8]> = Arc::from(enc.rows.row(i).data());
            if enc.null_key[i] {
                if self.keeps_unmatched(input) {
                    self.unkeyed.push((end, input, row));
                }
                continue;
            }
            let (key, kg) = (enc.key(i), enc.key_groups[i]);
            self.sides[input]
                .get_or_insert_with(key, kg, || InWindow {
                    end,
                    rows: Vec::new(),
                })
                .rows
                .push(row);
            self.timers.insert((end, (Box::from(key), kg)));
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        self.watermark = wm.0;
        let mut pairs = Vec::new();
        while let Some(first) = self.timers.first() {
            // A window [start, end) is complete once the watermark reaches end - 1.
            if first.0 - 1 > wm.0 {
                break;
            }
            if let Some((_, (key, kg))) = self.timers.pop_first() {
                self.fire(&key, kg, &mut pairs)?;
            }
        }
        let due = wm.0;
        let mut kept = Vec::new();
        for (end, side, row) in std::mem::take(&mut self.unkeyed) {
            if end - 1 > due {
                kept.push((end, side, row));
            } else if side == 0 {
                pairs.push((Some(row), None, RowKind::Insert));
            } else {
                pairs.push((None, Some(row), RowKind::Insert));
            }
        }
        self.unkeyed = kept;
        self.emit(&pairs, out)?;
        out.watermark(wm);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = [self.sides[0].freeze(), self.sides[1].freeze()];
        super::snapshot_sides(snap, frozen, |e, w: &InWindow| {
            e.i64(w.end);
            e.len_prefix(w.rows.len());
            for r in &w.rows {
                e.bytes(r);
            }
        });
        // Null-keyed rows of outer sides are operator state: one item each,
        // dealt to some subtask on restore.
        for (end, side, row) in &self.unkeyed {
            let mut e = Encoder::new();
            e.i64(*end);
            e.u8(*side as u8);
            e.bytes(row);
            snap.item(e.into_bytes());
        }
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        for item in &state.items {
            let mut d = Decoder::new(item);
            let end = d.i64()?;
            let side = usize::from(d.u8()? & 1);
            let row: Arc<[u8]> = Arc::from(d.bytes()?);
            self.unkeyed.push((end, side, row));
        }
        super::restore_sides(state, "window join", |side, key, kg, mut d| {
            let end = d.i64()?;
            let mut rows = Vec::new();
            for _ in 0..d.len_prefix(4)? {
                rows.push(Arc::from(d.bytes()?));
            }
            self.timers.insert((end, (Box::from(key), kg)));
            *self.sides[side].get_or_insert_with(key, kg, || InWindow {
                end,
                rows: Vec::new(),
            }) = InWindow { end, rows };
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::operators::join::tests::{barrier, drive};
    use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_expr::Operator as BinOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, col};
    use riffle_common::Message;

    fn schema(k: &str, v: &str, end: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(k, DataType::Int64, true),
            Field::new(v, DataType::Int64, true),
            Field::new(end, DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    /// `l(k, a, e) JOIN r(k2, b, e2) ON k = k2 AND e = e2 [AND a < b]`.
    fn factory(kind: JoinKind, residual: bool) -> WindowJoinFactory {
        let left = schema("k", "a", "e");
        let right = schema("k2", "b", "e2");
        let right_fields = right
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true));
        let out = Arc::new(Schema::new(
            left.fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .chain(right_fields)
                .collect::<Vec<_>>(),
        ));
        let filter = residual.then(|| {
            Arc::new(BinaryExpr::new(
                col("a", &out).unwrap(),
                BinOp::Lt,
                col("b", &out).unwrap(),
            )) as Arc<dyn PhysicalExpr>
        });
        WindowJoinFactory {
            kind,
            left_keys: vec![col("k", &left).unwrap(), col("e", &left).unwrap()],
            right_keys: vec![col("k2", &right).unwrap(), col("e2", &right).unwrap()],
            filter,
            left_window_end: 2,
            right_window_end: 2,
            left_schema: left,
            right_schema: right,
            output_schema: out,
        }
    }

    /// Rows `(key, value, window end)` of side `input`.
    fn rows(
        f: &WindowJoinFactory,
        input: usize,
        rows: &[(Option<i64>, i64, i64)],
    ) -> (usize, Message) {
        let s = if input == 0 {
            &f.left_schema
        } else {
            &f.right_schema
        };
        let batch = RecordBatch::try_new(
            Arc::clone(s),
            vec![
                Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.1)).collect::<Int64Array>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some(r.2))
                        .collect::<TimestampMillisecondArray>(),
                ),
            ],
        )
        .unwrap();
        (input, Message::Data(Chunk::insert_only(batch)))
    }

    fn wm(t: i64) -> (usize, Message) {
        (0, Message::Watermark(Watermark(t)))
    }

    /// Runs the join (a barrier restores it), rows sorted.
    fn run(f: &WindowJoinFactory, input: Vec<(usize, Message)>) -> Vec<String> {
        let mut rows = drive(f, input);
        rows.sort();
        rows
    }

    /// Two windows ending at 10 and 20; key 1 on both sides in the first,
    /// key 2 only left, key 3 only right, a null key on each side; a row
    /// for the first window arriving after it fired is dropped.
    fn input(f: &WindowJoinFactory) -> Vec<(usize, Message)> {
        vec![
            rows(
                f,
                0,
                &[
                    (Some(1), 1, 10),
                    (Some(1), 5, 10),
                    (Some(2), 2, 10),
                    (None, 0, 10),
                ],
            ),
            rows(f, 1, &[(Some(1), 3, 10), (Some(3), 4, 10), (None, 9, 10)]),
            rows(f, 0, &[(Some(1), 7, 20)]),
            barrier(),
            wm(9),
            rows(f, 1, &[(Some(2), 8, 10), (Some(1), 9, 20)]),
            wm(19),
        ]
    }

    #[test]
    fn a_full_window_join_pairs_each_window_and_pads_what_had_no_partner() {
        let f = factory(JoinKind::Full, true);
        assert_eq!(
            run(&f, input(&f)),
            [
                // 1: a = 1 < 3 pairs, a = 5 does not.
                "+I 1,1,1970-01-01T00:00:00.010,1,3,1970-01-01T00:00:00.010",
                "+I 1,5,1970-01-01T00:00:00.010,null,null,null",
                "+I 1,7,1970-01-01T00:00:00.020,1,9,1970-01-01T00:00:00.020",
                "+I 2,2,1970-01-01T00:00:00.010,null,null,null",
                "+I null,0,1970-01-01T00:00:00.010,null,null,null",
                "+I null,null,null,3,4,1970-01-01T00:00:00.010",
                "+I null,null,null,null,9,1970-01-01T00:00:00.010",
            ]
        );
    }

    #[test]
    fn semi_and_anti_window_joins_keep_left_rows_with_and_without_a_partner() {
        let f = factory(JoinKind::Semi, false);
        assert_eq!(
            run(&f, input(&f)),
            [
                "+I 1,1,1970-01-01T00:00:00.010,null,null,null",
                "+I 1,5,1970-01-01T00:00:00.010,null,null,null",
                "+I 1,7,1970-01-01T00:00:00.020,null,null,null",
            ]
        );
        let f = factory(JoinKind::Anti, false);
        assert_eq!(
            run(&f, input(&f)),
            [
                "+I 2,2,1970-01-01T00:00:00.010,null,null,null",
                "+I null,0,1970-01-01T00:00:00.010,null,null,null",
            ]
        );
    }
}
