//! `IntervalJoin`: a join of two append-only streams whose rows match only
//! when their times are close, `l.time - r.time ∈ [lower, upper]` — Flink's
//! interval join, on event time or processing time, INNER, LEFT, RIGHT or
//! FULL OUTER.
//!
//! Because the interval bounds how far apart matching rows can be, a row is
//! needed only until the other side's time has passed its interval: a left
//! row at `t` can match right rows up to `t - lower`, a right row at `t`
//! left rows up to `t + upper`. The operator's time is the watermark (event
//! time) or the wall clock (processing time); once it reaches that reach, the
//! row goes from state and, on an outer side, is emitted null-padded if it
//! never matched. A row whose reach the operator's time has already passed
//! when it arrives (a late row) is joined with what is still kept but not
//! kept itself, as in Flink.
//!
//! The output is append-only. Its watermark is held back by the larger of
//! the two reaches, so padded rows emitted late are not behind it (Flink's
//! `getMaxOutputDelay`). Processing-time rows still kept when a bounded input
//! ends are dropped without padding: Flink does not fire pending
//! processing-time timers when a job finishes.
//!
//! The time predicates are not part of the residual condition: the operator
//! checks the interval itself, on the rows' event times, or on their arrival
//! times for processing time.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind, Watermark};

use super::{
    Codec, Encoded, JoinKind, Pair, assemble_pairs, check_key_types, keep_passing, oriented,
    residual, restore_sides, snapshot_sides,
};
use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::clock::Clock;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::aggregate::TimeDomain;
use crate::operators::time::millis;
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// The interval of an interval join: `left.time - right.time` lies in
/// `[lower, upper]` (milliseconds, both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// Least `left.time - right.time`.
    pub lower: i64,
    /// Greatest `left.time - right.time`.
    pub upper: i64,
}

impl TimeBounds {
    /// How far past its own time a row of side `side` can still be matched
    /// by the other side's time.
    fn reach(self, side: usize) -> i64 {
        if side == 0 {
            self.lower.saturating_neg()
        } else {
            self.upper
        }
    }

    /// The other side's times a row of side `side` at `t` matches.
    fn partners(self, side: usize, t: i64) -> (i64, i64) {
        if side == 0 {
            (t.saturating_sub(self.upper), t.saturating_sub(self.lower))
        } else {
            (t.saturating_add(self.lower), t.saturating_add(self.upper))
        }
    }

    /// How much the output watermark lags the input's: the larger reach.
    fn delay(self) -> i64 {
        self.reach(0).max(self.reach(1)).max(0)
    }
}

/// An interval join, as stored in the job graph. Input 0 is the left side,
/// input 1 the right; the output is the left columns, then the right.
#[derive(Debug, Clone)]
pub struct IntervalJoinFactory {
    /// The join type.
    pub kind: JoinKind,
    /// Equality keys over the left input (none: one subtask joins all).
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the right input, pairwise of the same types.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The condition besides keys and interval, over the output schema.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Event or processing time.
    pub time: TimeDomain,
    /// The interval.
    pub bounds: TimeBounds,
    /// Index of the left input's time column (event time).
    pub left_time: usize,
    /// Index of the right input's time column (event time).
    pub right_time: usize,
    /// Schema of the left input.
    pub left_schema: SchemaRef,
    /// Schema of the right input.
    pub right_schema: SchemaRef,
    /// Left columns then right columns.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for IntervalJoinFactory {
    fn name(&self) -> String {
        "IntervalJoin".into()
    }

    fn explain(&self) -> String {
        let mut s = format!(
            "joinType=[{}], windowBounds=[isRowTime={}, leftLowerBound={}, leftUpperBound={}, \
             leftTimeIndex={}, rightTimeIndex={}]",
            self.kind.flink_name(),
            self.time == TimeDomain::EventTime,
            self.bounds.lower,
            self.bounds.upper,
            self.left_time,
            self.right_time
        );
        if let Some(f) = &self.filter {
            s.push_str(&format!(", where=[{f}]"));
        }
        s
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        check_key_types(
            &self.left_keys,
            &self.right_keys,
            &self.left_schema,
            &self.right_schema,
        )?;
        if self.bounds.lower > self.bounds.upper {
            return Err(Error::Internal(format!(
                "an interval join whose interval [{}, {}] is empty",
                self.bounds.lower, self.bounds.upper
            )));
        }
        let side = |keys: &[Arc<dyn PhysicalExpr>], schema: &SchemaRef| -> Result<Side> {
            Ok(Side {
                codec: Codec::new(keys, schema, task)?,
                state: KeyedState::default(),
                expiry: BTreeMap::new(),
            })
        };
        Ok(Box::new(IntervalJoin {
            sides: [
                side(&self.left_keys, &self.left_schema)?,
                side(&self.right_keys, &self.right_schema)?,
            ],
            spec: self.clone(),
            time: i64::MIN,
            clock: Clock::System,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        Some(super::state_descriptor(
            "IntervalJoin",
            self.kind,
            &self.left_keys,
            &self.left_schema,
            &self.right_schema,
        ))
    }
}

/// A row kept by one side.
#[derive(Clone)]
struct Timed {
    /// Its time (event time, or arrival for processing time).
    time: i64,
    /// The row, in the side's row format.
    row: Arc<[u8]>,
    /// Whether it was joined with a row of the other side (outer sides).
    matched: bool,
}

/// One input of the interval join.
struct Side {
    codec: Codec,
    /// The kept rows per join key.
    state: KeyedState<Vec<Timed>>,
    /// Keys with rows at each time, for dropping rows in time order.
    expiry: BTreeMap<i64, Vec<KeyAt>>,
}

impl Side {
    fn keep(&mut self, key: &[u8], kg: u16, t: Timed) {
        self.expiry
            .entry(t.time)
            .or_default()
            .push((Box::from(key), kg));
        self.state.get_or_insert_with(key, kg, Vec::new).push(t);
    }
}

struct IntervalJoin {
    spec: IntervalJoinFactory,
    sides: [Side; 2],
    /// The operator's time: the last watermark, or the wall clock.
    time: i64,
    clock: Clock,
}

impl IntervalJoin {
    /// The times of the rows of a chunk arriving on `input`.
    fn times(&self, input: usize, chunk: &Chunk) -> Result<Vec<Option<i64>>> {
        match self.spec.time {
            TimeDomain::EventTime => {
                let at = if input == 0 {
                    self.spec.left_time
                } else {
                    self.spec.right_time
                };
                let col = chunk.data.columns().get(at).ok_or_else(|| {
                    Error::Internal(format!("an interval join's time column {at} is missing"))
                })?;
                millis(col, "an interval join's time column")
            }
            TimeDomain::ProcessingTime => Ok(vec![Some(self.time); chunk.num_rows()]),
        }
    }

    /// Drops the rows the operator's time has passed the reach of, emitting
    /// the unmatched ones of an outer side padded.
    fn expire(&mut self, out: &mut Output) -> Result<()> {
        let mut pairs: Vec<Pair> = Vec::new();
        for input in 0..2 {
            let reach = self.spec.bounds.reach(input);
            let outer = self.spec.kind.keeps_unmatched(input);
            // Rows with `t + reach <= time` can match nothing more.
            let last = self.time.saturating_sub(reach);
            let side = &mut self.sides[input];
            while let Some(entry) = side.expiry.first_entry() {
                if *entry.key() > last {
                    break;
                }
                for (key, kg) in entry.remove() {
                    let mut emptied = false;
                    if let Some(held) = side.state.get_mut(&key, kg) {
                        held.retain(|h| {
                            if h.time > last {
                                return true;
                            }
                            if outer && !h.matched {
                                pairs.push(oriented(
                                    input,
                                    Some(Arc::clone(&h.row)),
                                    None,
                                    RowKind::Insert,
                                ));
                            }
                            false
                        });
                        emptied = held.is_empty();
                    }
                    if emptied {
                        side.state.remove(&key, kg);
                    }
                }
            }
        }
        self.emit(&pairs, out)
    }

    fn emit(&self, pairs: &[Pair], out: &mut Output) -> Result<()> {
        let codecs = [&self.sides[0].codec, &self.sides[1].codec];
        for slice in pairs.chunks(super::PAIRS_PER_BATCH) {
            out.emit(assemble_pairs(&self.spec.output_schema, codecs, slice)?);
        }
        Ok(())
    }

    /// For each row of the chunk, the indexes of the other side's kept rows
    /// of its key within its interval that satisfy the residual condition.
    fn matches(
        &self,
        input: usize,
        chunk: &Chunk,
        enc: &Encoded,
        times: &[Option<i64>],
    ) -> Result<Vec<Vec<usize>>> {
        let other = &self.sides[1 - input];
        let mut candidates: Vec<Vec<usize>> = vec![Vec::new(); chunk.num_rows()];
        let mut pairs: Vec<(u32, Arc<[u8]>)> = Vec::new();
        for (i, c) in candidates.iter_mut().enumerate() {
            let Some(t) = times.get(i).copied().flatten() else {
                continue;
            };
            if enc.null_key[i] {
                continue;
            }
            let (from, to) = self.spec.bounds.partners(input, t);
            if let Some(held) = other.state.get(enc.key(i), enc.key_groups[i]) {
                for (j, h) in held.iter().enumerate() {
                    if h.time >= from && h.time <= to {
                        c.push(j);
                        pairs.push((i as u32, Arc::clone(&h.row)));
                    }
                }
            }
        }
        let Some(filter) = &self.spec.filter else {
            return Ok(candidates);
        };
        if pairs.is_empty() {
            return Ok(candidates);
        }
        let verdict = residual(
            filter,
            &self.spec.output_schema,
            input,
            chunk,
            &other.codec.rows,
            &pairs,
        )?;
        keep_passing(&mut candidates, &verdict);
        Ok(candidates)
    }
}

impl Operator for IntervalJoin {
    fn process(&mut self, input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        if input > 1 {
            return Err(Error::Internal(format!(
                "an interval join has no input {input}"
            )));
        }
        if (0..chunk.num_rows()).any(|i| chunk.kind(i) != RowKind::Insert) {
            return Err(Error::Internal(
                "an interval join received an update; its inputs must be append-only".into(),
            ));
        }
        if self.spec.time == TimeDomain::ProcessingTime {
            self.time = self.clock.now();
        }
        let enc = self.sides[input].codec.encode(&chunk.data)?;
        let times = self.times(input, &chunk)?;
        let matched = self.matches(input, &chunk, &enc, &times)?;
        let own_outer = self.spec.kind.keeps_unmatched(input);
        let other_outer = self.spec.kind.keeps_unmatched(1 - input);
        let reach = self.spec.bounds.reach(input);
        let mut pairs: Vec<Pair> = Vec::new();
        for (i, matched) in matched.iter().enumerate() {
            let key = enc.key(i);
            let kg = enc.key_groups[i];
            let row: Arc<[u8]> = Arc::from(enc.rows.row(i).data());
            if !matched.is_empty()
                && let Some(held) = self.sides[1 - input].state.get_mut(key, kg)
            {
                for &j in matched {
                    let Some(h) = held.get_mut(j) else { continue };
                    if other_outer {
                        h.matched = true;
                    }
                    pairs.push(oriented(
                        input,
                        Some(Arc::clone(&row)),
                        Some(Arc::clone(&h.row)),
                        RowKind::Insert,
                    ));
                }
            }
            let t = times.get(i).copied().flatten();
            let keepable =
                !enc.null_key[i] && t.is_some_and(|t| t.saturating_add(reach) > self.time);
            match t {
                Some(t) if keepable => self.sides[input].keep(
                    key,
                    kg,
                    Timed {
                        time: t,
                        row,
                        matched: !matched.is_empty(),
                    },
                ),
                _ if own_outer && matched.is_empty() => {
                    pairs.push(oriented(input, Some(row), None, RowKind::Insert));
                }
                _ => {}
            }
        }
        self.emit(&pairs, out)
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        if self.spec.time == TimeDomain::EventTime {
            self.time = wm.0;
            self.expire(out)?;
        }
        out.watermark(if wm == Watermark::MAX {
            wm
        } else {
            Watermark(wm.0.saturating_sub(self.spec.bounds.delay()))
        });
        Ok(())
    }

    fn next_processing_timer(&self) -> Option<i64> {
        if self.spec.time != TimeDomain::ProcessingTime {
            return None;
        }
        (0..2)
            .filter_map(|s| {
                let first = *self.sides[s].expiry.keys().next()?;
                Some(first.saturating_add(self.spec.bounds.reach(s)))
            })
            .min()
    }

    fn on_processing_time(&mut self, now_ms: i64, out: &mut Output) -> Result<()> {
        if self.spec.time != TimeDomain::ProcessingTime {
            return Ok(());
        }
        self.time = self.time.max(now_ms);
        self.expire(out)
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = [self.sides[0].state.freeze(), self.sides[1].state.freeze()];
        snapshot_sides(snap, frozen, |e, held: &Vec<Timed>| {
            e.len_prefix(held.len());
            for h in held {
                e.i64(h.time);
                e.bytes(&h.row);
                e.bool(h.matched);
            }
        });
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        restore_sides(state, "interval join", |side, key, kg, mut d| {
            let n = d.len_prefix(13)?;
            for _ in 0..n {
                let time = d.i64()?;
                let row: Arc<[u8]> = Arc::from(d.bytes()?);
                let matched = d.bool()?;
                self.sides[side].keep(key, kg, Timed { time, row, matched });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::tests::{kinds_and_rows, restored_copy, task};
    use arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion_physical_expr::expressions::col;
    use riffle_common::{CheckpointBarrier, Message};
    use std::sync::atomic::{AtomicI64, Ordering};

    fn schema(k: &str, t: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(k, DataType::Int64, true),
            Field::new(t, DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    /// `l(k, lt) JOIN r(k2, rt) ON k = k2 AND lt BETWEEN rt - 10 AND rt + 5`
    /// (milliseconds).
    fn factory(kind: JoinKind, time: TimeDomain) -> IntervalJoinFactory {
        let left = schema("k", "lt");
        let right = schema("k2", "rt");
        let out = Arc::new(Schema::new(
            left.fields()
                .iter()
                .chain(right.fields().iter())
                .cloned()
                .collect::<Vec<_>>(),
        ));
        IntervalJoinFactory {
            kind,
            left_keys: vec![col("k", &left).unwrap()],
            right_keys: vec![col("k2", &right).unwrap()],
            filter: None,
            time,
            bounds: TimeBounds {
                lower: -10,
                upper: 5,
            },
            left_time: 1,
            right_time: 1,
            left_schema: left,
            right_schema: right,
            output_schema: out,
        }
    }

    /// Rows `(key, time)` of side `input`.
    fn rows(f: &IntervalJoinFactory, input: usize, rows: &[(i64, i64)]) -> (usize, Message) {
        let s = if input == 0 {
            &f.left_schema
        } else {
            &f.right_schema
        };
        let batch = RecordBatch::try_new(
            Arc::clone(s),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        (input, Message::Data(Chunk::insert_only(batch)))
    }

    fn wm(t: i64) -> (usize, Message) {
        (0, Message::Watermark(Watermark(t)))
    }

    /// Feeds `input` to `op`; a barrier snapshots it and goes on with a
    /// copy restored from that snapshot.
    fn drive(
        f: &IntervalJoinFactory,
        op: &mut Box<dyn Operator>,
        input: Vec<(usize, Message)>,
    ) -> Vec<String> {
        let mut out = Output::default();
        let mut emitted = Vec::new();
        for (i, m) in input {
            match m {
                Message::Data(c) => op.process(i, c, &mut out).unwrap(),
                Message::Watermark(w) => op.on_watermark(w, &mut out).unwrap(),
                Message::Barrier(b) => {
                    let mut snap = OperatorSnapshot::default();
                    op.snapshot(b.checkpoint_id, &mut snap).unwrap();
                    *op = restored_copy(f, snap);
                }
                _ => {}
            }
            emitted.extend(out.drain());
        }
        kinds_and_rows(&emitted)
    }

    /// A time of the tests' rows, as printed.
    fn at(ms: i64) -> String {
        format!("1970-01-01T00:00:00.{ms:03}")
    }

    #[test]
    fn rows_match_within_the_interval_in_either_arrival_order() {
        let f = factory(JoinKind::Inner, TimeDomain::EventTime);
        let mut op = f.create(&task()).unwrap();
        let out = drive(
            &f,
            &mut op,
            vec![
                // Right rows at 100 and 200; left rows match when lt - rt is in [-10, 5].
                rows(&f, 1, &[(1, 100), (1, 200), (2, 100)]),
                rows(&f, 0, &[(1, 90), (1, 89), (1, 105), (1, 106), (2, 100)]),
                // A right row arriving after the left ones it matches.
                rows(&f, 1, &[(1, 95)]),
            ],
        );
        let mut got = out;
        got.sort();
        let mut expected = vec![
            format!("+I 1,{},1,{}", at(90), at(100)),
            format!("+I 1,{},1,{}", at(105), at(100)),
            format!("+I 2,{},2,{}", at(100), at(100)),
            // rt 95 matches lt in [85, 100]: 90 and 89.
            format!("+I 1,{},1,{}", at(89), at(95)),
            format!("+I 1,{},1,{}", at(90), at(95)),
        ];
        expected.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn the_watermark_drops_rows_pads_unmatched_outer_rows_and_is_held_back() {
        let f = factory(JoinKind::Full, TimeDomain::EventTime);
        let mut op = f.create(&task()).unwrap();
        let out = drive(
            &f,
            &mut op,
            vec![
                rows(&f, 0, &[(1, 100), (3, 100)]),
                rows(&f, 1, &[(1, 97), (4, 100)]),
                // Left rows reach 10 ms past their time, right rows 5 ms.
                wm(104),
                wm(105),
                wm(110),
            ],
        );
        assert_eq!(
            out,
            vec![
                format!("+I 1,{},1,{}", at(100), at(97)),
                // Held back by the larger reach, 10 ms.
                "WM 94".into(),
                // The right row of key 4 (time 100) is done at 105.
                format!("+I null,null,4,{}", at(100)),
                "WM 95".into(),
                // The unmatched left row of key 3 at 110; the matched one goes silently.
                format!("+I 3,{},null,null", at(100)),
                "WM 100".into(),
            ]
        );
        // Nothing is kept any more: a right row that would have matched
        // key 1 is late and unmatched.
        let late = drive(&f, &mut op, vec![rows(&f, 1, &[(1, 95)])]);
        assert_eq!(late, vec![format!("+I null,null,1,{}", at(95))]);
    }

    #[test]
    fn a_residual_condition_and_null_keys_limit_the_matches() {
        let mut f = factory(JoinKind::Left, TimeDomain::EventTime);
        // k2 > 1 on the output's columns.
        f.filter = Some(Arc::new(
            datafusion_physical_expr::expressions::BinaryExpr::new(
                col("k2", &f.output_schema).unwrap(),
                datafusion_expr::Operator::Gt,
                datafusion_physical_expr::expressions::lit(1i64),
            ),
        ));
        let mut op = f.create(&task()).unwrap();
        let left = RecordBatch::try_new(
            Arc::clone(&f.left_schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
                Arc::new(TimestampMillisecondArray::from(vec![100, 100, 100])),
            ],
        )
        .unwrap();
        let out = drive(
            &f,
            &mut op,
            vec![
                rows(&f, 1, &[(1, 100), (2, 100)]),
                (0, Message::Data(Chunk::insert_only(left))),
                wm(i64::MAX),
            ],
        );
        assert_eq!(
            out,
            vec![
                format!("+I 2,{},2,{}", at(100), at(100)),
                // The null key is emitted padded at once: it can never match.
                format!("+I null,{},null,null", at(100)),
                format!("+I 1,{},null,null", at(100)),
            ]
        );
    }

    #[test]
    fn processing_time_uses_arrival_times_and_the_wall_clock() {
        let f = factory(JoinKind::Left, TimeDomain::ProcessingTime);
        let clock = Arc::new(AtomicI64::new(1_000));
        let mut op = IntervalJoin {
            sides: [
                Side {
                    codec: Codec::new(&f.left_keys, &f.left_schema, &task()).unwrap(),
                    state: KeyedState::default(),
                    expiry: BTreeMap::new(),
                },
                Side {
                    codec: Codec::new(&f.right_keys, &f.right_schema, &task()).unwrap(),
                    state: KeyedState::default(),
                    expiry: BTreeMap::new(),
                },
            ],
            spec: f.clone(),
            time: i64::MIN,
            clock: Clock::Manual(Arc::clone(&clock)),
        };
        // The column values do not matter, arrival does: left at 1000,
        // right at 1008 (lt - rt = -8, inside [-10, 5]).
        let mut out = Output::default();
        let (_, Message::Data(l)) = rows(&f, 0, &[(1, 0), (2, 0)]) else {
            unreachable!()
        };
        op.process(0, l, &mut out).unwrap();
        clock.store(1_008, Ordering::SeqCst);
        let (_, Message::Data(r)) = rows(&f, 1, &[(1, 0)]) else {
            unreachable!()
        };
        op.process(1, r, &mut out).unwrap();
        assert_eq!(op.next_processing_timer(), Some(1_010));
        op.on_processing_time(1_010, &mut out).unwrap();
        let out: Vec<Message> = out.drain().collect();
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,1970-01-01T00:00:00,1,1970-01-01T00:00:00",
                "+I 2,1970-01-01T00:00:00,null,null",
            ]
        );
        // Only the right row is left, until 1008 + 5.
        assert_eq!(op.next_processing_timer(), Some(1_013));
    }

    #[test]
    fn a_restored_interval_join_goes_on_as_if_nothing_happened() {
        let f = factory(JoinKind::Full, TimeDomain::EventTime);
        let input = |barrier: bool| {
            let mut v = vec![
                rows(&f, 0, &[(1, 100), (2, 100)]),
                rows(&f, 1, &[(2, 95)]),
                wm(90),
            ];
            if barrier {
                v.push((
                    0,
                    Message::Barrier(CheckpointBarrier {
                        checkpoint_id: 1,
                        timestamp_ms: 0,
                        is_savepoint: false,
                        stop: false,
                    }),
                ));
            }
            v.extend([rows(&f, 1, &[(1, 104), (1, 111)]), wm(200)]);
            v
        };
        let expected = drive(&f, &mut f.create(&task()).unwrap(), input(false));
        let restored = drive(&f, &mut f.create(&task()).unwrap(), input(true));
        assert_eq!(restored, expected);
        assert!(expected.iter().any(|r| r.contains("null,null")));
    }
}
