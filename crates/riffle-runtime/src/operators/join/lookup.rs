//! `LookupJoin`: a processing-time temporal join against a bounded table
//! (`JOIN t FOR SYSTEM_TIME AS OF s.proctime ON ...`), as Flink runs a lookup
//! join. Each row of the stream looks its key up in the table as it is when
//! the row arrives.
//!
//! A bounded table does not change while the job runs, so "as it is when the
//! row arrives" is the whole table. The operator reads the table once, in the
//! subtask, through the table's own source and the stateless chain that
//! planning put behind it (its projections and filters), and keeps it as one
//! batch with a hash index from key to rows. Streaming rows are never stored:
//! a row is joined and forgotten, so the operator has no checkpointed state
//! and is chained onto its input with no exchange, as in Flink. Every subtask
//! holds the whole table (Flink's lookup caches do the same for a bounded
//! table); a table too large for that belongs in an event-time temporal join.
//!
//! Rules:
//! - INNER joins emit a row per matching table row; LEFT joins emit the row
//!   padded with nulls when nothing matches (after the residual condition);
//! - the streaming row's change kind carries over to every row it produces,
//!   so an updating input stays correctly updating;
//! - a key with a null matches nothing (SQL equality).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt8Array, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, Message, RowKind, Watermark};

use super::{JoinKind, PAIRS_PER_BATCH, check_key_types, holds};
use crate::connector::{SourceFactory, SourcePoll};
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::{Error, Result};

/// Rows read from the table per poll while loading it.
const LOAD_BATCH: usize = 8192;

/// A bounded table as a lookup join reads it: its source and the stateless
/// operators that shape its rows.
#[derive(Debug, Clone)]
pub struct LookupTable {
    /// The table's name (for EXPLAIN and errors).
    pub name: String,
    /// The table's bounded source.
    pub source: Arc<dyn SourceFactory>,
    /// Operators applied to the source's rows, in order (projections, filters).
    pub operators: Vec<Arc<dyn OperatorFactory>>,
}

impl LookupTable {
    /// Reads the whole table: every split of the source, through the
    /// operators. Fails on a source that is not bounded or rows that are not
    /// insertions.
    fn load(&self, task: &TaskInfo, schema: &SchemaRef) -> Result<RecordBatch> {
        if !self.source.is_bounded() {
            return Err(Error::Internal(format!(
                "lookup table '{}' has an unbounded source",
                self.name
            )));
        }
        let whole = TaskInfo {
            subtask_index: 0,
            parallelism: 1,
            ..task.clone()
        };
        let mut reader = self.source.create_reader(&whole, LOAD_BATCH, None)?;
        let mut chain = self
            .operators
            .iter()
            .map(|f| f.create(&whole))
            .collect::<Result<Vec<_>>>()?;
        let mut rows = Vec::new();
        loop {
            match reader.poll()? {
                SourcePoll::Batch(b) => {
                    let msgs = vec![Message::Data(Chunk::insert_only(b))];
                    rows.extend(self.through(&mut chain, msgs)?);
                }
                // A bounded reader with nothing at hand yet (none of ours
                // does this; the wait is for any that might).
                SourcePoll::Pending => std::thread::sleep(std::time::Duration::from_millis(1)),
                SourcePoll::End => break,
            }
        }
        rows.extend(self.through(&mut chain, vec![Message::Watermark(Watermark::MAX)])?);
        for i in 0..chain.len() {
            let mut out = Output::default();
            if let Some(op) = chain.get_mut(i) {
                op.on_end_of_input(&mut out)?;
            }
            let msgs: Vec<Message> = out.drain().collect();
            let rest = chain.get_mut(i + 1..).unwrap_or_default();
            rows.extend(self.through(rest, msgs)?);
        }
        Ok(concat_batches(schema, &rows)?)
    }

    /// Runs `msgs` through `chain` and returns the rows that come out.
    fn through(
        &self,
        chain: &mut [Box<dyn Operator>],
        msgs: Vec<Message>,
    ) -> Result<Vec<RecordBatch>> {
        let mut msgs = msgs;
        for op in chain.iter_mut() {
            let mut out = Output::default();
            for m in msgs {
                match m {
                    Message::Data(c) => op.process(0, c, &mut out)?,
                    Message::Watermark(w) => op.on_watermark(w, &mut out)?,
                    _ => {}
                }
            }
            msgs = out.drain().collect();
        }
        let mut rows = Vec::new();
        for m in msgs {
            if let Message::Data(c) = m {
                let insert_only = c
                    .kinds
                    .as_ref()
                    .is_none_or(|k| k.values().iter().all(|&b| b == RowKind::Insert as u8));
                if !insert_only {
                    return Err(Error::Internal(format!(
                        "lookup table '{}' produced updates",
                        self.name
                    )));
                }
                rows.push(c.data);
            }
        }
        Ok(rows)
    }
}

/// A lookup join, as stored in the job graph; chained behind its input.
#[derive(Debug, Clone)]
pub struct LookupJoinFactory {
    /// INNER or LEFT.
    pub kind: JoinKind,
    /// The table looked up.
    pub table: LookupTable,
    /// Equality keys over the streaming input.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the table's rows, pairwise of the same types.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The residual condition, over the output schema.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// Schema of the streaming input.
    pub left_schema: SchemaRef,
    /// Schema of the table's rows (after its operators).
    pub right_schema: SchemaRef,
    /// Input columns then table columns.
    pub output_schema: SchemaRef,
}

impl OperatorFactory for LookupJoinFactory {
    fn name(&self) -> String {
        "LookupJoin".into()
    }

    fn explain(&self) -> String {
        let lookup = self
            .right_keys
            .iter()
            .zip(&self.left_keys)
            .map(|(r, l)| format!("{r}={l}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut s = format!(
            "table=[{}], joinType=[{}], lookup=[{lookup}]",
            self.table.name,
            self.kind.flink_name()
        );
        if let Some(f) = &self.filter {
            s.push_str(&format!(", where=[{f}]"));
        }
        s
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        super::inner_or_left(self.kind, "lookup join")?;
        check_key_types(
            &self.left_keys,
            &self.right_keys,
            &self.left_schema,
            &self.right_schema,
        )?;
        let types = self
            .left_keys
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(&self.left_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(LookupJoin {
            spec: self.clone(),
            keys: RowConverter::new(types)?,
            task: task.clone(),
            table: None,
        }))
    }
}

/// The loaded table: its rows and, per key, the rows that have it.
struct Loaded {
    rows: RecordBatch,
    index: HashMap<Box<[u8]>, Vec<u32>>,
}

struct LookupJoin {
    spec: LookupJoinFactory,
    /// Encodes key columns of either side into comparable bytes.
    keys: RowConverter,
    /// The subtask (its job's settings reach the table's source).
    task: TaskInfo,
    /// Read at the first row (not at creation, which must stay quick).
    table: Option<Loaded>,
}

/// Evaluates `exprs` over `batch`.
fn key_columns(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    let n = batch.num_rows();
    Ok(exprs
        .iter()
        .map(|e| e.evaluate(batch).and_then(|v| v.into_array(n)))
        .collect::<datafusion_common::Result<Vec<_>>>()?)
}

impl LookupJoin {
    /// The table, read when first needed.
    fn loaded(&mut self) -> Result<&Loaded> {
        if self.table.is_none() {
            let rows = self.spec.table.load(&self.task, &self.spec.right_schema)?;
            let cols = key_columns(&self.spec.right_keys, &rows)?;
            let encoded = self.keys.convert_columns(&cols)?;
            let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
            for i in 0..rows.num_rows() {
                if cols.iter().any(|c| c.is_null(i)) {
                    continue;
                }
                index
                    .entry(encoded.row(i).as_ref().into())
                    .or_default()
                    .push(i as u32);
            }
            tracing::info!(
                table = %self.spec.table.name,
                rows = rows.num_rows(),
                keys = index.len(),
                "lookup table loaded"
            );
            self.table = Some(Loaded { rows, index });
        }
        self.table
            .as_ref()
            .ok_or_else(|| Error::Internal("lookup table not loaded".into()))
    }
}

impl Operator for LookupJoin {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        self.loaded()?;
        let cols = key_columns(&self.spec.left_keys, &chunk.data)?;
        let encoded = self.keys.convert_columns(&cols)?;
        let table = self
            .table
            .as_ref()
            .ok_or_else(|| Error::Internal("lookup table not loaded".into()))?;
        // Candidate pairs (stream row, table row), in stream order.
        let mut own = Vec::new();
        let mut theirs = Vec::new();
        for i in 0..chunk.num_rows() {
            if cols.iter().any(|c| c.is_null(i)) {
                continue;
            }
            if let Some(rows) = table.index.get(encoded.row(i).as_ref()) {
                for &r in rows {
                    own.push(i as u32);
                    theirs.push(r);
                }
            }
        }
        let passing = match &self.spec.filter {
            None => vec![true; own.len()],
            Some(f) => self.residual(f, &chunk, table, &own, &theirs)?,
        };
        // Final pairs: each stream row's passing matches, or the row padded.
        let mut left_idx = Vec::with_capacity(own.len());
        let mut right_idx: Vec<Option<u32>> = Vec::with_capacity(own.len());
        let mut at = 0;
        for i in 0..chunk.num_rows() as u32 {
            let mut matched = false;
            while own.get(at) == Some(&i) {
                if passing.get(at).copied().unwrap_or(false) {
                    left_idx.push(i);
                    right_idx.push(theirs.get(at).copied());
                    matched = true;
                }
                at += 1;
            }
            if !matched && self.spec.kind == JoinKind::Left {
                left_idx.push(i);
                right_idx.push(None);
            }
        }
        if left_idx.is_empty() {
            return Ok(());
        }
        let left_idx = UInt32Array::from(left_idx);
        let right_idx = UInt32Array::from(right_idx);
        out.emit(self.assemble(&chunk, table, &left_idx, &right_idx)?);
        Ok(())
    }
}

impl LookupJoin {
    /// Which candidate pairs pass the residual condition, evaluated over
    /// batches of at most [`PAIRS_PER_BATCH`] pairs.
    fn residual(
        &self,
        filter: &Arc<dyn PhysicalExpr>,
        chunk: &Chunk,
        table: &Loaded,
        own: &[u32],
        theirs: &[u32],
    ) -> Result<Vec<bool>> {
        let mut verdict = Vec::with_capacity(own.len());
        for (o, t) in own
            .chunks(PAIRS_PER_BATCH)
            .zip(theirs.chunks(PAIRS_PER_BATCH))
        {
            let (o, t) = (UInt32Array::from(o.to_vec()), UInt32Array::from(t.to_vec()));
            let batch = self.pairs(chunk, table, &o, &t)?;
            holds(filter, &batch, &mut verdict)?;
        }
        Ok(verdict)
    }

    /// The output rows of pairs (stream row, table row or null).
    fn pairs(
        &self,
        chunk: &Chunk,
        table: &Loaded,
        left: &UInt32Array,
        right: &UInt32Array,
    ) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = chunk
            .data
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), left, None))
            .collect::<std::result::Result<_, _>>()?;
        for c in table.rows.columns() {
            cols.push(take(c.as_ref(), right, None)?);
        }
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output_schema),
            cols,
        )?)
    }

    fn assemble(
        &self,
        chunk: &Chunk,
        table: &Loaded,
        left: &UInt32Array,
        right: &UInt32Array,
    ) -> Result<Chunk> {
        let data = self.pairs(chunk, table, left, right)?;
        match &chunk.kinds {
            None => Ok(Chunk::insert_only(data)),
            Some(k) => {
                let kinds = take(k.as_ref(), left, None)?;
                let kinds = kinds
                    .as_any()
                    .downcast_ref::<UInt8Array>()
                    .ok_or_else(|| Error::Internal("change kinds that are not bytes".into()))?
                    .clone();
                Ok(Chunk::with_kinds(data, kinds)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::connector::SourceReader;
    use crate::operators::aggregate::tests::{kinds_and_rows, task};
    use crate::operators::join::JoinFactory;
    use crate::operators::join::tests::{factory, rows};
    use arrow::array::Int64Array;
    use riffle_common::RowKind::{Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    /// A bounded source of fixed `(k2, b)` rows, in batches of two.
    #[derive(Debug)]
    struct Rows(SchemaRef, Vec<(Option<i64>, i64)>);

    struct Reader(SchemaRef, Vec<(Option<i64>, i64)>);

    impl SourceFactory for Rows {
        fn connector(&self) -> &str {
            "test"
        }
        fn schema(&self) -> SchemaRef {
            Arc::clone(&self.0)
        }
        fn is_bounded(&self) -> bool {
            true
        }
        fn create_reader(
            &self,
            task: &TaskInfo,
            _batch_size: usize,
            _restored: Option<Vec<Vec<u8>>>,
        ) -> Result<Box<dyn SourceReader>> {
            // The table is read whole, as one subtask.
            assert_eq!((task.subtask_index, task.parallelism), (0, 1));
            Ok(Box::new(Reader(Arc::clone(&self.0), self.1.clone())))
        }
    }

    impl SourceReader for Reader {
        fn poll(&mut self) -> Result<SourcePoll> {
            if self.1.is_empty() {
                return Ok(SourcePoll::End);
            }
            let take: Vec<_> = self.1.drain(..self.1.len().min(2)).collect();
            let k: Int64Array = take.iter().map(|r| r.0).collect();
            let b: Int64Array = take.iter().map(|r| Some(r.1)).collect();
            Ok(SourcePoll::Batch(RecordBatch::try_new(
                Arc::clone(&self.0),
                vec![Arc::new(k), Arc::new(b)],
            )?))
        }
        fn snapshot_splits(&mut self, _checkpoint_id: u64) -> Result<Vec<Vec<u8>>> {
            Ok(Vec::new())
        }
    }

    /// `l(k, a) [LEFT] JOIN r FOR SYSTEM_TIME AS OF ... ON k = k2 [AND a < b]`
    /// over the table `(1, 20), (1, 5), (null, 7), (2, 30), (3, 1)`.
    fn lookup(kind: JoinKind, residual: bool) -> (LookupJoinFactory, JoinFactory) {
        let j = factory(kind, residual);
        let table = vec![
            (Some(1), 20),
            (Some(1), 5),
            (None, 7),
            (Some(2), 30),
            (Some(3), 1),
        ];
        let f = LookupJoinFactory {
            kind,
            table: LookupTable {
                name: "r".into(),
                source: Arc::new(Rows(Arc::clone(&j.right_schema), table)),
                operators: Vec::new(),
            },
            left_keys: j.left_keys.clone(),
            right_keys: j.right_keys.clone(),
            filter: j.filter.clone(),
            left_schema: Arc::clone(&j.left_schema),
            right_schema: Arc::clone(&j.right_schema),
            output_schema: Arc::clone(&j.output_schema),
        };
        (f, j)
    }

    fn run(f: &LookupJoinFactory, input: Vec<(usize, Message)>) -> Vec<String> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        let mut emitted = Vec::new();
        for (i, m) in input {
            if let Message::Data(c) = m {
                op.process(i, c, &mut out).unwrap();
            }
            emitted.extend(out.drain());
        }
        kinds_and_rows(&emitted)
    }

    #[test]
    fn each_row_meets_every_table_row_of_its_key_and_keeps_its_kind() {
        let (f, j) = lookup(JoinKind::Inner, false);
        let out = run(
            &f,
            vec![
                rows(&j, 0, &[(I, Some(1), 10), (I, None, 5), (I, Some(9), 1)]),
                rows(&j, 0, &[(UB, Some(2), 10), (UA, Some(2), 11)]),
            ],
        );
        assert_eq!(
            out,
            [
                "+I 1,10,1,20",
                "+I 1,10,1,5",
                "-U 2,10,2,30",
                "+U 2,11,2,30"
            ]
        );
    }

    #[test]
    fn a_left_lookup_pads_rows_whose_matches_all_fail_the_condition() {
        let (f, j) = lookup(JoinKind::Left, true);
        let out = run(
            &f,
            vec![rows(
                &j,
                0,
                &[
                    (I, Some(1), 10),
                    (I, Some(3), 4),
                    (I, None, 0),
                    (I, Some(7), 0),
                ],
            )],
        );
        // 1: only (1, 20) has a > 10; 3: (3, 1) fails 4 < 1; null and 7 have none.
        assert_eq!(
            out,
            [
                "+I 1,10,1,20",
                "+I 3,4,null,null",
                "+I null,0,null,null",
                "+I 7,0,null,null"
            ]
        );
    }

    #[test]
    fn an_unbounded_table_is_refused_when_read() {
        #[derive(Debug)]
        struct Endless(SchemaRef);
        impl SourceFactory for Endless {
            fn connector(&self) -> &str {
                "endless"
            }
            fn schema(&self) -> SchemaRef {
                Arc::clone(&self.0)
            }
            fn is_bounded(&self) -> bool {
                false
            }
            fn create_reader(
                &self,
                _: &TaskInfo,
                _: usize,
                _: Option<Vec<Vec<u8>>>,
            ) -> Result<Box<dyn SourceReader>> {
                unreachable!("an unbounded table is never read")
            }
        }
        let (mut f, j) = lookup(JoinKind::Inner, false);
        f.table.source = Arc::new(Endless(Arc::clone(&j.right_schema)));
        let mut op = f.create(&task()).unwrap();
        let (_, Message::Data(c)) = rows(&j, 0, &[(I, Some(1), 10)]) else {
            unreachable!()
        };
        let e = op.process(0, c, &mut Output::default()).unwrap_err();
        assert!(e.to_string().contains("unbounded"), "{e}");
    }
}
