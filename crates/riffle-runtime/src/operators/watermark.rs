//! Watermark assignment from a table's `WATERMARK FOR col AS expr`.
//!
//! The watermark is the maximum of `expr` over the rows seen so far. With
//! `pipeline.auto-watermark-interval` = 0 Flink emits it after every record,
//! so a record is judged late against the watermark as of the records before
//! it. A batch keeps that rule exactly: it is cut before every row whose event
//! time is not above the running watermark (the only rows any downstream
//! window could find late), and the watermark is emitted between the pieces.
//! With an interval > 0 the watermark is emitted at most once per interval.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, Watermark};

use crate::clock::now_ms;
use crate::operator::{Operator, OperatorFactory, Output, SourceSplit, TaskInfo};
use crate::{Error, Result};

/// The watermark strategy of a source table.
#[derive(Debug, Clone)]
pub struct WatermarkAssignerFactory {
    /// Index of the rowtime column in the input.
    pub rowtime_index: usize,
    /// Name of the rowtime column (for EXPLAIN).
    pub rowtime_name: String,
    /// The watermark expression, evaluated per row.
    pub expr: Arc<dyn PhysicalExpr>,
    /// `pipeline.auto-watermark-interval` in ms.
    pub interval_ms: i64,
}

impl OperatorFactory for WatermarkAssignerFactory {
    fn name(&self) -> String {
        "WatermarkAssigner".into()
    }

    fn explain(&self) -> String {
        format!("rowtime=[{}], watermark=[{}]", self.rowtime_name, self.expr)
    }

    fn create(&self, _task: &TaskInfo) -> Result<Box<dyn Operator>> {
        Ok(Box::new(WatermarkAssigner {
            spec: self.clone(),
            current: i64::MIN,
            emitted: i64::MIN,
            last_emit_ms: 0,
            splits: None,
        }))
    }
}

struct WatermarkAssigner {
    spec: WatermarkAssignerFactory,
    /// The watermark: the running maximum of the expression, or with
    /// splits the running maximum of their minimum.
    current: i64,
    emitted: i64,
    last_emit_ms: i64,
    /// Per-split maxima, once the source says which split a batch is from.
    splits: Option<Splits>,
}

/// Flink's per-split (per-partition) watermarks: each split advances its
/// own maximum, and the watermark is the minimum over the splits the
/// reader holds that are not idle. A split without records yet holds it
/// back (at its start) until `table.exec.source.idle-timeout` passes;
/// without a timeout, until it has records.
#[derive(Debug, Default)]
struct Splits {
    /// The split of the batch being processed.
    current: u32,
    /// The splits the reader holds.
    assigned: Vec<u32>,
    /// Each split's highest watermark candidate.
    max: HashMap<u32, i64>,
    /// When each split was first seen or last had a batch (epoch ms).
    active: HashMap<u32, i64>,
    idle_timeout_ms: i64,
    /// When idleness was last taken into account (epoch ms): splits that
    /// turn idle later need a timer.
    evaluated_at: i64,
}

impl Splits {
    fn observe(&mut self, at: &SourceSplit<'_>) {
        let now = now_ms();
        self.current = at.split;
        self.idle_timeout_ms = at.idle_timeout_ms;
        self.assigned.clear();
        self.assigned.extend_from_slice(at.assigned);
        for s in at.assigned {
            self.active.entry(*s).or_insert(now);
        }
        self.active.insert(at.split, now);
    }

    /// Raises the current split's maximum to `w`; returns the maximum it had.
    fn advance(&mut self, w: i64) -> i64 {
        let max = self.max.entry(self.current).or_insert(i64::MIN);
        let old = *max;
        *max = old.max(w);
        old
    }

    /// The minimum over assigned splits that are not idle (`None`: all idle).
    fn combined(&self) -> Option<i64> {
        // The clock only matters with a timeout (it is read per record otherwise).
        let now = if self.idle_timeout_ms > 0 {
            now_ms()
        } else {
            0
        };
        let idle = |s: &u32| {
            self.idle_timeout_ms > 0
                && *s != self.current
                && self
                    .active
                    .get(s)
                    .is_some_and(|t| now - *t >= self.idle_timeout_ms)
        };
        self.assigned
            .iter()
            .chain(std::iter::once(&self.current))
            .filter(|s| !idle(s))
            .map(|s| self.max.get(s).copied().unwrap_or(i64::MIN))
            .min()
    }

    /// [`Splits::combined`] as of now, remembering when it was taken.
    fn refresh(&mut self) -> Option<i64> {
        self.evaluated_at = now_ms();
        self.combined()
    }

    /// When the next split that was not idle when last evaluated becomes
    /// idle (epoch ms): the watermark may move on then without any record.
    fn next_idle_at(&self) -> Option<i64> {
        if self.idle_timeout_ms <= 0 {
            return None;
        }
        self.assigned
            .iter()
            .filter(|s| **s != self.current)
            .filter_map(|s| self.active.get(s))
            .map(|t| t + self.idle_timeout_ms)
            .filter(|at| *at > self.evaluated_at)
            .min()
    }
}

/// Evaluates a timestamp-valued expression as epoch milliseconds.
pub fn eval_millis(expr: &Arc<dyn PhysicalExpr>, chunk: &Chunk) -> Result<Int64Array> {
    let arr: ArrayRef = expr.evaluate(&chunk.data)?.into_array(chunk.num_rows())?;
    to_millis(&arr)
}

/// Converts a timestamp array of any unit to epoch milliseconds.
pub fn to_millis(arr: &ArrayRef) -> Result<Int64Array> {
    let ms = match arr.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => cast(arr, &DataType::Int64)?,
        DataType::Timestamp(_, _) => cast(
            &cast(arr, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
            &DataType::Int64,
        )?,
        DataType::Int64 => Arc::clone(arr),
        other => {
            return Err(Error::User(format!(
                "a time attribute must be TIMESTAMP(3) or TIMESTAMP_LTZ(3), got {other}"
            )));
        }
    };
    ms.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| Error::Internal("timestamp cast did not give Int64".into()))
}

impl WatermarkAssigner {
    /// Takes `w`, a row's watermark candidate, into the watermark.
    fn advance(&mut self, w: i64) {
        match &mut self.splits {
            None => self.current = self.current.max(w),
            Some(splits) => {
                // Only a split at or below the watermark can be the one
                // holding it back.
                if splits.advance(w) <= self.current
                    && let Some(c) = splits.combined()
                {
                    self.current = self.current.max(c);
                }
            }
        }
    }

    fn maybe_emit(&mut self, out: &mut Output, force: bool) {
        if self.current > self.emitted {
            let now = if force { 0 } else { now_ms() };
            if force || now >= self.last_emit_ms + self.spec.interval_ms {
                self.emitted = self.current;
                self.last_emit_ms = now;
                out.watermark(Watermark(self.current));
            }
        }
    }
}

impl Operator for WatermarkAssigner {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let wms = eval_millis(&self.spec.expr, &chunk)?;
        // Splits that went idle since the last batch let the watermark on.
        if let Some(c) = self.splits.as_mut().and_then(Splits::refresh) {
            self.current = self.current.max(c);
        }
        if self.spec.interval_ms > 0 {
            for w in wms.iter().flatten() {
                self.advance(w);
            }
            out.emit(chunk);
            self.maybe_emit(out, false);
            return Ok(());
        }
        // Per-record semantics: cut before rows that are not above the running watermark.
        let rowtime = chunk
            .data
            .columns()
            .get(self.spec.rowtime_index)
            .cloned()
            .ok_or_else(|| Error::Internal("rowtime column out of range".into()))?;
        let times = to_millis(&rowtime)?;
        let mut start = 0;
        for i in 0..chunk.num_rows() {
            let late_candidate = times.is_valid(i) && times.value(i) <= self.current;
            if late_candidate && i > start {
                out.emit(chunk_slice(&chunk, start, i - start));
                self.maybe_emit(out, true);
                start = i;
            }
            if wms.is_valid(i) {
                self.advance(wms.value(i));
            }
        }
        out.emit(chunk_slice(&chunk, start, chunk.num_rows() - start));
        self.maybe_emit(out, true);
        Ok(())
    }

    fn on_source_split(&mut self, split: &SourceSplit<'_>) {
        self.splits
            .get_or_insert_with(Splits::default)
            .observe(split);
    }

    fn on_watermark(&mut self, wm: Watermark, out: &mut Output) -> Result<()> {
        // Only the end-of-input watermark passes an assigner, as in Flink.
        if wm == Watermark::MAX {
            self.current = i64::MAX;
            self.emitted = i64::MAX;
            out.watermark(wm);
        }
        Ok(())
    }

    fn next_processing_timer(&self) -> Option<i64> {
        let emit = (self.spec.interval_ms > 0 && self.current > self.emitted)
            .then_some(self.last_emit_ms + self.spec.interval_ms);
        let idle = self.splits.as_ref().and_then(Splits::next_idle_at);
        match (emit, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_processing_time(&mut self, _now_ms: i64, out: &mut Output) -> Result<()> {
        // A split may have gone idle.
        if let Some(c) = self.splits.as_mut().and_then(Splits::refresh) {
            self.current = self.current.max(c);
        }
        self.maybe_emit(out, false);
        Ok(())
    }
}

/// A zero-copy slice of a chunk.
pub fn chunk_slice(chunk: &Chunk, offset: usize, len: usize) -> Chunk {
    if offset == 0 && len == chunk.num_rows() {
        return chunk.clone();
    }
    Chunk {
        data: chunk.data.slice(offset, len),
        kinds: chunk.kinds.as_ref().map(|k| Arc::new(k.slice(offset, len))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion_physical_expr::expressions::col;
    use riffle_common::Message;

    fn assigner() -> Box<dyn Operator> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )]));
        let factory = WatermarkAssignerFactory {
            rowtime_index: 0,
            rowtime_name: "ts".into(),
            expr: col("ts", &schema).unwrap(),
            interval_ms: 0,
        };
        let task = crate::operators::aggregate::tests::task();
        factory.create(&task).unwrap()
    }

    fn chunk(times: &[i64]) -> Chunk {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )]));
        let ts = TimestampMillisecondArray::from(times.to_vec());
        Chunk::insert_only(RecordBatch::try_new(schema, vec![Arc::new(ts)]).unwrap())
    }

    /// The last watermark a batch of `split` (of `assigned`) makes the operator emit.
    fn feed(
        op: &mut dyn Operator,
        split: u32,
        assigned: &[u32],
        idle: i64,
        times: &[i64],
    ) -> Option<i64> {
        op.on_source_split(&SourceSplit {
            split,
            assigned,
            idle_timeout_ms: idle,
        });
        let mut out = Output::default();
        op.process(0, chunk(times), &mut out).unwrap();
        out.drain()
            .filter_map(|m| match m {
                Message::Watermark(w) => Some(w.0),
                _ => None,
            })
            .next_back()
    }

    #[test]
    fn the_slowest_partition_holds_the_watermark() {
        let mut op = assigner();
        // Split 1 has no records yet: nothing may pass.
        assert_eq!(feed(op.as_mut(), 0, &[0, 1], 0, &[10_000, 12_000]), None);
        assert_eq!(feed(op.as_mut(), 1, &[0, 1], 0, &[5_000]), Some(5_000));
        assert_eq!(feed(op.as_mut(), 0, &[0, 1], 0, &[20_000]), None);
        assert_eq!(feed(op.as_mut(), 1, &[0, 1], 0, &[15_000]), Some(15_000));
        // Without splits, the running maximum.
        let mut plain = assigner();
        let mut out = Output::default();
        plain.process(0, chunk(&[10_000, 5_000]), &mut out).unwrap();
        let mut last = out.drain().filter_map(|m| match m {
            Message::Watermark(w) => Some(w.0),
            _ => None,
        });
        assert_eq!(last.next_back(), Some(10_000));
    }

    #[test]
    fn an_idle_partition_stops_holding_it() {
        let mut op = assigner();
        assert_eq!(feed(op.as_mut(), 0, &[0, 1], 50, &[10_000]), None);
        std::thread::sleep(std::time::Duration::from_millis(80));
        assert_eq!(feed(op.as_mut(), 0, &[0, 1], 50, &[11_000]), Some(11_000));
        // It has records again: it holds the watermark where they are.
        assert_eq!(feed(op.as_mut(), 1, &[0, 1], 50, &[3_000]), None);
        assert_eq!(feed(op.as_mut(), 0, &[0, 1], 50, &[12_000]), None);
        assert_eq!(feed(op.as_mut(), 1, &[0, 1], 50, &[13_000]), Some(12_000));
    }
}
