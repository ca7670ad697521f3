//! Watermark assignment from a table's `WATERMARK FOR col AS expr`.
//!
//! The watermark is the maximum of `expr` over the rows seen so far. With
//! `pipeline.auto-watermark-interval` = 0 Flink emits it after every record,
//! so a record is judged late against the watermark as of the records before
//! it. A batch keeps that rule exactly: it is cut before every row whose event
//! time is not above the running watermark (the only rows any downstream
//! window could find late), and the watermark is emitted between the pieces.
//! With an interval > 0 the watermark is emitted at most once per interval.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::{Chunk, Watermark};

use crate::clock::now_ms;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
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
        }))
    }
}

struct WatermarkAssigner {
    spec: WatermarkAssignerFactory,
    current: i64,
    emitted: i64,
    last_emit_ms: i64,
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
        if self.spec.interval_ms > 0 {
            for w in wms.iter().flatten() {
                self.current = self.current.max(w);
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
                self.current = self.current.max(wms.value(i));
            }
        }
        out.emit(chunk_slice(&chunk, start, chunk.num_rows() - start));
        self.maybe_emit(out, true);
        Ok(())
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
        (self.spec.interval_ms > 0 && self.current > self.emitted)
            .then_some(self.last_emit_ms + self.spec.interval_ms)
    }

    fn on_processing_time(&mut self, _now_ms: i64, out: &mut Output) -> Result<()> {
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
