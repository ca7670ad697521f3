//! `Rank`: `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` with a filter
//! on the row number — Top-N and deduplication.
//!
//! Per partition key the operator keeps the best `end` rows in order. Rows
//! that compare equal keep their arrival order: for Top-N and "keep first"
//! the earlier row wins, for "keep last" deduplication (`ORDER BY time DESC`,
//! row number 1, number not selected) the later row wins — Flink's rules.
//! After each input chunk every touched partition emits the difference
//! between what it emitted before and what it holds now: with the row number
//! selected, per rank position (`-U` old / `+U` new, `+I` for a new position);
//! without it, per row (`-D` evicted / `+I` entered, or `-U`/`+U` when only
//! one row is kept).
//!
//! Over an updating input (`retract`) the operator keeps every row of a
//! partition, not only the best `end`: a retraction (`-U`/`-D`) removes the
//! earliest held row equal to it, and the next row moves up into the kept
//! range — Flink's retractable Top-N. A retraction of a row not held (state
//! already expired) is ignored. Deduplication ("keep last") needs an
//! append-only input.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt64Array};
use arrow::compute::SortOptions;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, RowKind};

use crate::checkpoint::{Decoder, OperatorSnapshot, RestoredState};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::aggregate::keys::{GroupKeys, assemble};
use crate::state::{KeyAt, KeyedState};
use crate::{Error, Result};

/// One `ORDER BY` term.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// The expression, over the input.
    pub expr: Arc<dyn PhysicalExpr>,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}

/// The row-format fields of an `ORDER BY` over `schema`.
pub(crate) fn sort_fields(order: &[SortKey], schema: &SchemaRef) -> Result<Vec<SortField>> {
    order
        .iter()
        .map(|k| {
            Ok(SortField::new_with_options(
                k.expr.data_type(schema)?,
                SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                },
            ))
        })
        .collect()
}

/// The position of the earliest entry equal to a retracted row in `rows`,
/// which are in sort order (equal sorts in arrival order); `parts` gives an
/// entry's sort bytes and row bytes.
pub(crate) fn earliest_equal<T>(
    rows: &[T],
    sort: &[u8],
    row: &[u8],
    parts: impl Fn(&T) -> (&[u8], &[u8]),
) -> Option<usize> {
    let from = rows.partition_point(|e| parts(e).0 < sort);
    let at = rows[from..]
        .iter()
        .map(&parts)
        .take_while(|(s, _)| *s == sort)
        .position(|(_, r)| r == row)?;
    Some(from + at)
}

/// A converter of whole rows of `schema` (how ordering operators keep rows).
pub(crate) fn whole_rows(schema: &SchemaRef) -> Result<RowConverter> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect();
    Ok(RowConverter::new(fields)?)
}

/// State descriptor texts of an `ORDER BY` and of whole rows of `schema`:
/// `(order, rows)`, each a comma-separated list of types.
pub(crate) fn order_and_rows_descriptor(order: &[SortKey], schema: &SchemaRef) -> (String, String) {
    let order: Vec<String> = order
        .iter()
        .map(|k| {
            let t = k
                .expr
                .data_type(schema)
                .map(|t| crate::checkpoint::codec::type_text(&t))
                .unwrap_or_else(|e| format!("?({e})"));
            format!("{t} {}", if k.descending { "DESC" } else { "ASC" })
        })
        .collect();
    let rows: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| crate::checkpoint::codec::type_text(f.data_type()))
        .collect();
    (order.join(", "), rows.join(", "))
}

/// Top-N / deduplication, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct RankFactory {
    /// `PARTITION BY`.
    pub partition: Vec<Arc<dyn PhysicalExpr>>,
    /// `ORDER BY` (empty: arrival order, i.e. processing time).
    pub order: Vec<SortKey>,
    /// First row number kept (1-based).
    pub start: usize,
    /// Last row number kept.
    pub end: usize,
    /// Whether the row number is selected downstream.
    pub output_rank: bool,
    /// Among equal rows, the later arrival ranks first ("keep last").
    pub later_wins_ties: bool,
    /// The input has updates: keep every row so a retraction can promote
    /// the next one.
    pub retract: bool,
    /// Schema of the input.
    pub input_schema: SchemaRef,
    /// The input columns and the row number (`UInt64`).
    pub output_schema: SchemaRef,
}

impl RankFactory {
    /// Whether this is deduplication (row number 1, number not selected).
    pub fn is_deduplicate(&self) -> bool {
        self.start == 1 && self.end == 1 && !self.output_rank
    }
}

impl OperatorFactory for RankFactory {
    fn name(&self) -> String {
        if self.is_deduplicate() {
            "Deduplicate".into()
        } else {
            "Rank".into()
        }
    }

    fn explain(&self) -> String {
        let p: Vec<String> = self.partition.iter().map(|e| e.to_string()).collect();
        let o: Vec<String> = self
            .order
            .iter()
            .map(|k| format!("{}{}", k.expr, if k.descending { " DESC" } else { " ASC" }))
            .collect();
        let keep = if self.later_wins_ties {
            "last"
        } else {
            "first"
        };
        // Flink's names for the two ways of keeping the rows.
        let strategy = if self.retract {
            "RetractStrategy"
        } else {
            "AppendFastStrategy"
        };
        format!(
            "strategy=[{strategy}], partitionBy=[{}], orderBy=[{}], rankRange=[{}..{}], outputRankNumber={}, ties=[keep {keep}]",
            p.join(", "),
            o.join(", "),
            self.start,
            self.end,
            self.output_rank
        )
    }

    fn produces_updates(&self) -> bool {
        // Keeping the first row by arrival never replaces it.
        self.retract || !(self.is_deduplicate() && self.order.is_empty() && !self.later_wins_ties)
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        if self.start == 0 || self.end < self.start {
            return Err(Error::Internal(format!(
                "bad rank range {}..{}",
                self.start, self.end
            )));
        }
        if self.retract && self.later_wins_ties {
            return Err(Error::Internal(
                "keep-last deduplication over an updating input".into(),
            ));
        }
        let order_fields = sort_fields(&self.order, &self.input_schema)?;
        Ok(Box::new(Rank {
            keys: GroupKeys::new(&self.partition, &self.input_schema, task.max_parallelism)?,
            order: if order_fields.is_empty() {
                None
            } else {
                Some(RowConverter::new(order_fields)?)
            },
            rows: whole_rows(&self.input_schema)?,
            spec: self.clone(),
            state: KeyedState::default(),
            touched: Vec::new(),
            seq: 0,
        }))
    }

    fn state_descriptor(&self) -> Option<String> {
        let (order, rows) = order_and_rows_descriptor(&self.order, &self.input_schema);
        // A retracting rank holds every row: its state means something else.
        let retract = if self.retract { " retract" } else { "" };
        Some(format!(
            "Rank v1 partition [{}] order [{order}] rows [{rows}] keep [{}..{}] later-wins [{}]{retract}",
            crate::operators::aggregate::keys::keys_descriptor(&self.partition, &self.input_schema),
            self.start,
            self.end,
            self.later_wins_ties
        ))
    }
}

#[derive(Clone)]
struct Entry {
    sort: Box<[u8]>,
    seq: u64,
    row: Arc<[u8]>,
}

#[derive(Default, Clone)]
struct Partition {
    /// The best rows (every row when retracting), in rank order.
    held: Vec<Entry>,
    /// What was emitted last: (sequence number, row) per rank position kept.
    emitted: Vec<(u64, Arc<[u8]>)>,
    touched: bool,
}

struct Rank {
    spec: RankFactory,
    keys: GroupKeys,
    order: Option<RowConverter>,
    rows: RowConverter,
    state: KeyedState<Partition>,
    /// Partitions changed by the current chunk, with their key groups.
    touched: Vec<KeyAt>,
    seq: u64,
}

/// Rows to emit: (row bytes, row number, kind).
type Emitted = Vec<(Arc<[u8]>, u64, RowKind)>;

/// Appends what changed in a partition since it last emitted.
fn diff(spec: &RankFactory, p: &mut Partition, out: &mut Emitted) {
    let first = spec.start - 1;
    let now: Vec<(u64, Arc<[u8]>)> = p
        .held
        .iter()
        .take(spec.end)
        .skip(first)
        .map(|e| (e.seq, Arc::clone(&e.row)))
        .collect();
    let before = std::mem::replace(&mut p.emitted, now);
    let now = &p.emitted;
    // Per rank position: with the row number selected, and when only one row is
    // kept (a replacement is then an update of the key's row).
    if spec.output_rank || spec.end == spec.start {
        for i in 0..before.len().max(now.len()) {
            let rank = (first + i + 1) as u64;
            match (before.get(i), now.get(i)) {
                (Some(b), Some(n)) if b.0 != n.0 => {
                    out.push((Arc::clone(&b.1), rank, RowKind::UpdateBefore));
                    out.push((Arc::clone(&n.1), rank, RowKind::UpdateAfter));
                }
                (None, Some(n)) => out.push((Arc::clone(&n.1), rank, RowKind::Insert)),
                (Some(b), None) => out.push((Arc::clone(&b.1), rank, RowKind::Delete)),
                _ => {}
            }
        }
        return;
    }
    // Otherwise per row: evicted rows are deleted, entering rows inserted.
    let rank = spec.start as u64;
    for b in &before {
        if !now.iter().any(|n| n.0 == b.0) {
            out.push((Arc::clone(&b.1), rank, RowKind::Delete));
        }
    }
    for n in now {
        if !before.iter().any(|b| b.0 == n.0) {
            out.push((Arc::clone(&n.1), rank, RowKind::Insert));
        }
    }
}

impl Operator for Rank {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        if !self.spec.retract && !chunk.is_insert_only() {
            return Err(Error::User(
                "Top-N and deduplication need an append-only input; this one has updates".into(),
            ));
        }
        let n = chunk.num_rows();
        let encoded = self.keys.encode(&chunk.data)?;
        let sort_rows = match &self.order {
            None => None,
            Some(conv) => {
                let cols = self
                    .spec
                    .order
                    .iter()
                    .map(|k| k.expr.evaluate(&chunk.data).and_then(|v| v.into_array(n)))
                    .collect::<datafusion_common::Result<Vec<ArrayRef>>>()?;
                Some(conv.convert_columns(&cols)?)
            }
        };
        let full = self.rows.convert_columns(chunk.data.columns())?;
        // Without retractions nothing below the kept range can come back.
        let limit = if self.spec.retract {
            usize::MAX
        } else {
            self.spec.end
        };
        for row in 0..n {
            let sort: &[u8] = match &sort_rows {
                Some(r) => r.row(row).data(),
                None => &[],
            };
            let key = encoded.key(row);
            let kg = encoded.key_group(row);
            let bytes = full.row(row).data();
            if !chunk.kind(row).is_accumulate() {
                let Some(p) = self.state.get_mut(key, kg) else {
                    continue;
                };
                // The earliest held row equal to the retracted one goes.
                let found = earliest_equal(&p.held, sort, bytes, |e| (&e.sort, &e.row));
                let Some(i) = found else {
                    continue;
                };
                p.held.remove(i);
                if !p.touched {
                    p.touched = true;
                    self.touched.push((key.into(), kg));
                }
                continue;
            }
            self.seq += 1;
            let p = self.state.get_or_insert_with(key, kg, Partition::default);
            // Position: after all rows that rank before or tie (earlier wins),
            // or before all ties (later wins).
            let pos = if self.spec.later_wins_ties {
                p.held.partition_point(|e| e.sort.as_ref() < sort)
            } else {
                p.held.partition_point(|e| e.sort.as_ref() <= sort)
            };
            if pos >= limit {
                continue;
            }
            p.held.insert(
                pos,
                Entry {
                    sort: sort.into(),
                    seq: self.seq,
                    row: Arc::from(bytes),
                },
            );
            p.held.truncate(limit);
            if !p.touched {
                p.touched = true;
                self.touched.push((key.into(), kg));
            }
        }
        let mut emitted: Emitted = Vec::new();
        for (key, kg) in std::mem::take(&mut self.touched) {
            if let Some(p) = self.state.get_mut(&key, kg) {
                p.touched = false;
                diff(&self.spec, p, &mut emitted);
                if p.held.is_empty() && p.emitted.is_empty() {
                    self.state.remove(&key, kg);
                }
            }
        }
        if emitted.is_empty() {
            return Ok(());
        }
        let parser = self.rows.parser();
        let mut cols = self
            .rows
            .convert_rows(emitted.iter().map(|e| parser.parse(&e.0)))?;
        cols.push(Arc::new(UInt64Array::from_iter_values(
            emitted.iter().map(|e| e.1),
        )));
        let kinds = emitted.iter().map(|e| e.2 as u8).collect();
        out.emit(assemble(
            &self.spec.output_schema,
            cols,
            Vec::new(),
            Some(kinds),
        )?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let frozen = self.state.freeze();
        snap.keyed_later(move |snap| {
            for (key, kg, p) in frozen.iter() {
                snap.keyed(kg, key, |e| {
                    e.len_prefix(p.held.len());
                    for entry in &p.held {
                        e.bytes(&entry.sort);
                        e.u64(entry.seq);
                        e.bytes(&entry.row);
                    }
                    e.len_prefix(p.emitted.len());
                    for (seq, row) in &p.emitted {
                        e.u64(*seq);
                        // Emitted rows are usually still held: refer to them.
                        if p.held.iter().any(|h| h.seq == *seq) {
                            e.u8(0);
                        } else {
                            e.u8(1);
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
        let mut max_seq = self.seq;
        state.for_each_keyed(|entry| {
            let mut d = Decoder::new(entry.value);
            let n = d.len_prefix(24)?;
            let mut held: Vec<Entry> = Vec::with_capacity(n);
            for _ in 0..n {
                let sort: Box<[u8]> = d.bytes()?.into();
                let seq = d.u64()?;
                let row: Arc<[u8]> = Arc::from(d.bytes()?);
                max_seq = max_seq.max(seq);
                held.push(Entry { sort, seq, row });
            }
            let n = d.len_prefix(9)?;
            let mut emitted = Vec::with_capacity(n);
            for _ in 0..n {
                let seq = d.u64()?;
                let row = match d.u8()? {
                    0 => held
                        .iter()
                        .find(|h| h.seq == seq)
                        .map(|h| Arc::clone(&h.row))
                        .ok_or_else(|| {
                            Error::External("corrupt state: emitted row not held".into())
                        })?,
                    _ => Arc::from(d.bytes()?),
                };
                max_seq = max_seq.max(seq);
                emitted.push((seq, row));
            }
            self.state
                .get_or_insert_with(entry.key, entry.key_group, || Partition {
                    held,
                    emitted,
                    touched: false,
                });
            Ok(())
        })?;
        // New rows must come after every restored one in arrival order.
        self.seq = max_seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::tests::{kinds_and_rows, run_chunks};
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::col;

    fn factory(end: usize, output_rank: bool, later_wins_ties: bool) -> RankFactory {
        let input = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
            Field::new("id", DataType::Int64, false),
        ]));
        let mut out: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        out.push(Field::new("rn", DataType::UInt64, false));
        RankFactory {
            partition: vec![col("k", &input).unwrap()],
            order: vec![SortKey {
                expr: col("v", &input).unwrap(),
                descending: true,
                nulls_first: false,
            }],
            start: 1,
            end,
            output_rank,
            later_wins_ties,
            retract: false,
            input_schema: input,
            output_schema: Arc::new(Schema::new(out)),
        }
    }

    fn chunk(rows: &[(i64, i64, i64)]) -> Chunk {
        let f = factory(1, false, false);
        Chunk::insert_only(
            RecordBatch::try_new(
                f.input_schema,
                vec![
                    Arc::new(Int64Array::from(
                        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap(),
        )
    }

    #[test]
    fn top_n_keeps_arrival_order_among_ties_and_updates_ranks() {
        let out = run_chunks(
            &factory(2, true, false),
            vec![
                chunk(&[(1, 5, 1), (1, 5, 2)]),
                chunk(&[(1, 5, 3), (1, 7, 4)]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,5,1,1",
                "+I 1,5,2,2",
                "-U 1,5,1,1",
                "+U 1,7,4,1",
                "-U 1,5,2,2",
                "+U 1,5,1,2",
            ]
        );
    }

    #[test]
    fn keep_last_deduplication_lets_later_ties_win() {
        let out = run_chunks(
            &factory(1, false, true),
            vec![
                chunk(&[(1, 5, 1), (2, 1, 2)]),
                chunk(&[(1, 5, 3), (1, 4, 4)]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec!["+I 1,5,1,1", "+I 2,1,2,1", "-U 1,5,1,1", "+U 1,5,3,1"]
        );
    }

    #[test]
    fn rejects_updating_input() {
        let f = factory(1, false, false);
        let mut op = f
            .create(&crate::operators::aggregate::tests::task())
            .unwrap();
        let c = chunk(&[(1, 1, 1)]);
        let c = Chunk::with_kinds(c.data, arrow::array::UInt8Array::from(vec![3])).unwrap();
        assert!(op.process(0, c, &mut Output::default()).is_err());
    }

    fn with_kinds(rows: &[(i64, i64, i64)], kinds: &[RowKind]) -> Chunk {
        let c = chunk(rows);
        Chunk::with_kinds(
            c.data,
            arrow::array::UInt8Array::from(kinds.iter().map(|k| *k as u8).collect::<Vec<_>>()),
        )
        .unwrap()
    }

    fn retracting(end: usize, output_rank: bool) -> RankFactory {
        RankFactory {
            retract: true,
            ..factory(end, output_rank, false)
        }
    }

    #[test]
    fn a_retraction_promotes_the_next_row() {
        use RowKind::*;
        let out = run_chunks(
            &retracting(2, true),
            vec![
                chunk(&[(1, 9, 1), (1, 8, 2), (1, 7, 3)]),
                // The top row goes: the third row moves up into rank 2.
                with_kinds(&[(1, 9, 1)], &[UpdateBefore]),
                // An update of the row below the range changes nothing visible.
                with_kinds(&[(1, 7, 3), (1, 6, 3)], &[UpdateBefore, UpdateAfter]),
                // Retracting a row never seen is ignored.
                with_kinds(&[(2, 1, 1)], &[Delete]),
                with_kinds(&[(1, 8, 2), (1, 6, 3)], &[Delete, Delete]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,9,1,1",
                "+I 1,8,2,2",
                "-U 1,9,1,1",
                "+U 1,8,2,1",
                "-U 1,8,2,2",
                "+U 1,7,3,2",
                "-U 1,7,3,2",
                "+U 1,6,3,2",
                "-D 1,8,2,1",
                "-D 1,6,3,2",
            ]
        );
    }

    #[test]
    fn a_retraction_removes_the_earliest_equal_row() {
        use RowKind::*;
        // Without the row number, rows enter and leave: two equal rows, one retracted.
        let out = run_chunks(
            &retracting(1, false),
            vec![
                chunk(&[(1, 5, 1), (1, 5, 1), (1, 3, 2)]),
                with_kinds(&[(1, 5, 1)], &[Delete]),
                with_kinds(&[(1, 5, 1)], &[Delete]),
            ],
        );
        assert_eq!(
            kinds_and_rows(&out),
            vec![
                "+I 1,5,1,1",
                "-U 1,5,1,1",
                "+U 1,5,1,1",
                "-U 1,5,1,1",
                "+U 1,3,2,1"
            ]
        );
    }

    #[test]
    fn restores_anywhere_with_the_same_output() {
        use crate::operators::aggregate::tests::assert_restores_anywhere;
        for f in [
            factory(2, true, false),
            factory(1, false, true),
            retracting(2, false),
        ] {
            assert_restores_anywhere(
                &f,
                vec![
                    riffle_common::Message::Data(chunk(&[(1, 5, 1), (1, 5, 2), (2, 1, 2)])),
                    riffle_common::Message::Data(chunk(&[(1, 5, 3), (1, 7, 4), (1, 4, 4)])),
                    riffle_common::Message::Data(chunk(&[(2, 0, 9), (1, 8, 5)])),
                ],
            );
        }
    }
}
