//! The window table functions `TUMBLE`, `HOP`, `CUMULATE` and `SESSION`:
//! append `window_start`, `window_end` and `window_time` to every row.
//!
//! A row belongs to one tumbling window, to `size / slide` hopping windows and
//! to up to `size / step` cumulative windows; it is repeated once per window,
//! as Flink's table function does. For `SESSION` the row gets its provisional
//! session `[ts, ts + gap)`, which the session aggregate merges. Windows of a
//! `TIMESTAMP_LTZ` column are aligned to the local time zone (days start at
//! local midnight); `window_start`/`window_end` are then local `TIMESTAMP`s and
//! `window_time` is the `TIMESTAMP_LTZ` instant `window_end - 1 ms`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use riffle_common::Chunk;

use crate::exchange::take_chunk;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::operators::watermark::to_millis;
use crate::{Error, Result};

/// Which windows a row belongs to (all lengths in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(size [, offset])`.
    Tumble { size: i64, offset: i64 },
    /// `HOP(slide, size [, offset])`.
    Hop { slide: i64, size: i64, offset: i64 },
    /// `CUMULATE(step, size [, offset])`.
    Cumulate { step: i64, size: i64, offset: i64 },
    /// `SESSION(gap)`: the provisional session of the row alone.
    Session { gap: i64 },
}

/// As Flink's plans print a window: `TUMBLE(size=[10 s])`,
/// `HOP(size=[1 min], slide=[2 s])`, `CUMULATE(max_size=[1 d], step=[1 h])`,
/// `SESSION(gap=[30 s])`; a non-zero offset is added as `offset=[...]`.
impl std::fmt::Display for WindowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::display::duration_ms as d;
        let offset = |offset: i64| {
            if offset == 0 {
                String::new()
            } else {
                format!(", offset=[{}]", d(offset))
            }
        };
        match *self {
            WindowKind::Tumble { size, offset: o } => {
                write!(f, "TUMBLE(size=[{}]{})", d(size), offset(o))
            }
            WindowKind::Hop {
                slide,
                size,
                offset: o,
            } => write!(
                f,
                "HOP(size=[{}], slide=[{}]{})",
                d(size),
                d(slide),
                offset(o)
            ),
            WindowKind::Cumulate {
                step,
                size,
                offset: o,
            } => write!(
                f,
                "CUMULATE(max_size=[{}], step=[{}]{})",
                d(size),
                d(step),
                offset(o)
            ),
            WindowKind::Session { gap } => write!(f, "SESSION(gap=[{}])", d(gap)),
        }
    }
}

/// Start of the window of length `size` that contains `ts` (Flink's
/// `getWindowStartWithOffset`).
pub fn window_start(ts: i64, offset: i64, size: i64) -> i64 {
    ts.saturating_sub(ts.saturating_sub(offset).rem_euclid(size))
}

impl WindowKind {
    /// Calls `f(start, end)` for every window containing `ts`.
    pub fn assign(&self, ts: i64, mut f: impl FnMut(i64, i64)) {
        match *self {
            WindowKind::Tumble { size, offset } => {
                let s = window_start(ts, offset, size);
                f(s, s.saturating_add(size));
            }
            WindowKind::Hop {
                slide,
                size,
                offset,
            } => {
                let mut s = window_start(ts, offset, slide);
                while s > ts.saturating_sub(size) {
                    f(s, s.saturating_add(size));
                    match s.checked_sub(slide) {
                        Some(next) => s = next,
                        None => break,
                    }
                }
            }
            WindowKind::Cumulate { step, size, offset } => {
                let s = window_start(ts, offset, size);
                let mut end = window_start(ts, offset, step).saturating_add(step);
                while end <= s.saturating_add(size) {
                    f(s, end);
                    match end.checked_add(step) {
                        Some(next) => end = next,
                        None => break,
                    }
                }
            }
            WindowKind::Session { gap } => f(ts, ts.saturating_add(gap)),
        }
    }
}

/// A window table function, as stored in the job graph.
#[derive(Debug, Clone)]
pub struct WindowTvfFactory {
    /// The windows.
    pub kind: WindowKind,
    /// Index of the time attribute column in the input.
    pub time_index: usize,
    /// Added to the time attribute before aligning (the local time zone's
    /// offset for `TIMESTAMP_LTZ`, else 0).
    pub local_offset_ms: i64,
    /// Input columns, then `window_start`, `window_end`, `window_time`.
    pub schema: SchemaRef,
}

impl OperatorFactory for WindowTvfFactory {
    fn name(&self) -> String {
        "WindowTableFunction".into()
    }

    fn explain(&self) -> String {
        let time = self
            .schema
            .fields()
            .get(self.time_index)
            .map(|f| f.name().as_str())
            .unwrap_or("?");
        format!("window=[{}], time_col=[{time}]", self.kind)
    }

    fn create(&self, _task: &TaskInfo) -> Result<Box<dyn Operator>> {
        if self.schema.fields().len() < self.time_index + 4 {
            return Err(Error::Internal(
                "window table function schema too short".into(),
            ));
        }
        Ok(Box::new(WindowTvf { spec: self.clone() }))
    }
}

struct WindowTvf {
    spec: WindowTvfFactory,
}

impl Operator for WindowTvf {
    fn process(&mut self, _input: usize, chunk: Chunk, out: &mut Output) -> Result<()> {
        let col = chunk
            .data
            .columns()
            .get(self.spec.time_index)
            .ok_or_else(|| Error::Internal("time column out of range".into()))?;
        let times = to_millis(col)?;
        let offset = self.spec.local_offset_ms;
        let n = chunk.num_rows();
        let mut indices = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(n);
        let mut ends = Vec::with_capacity(n);
        for row in 0..n {
            if times.is_null(row) {
                continue; // a NULL time attribute belongs to no window
            }
            self.spec
                .kind
                .assign(times.value(row).saturating_add(offset), |s, e| {
                    indices.push(row as u32);
                    starts.push(s);
                    ends.push(e);
                });
        }
        let base =
            if indices.len() == n && indices.iter().enumerate().all(|(i, r)| *r as usize == i) {
                chunk
            } else {
                take_chunk(&chunk, &UInt32Array::from(indices))?
            };
        let fields = self.spec.schema.fields();
        let k = fields.len();
        let times: Vec<i64> = ends
            .iter()
            .map(|e| e.saturating_sub(offset).saturating_sub(1))
            .collect();
        let mut cols: Vec<ArrayRef> = base.data.columns().to_vec();
        for (values, field) in [starts, ends, times].into_iter().zip(&fields[k - 3..]) {
            let arr: ArrayRef = Arc::new(Int64Array::from(values));
            cols.push(cast(&arr, field.data_type())?);
        }
        out.emit(base.with_columns(Arc::clone(&self.spec.schema), cols)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::aggregate::tests::{kinds_and_rows, run_chunks};
    use arrow::array::{RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    #[test]
    fn windows_print_as_in_flink_plans() {
        for (kind, text) in [
            (
                WindowKind::Tumble {
                    size: 10_000,
                    offset: 0,
                },
                "TUMBLE(size=[10 s])",
            ),
            (
                WindowKind::Tumble {
                    size: 86_400_000,
                    offset: -28_800_000,
                },
                "TUMBLE(size=[1 d], offset=[-8 h])",
            ),
            (
                WindowKind::Hop {
                    slide: 2_000,
                    size: 60_000,
                    offset: 0,
                },
                "HOP(size=[1 min], slide=[2 s])",
            ),
            (
                WindowKind::Cumulate {
                    step: 3_600_000,
                    size: 86_400_000,
                    offset: 0,
                },
                "CUMULATE(max_size=[1 d], step=[1 h])",
            ),
            (WindowKind::Session { gap: 30_000 }, "SESSION(gap=[30 s])"),
            (WindowKind::Session { gap: 1_500 }, "SESSION(gap=[1500 ms])"),
        ] {
            assert_eq!(kind.to_string(), text);
        }
    }

    #[test]
    fn ltz_windows_align_to_the_local_day() {
        let ltz = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let local = DataType::Timestamp(TimeUnit::Millisecond, None);
        let input = Arc::new(Schema::new(vec![Field::new("ts", ltz.clone(), false)]));
        let f = WindowTvfFactory {
            kind: WindowKind::Tumble {
                size: 86_400_000,
                offset: 0,
            },
            time_index: 0,
            local_offset_ms: 8 * 3_600_000,
            schema: Arc::new(Schema::new(vec![
                Field::new("ts", ltz.clone(), false),
                Field::new("window_start", local.clone(), false),
                Field::new("window_end", local, false),
                Field::new("window_time", ltz, false),
            ])),
        };
        // 1970-01-01 20:00 UTC is 04:00 on 2 January in UTC+8.
        let ts = TimestampMillisecondArray::from(vec![20 * 3_600_000]).with_timezone("UTC");
        let chunk = Chunk::insert_only(RecordBatch::try_new(input, vec![Arc::new(ts)]).unwrap());
        let out = kinds_and_rows(&run_chunks(&f, vec![chunk]));
        assert_eq!(
            out,
            vec![
                "+I 1970-01-01T20:00:00Z,1970-01-02T00:00:00,1970-01-03T00:00:00,1970-01-02T15:59:59.999Z"
            ]
        );
    }

    fn windows(k: WindowKind, ts: i64) -> Vec<(i64, i64)> {
        let mut v = Vec::new();
        k.assign(ts, |s, e| v.push((s, e)));
        v.sort();
        v
    }

    #[test]
    fn assigns_like_flink() {
        assert_eq!(
            windows(
                WindowKind::Tumble {
                    size: 10,
                    offset: 0
                },
                15
            ),
            vec![(10, 20)]
        );
        assert_eq!(
            windows(
                WindowKind::Tumble {
                    size: 10,
                    offset: 0
                },
                -1
            ),
            vec![(-10, 0)]
        );
        assert_eq!(
            windows(
                WindowKind::Tumble {
                    size: 10,
                    offset: 3
                },
                2
            ),
            vec![(-7, 3)]
        );
        assert_eq!(
            windows(
                WindowKind::Hop {
                    slide: 5,
                    size: 10,
                    offset: 0
                },
                12
            ),
            vec![(5, 15), (10, 20)]
        );
        assert_eq!(
            windows(
                WindowKind::Cumulate {
                    step: 5,
                    size: 20,
                    offset: 0
                },
                27
            ),
            vec![(20, 30), (20, 35), (20, 40)]
        );
        assert_eq!(windows(WindowKind::Session { gap: 7 }, 3), vec![(3, 10)]);
        // Timestamps at the ends of the range neither overflow nor loop.
        for ts in [i64::MIN, i64::MAX] {
            for k in [
                WindowKind::Tumble {
                    size: 10,
                    offset: 3,
                },
                WindowKind::Hop {
                    slide: 5,
                    size: 10,
                    offset: 0,
                },
                WindowKind::Cumulate {
                    step: 5,
                    size: 20,
                    offset: 0,
                },
                WindowKind::Session { gap: 7 },
            ] {
                assert!(windows(k, ts).len() <= 4);
            }
        }
    }
}
