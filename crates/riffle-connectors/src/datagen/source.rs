//! Generating datagen batches.
//!
//! Subtask `i` of `p` generates split `i` of `p`: its share of the rows and
//! of every sequence, with its own random stream. A split's position is its
//! row count and random state, so a restored split continues with exactly
//! the rows an uninterrupted run would produce; a reader restored with
//! another parallelism takes its splits in turn.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Float32Builder, Float64Builder, Int8Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use riffle_runtime::TaskInfo;
use riffle_runtime::checkpoint::{Decoder, Encoder};
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};
use riffle_runtime::metrics::TaskMetrics;

/// How one column is generated.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldGen {
    /// Uniform random values (strings of `length` letters; timestamps up to `max_past_ms` back).
    Random {
        /// Lower bound (numbers).
        min: f64,
        /// Upper bound (numbers).
        max: f64,
        /// String length.
        length: usize,
        /// How far back random timestamps reach.
        max_past_ms: i64,
        /// Fraction of NULLs.
        null_rate: f64,
    },
    /// `start..=end`, split over the subtasks.
    Sequence {
        /// First value.
        start: i128,
        /// Last value.
        end: i128,
        /// Fraction of NULLs.
        null_rate: f64,
    },
}

/// The source factory of one datagen table.
#[derive(Debug)]
pub struct DatagenSource {
    full_schema: SchemaRef,
    fields: Vec<FieldGen>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    rows_per_second: u64,
    number_of_rows: Option<u64>,
}

impl DatagenSource {
    /// A source over `schema` with one generator per column.
    pub fn new(
        full_schema: SchemaRef,
        fields: Vec<FieldGen>,
        projection: Option<Vec<usize>>,
        rows_per_second: u64,
        number_of_rows: Option<u64>,
    ) -> Self {
        let schema = match &projection {
            Some(p) => Arc::new(
                full_schema
                    .project(p)
                    .unwrap_or_else(|_| (*full_schema).clone()),
            ),
            None => Arc::clone(&full_schema),
        };
        DatagenSource {
            full_schema,
            fields,
            projection,
            schema,
            rows_per_second,
            number_of_rows,
        }
    }
}

/// Splits `total` items into `n` contiguous parts; part `i` is `(offset, len)`.
fn split(total: u128, n: usize, i: usize) -> (u128, u128) {
    let n = n.max(1) as u128;
    let i = i as u128;
    let base = total / n;
    let rem = total % n;
    let offset = i * base + i.min(rem);
    (offset, base + u128::from(i < rem))
}

impl SourceFactory for DatagenSource {
    fn connector(&self) -> &str {
        "datagen"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn is_bounded(&self) -> bool {
        self.number_of_rows.is_some()
            || self
                .fields
                .iter()
                .any(|f| matches!(f, FieldGen::Sequence { .. }))
    }

    fn create_reader(
        &self,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<Vec<u8>>>,
    ) -> riffle_runtime::Result<Box<dyn SourceReader>> {
        let splits = match restored {
            None => vec![self.split_reader(task.subtask_index, task.parallelism, batch_size)],
            Some(items) => items
                .iter()
                .map(|item| {
                    let mut d = Decoder::new(item);
                    let (s, p) = (d.u64()? as usize, d.u64()? as usize);
                    let emitted = u128::from(d.u64()?) | (u128::from(d.u64()?) << 64);
                    let rng = d.u64()?;
                    let mut split = self.split_reader(s, p, batch_size);
                    split.emitted = emitted;
                    split.paced_from = emitted;
                    split.rng = rng;
                    Ok(split)
                })
                .collect::<riffle_runtime::Result<Vec<_>>>()?,
        };
        Ok(Box::new(DatagenReader {
            splits,
            next: 0,
            metrics: None,
        }))
    }
}

impl DatagenSource {
    /// The generator of split `s` of `p`, at its start.
    fn split_reader(&self, s: usize, p: usize, batch_size: usize) -> DatagenSplit {
        let mut limit: Option<u128> = self.number_of_rows.map(|n| split(n as u128, p, s).1);
        let mut fields = Vec::new();
        let cols: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.full_schema.fields().len()).collect(),
        };
        for (i, g) in self.fields.iter().enumerate() {
            let g = match g {
                FieldGen::Sequence {
                    start,
                    end,
                    null_rate,
                } => {
                    let total = (end - start + 1) as u128;
                    let (off, len) = split(total, p, s);
                    limit = Some(limit.map_or(len, |l| l.min(len)));
                    FieldGen::Sequence {
                        start: start + off as i128,
                        end: start + (off + len) as i128 - 1,
                        null_rate: *null_rate,
                    }
                }
                other => other.clone(),
            };
            if cols.contains(&i) {
                fields.push((self.full_schema.field(i).data_type().clone(), g));
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        DatagenSplit {
            index: s,
            of: p,
            schema: Arc::clone(&self.schema),
            fields,
            emitted: 0,
            paced_from: 0,
            limit,
            batch_size,
            rate: (self.rows_per_second as f64 / p.max(1) as f64).max(1.0),
            started: Instant::now(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (s as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
            now_ms,
        }
    }
}

/// One split's generator.
struct DatagenSplit {
    index: usize,
    of: usize,
    schema: SchemaRef,
    fields: Vec<(DataType, FieldGen)>,
    emitted: u128,
    /// Rows emitted when pacing started (a restore starts pacing anew).
    paced_from: u128,
    limit: Option<u128>,
    batch_size: usize,
    rate: f64,
    started: Instant,
    rng: u64,
    now_ms: i64,
}

/// A subtask's reader: its splits, polled in turn.
struct DatagenReader {
    splits: Vec<DatagenSplit>,
    next: usize,
    /// Where `pendingRecords` goes: the rows the splits are behind
    /// `rows-per-second` (what a slow downstream holds them back by).
    metrics: Option<Arc<TaskMetrics>>,
}

impl SourceReader for DatagenReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        if let Some(m) = &self.metrics {
            let behind: u128 = self.splits.iter().map(DatagenSplit::behind).sum();
            m.set_pending_records(u64::try_from(behind).unwrap_or(u64::MAX));
        }
        let n = self.splits.len();
        let mut pending = false;
        for k in 0..n {
            let i = (self.next + k) % n;
            match self.splits[i].poll()? {
                SourcePoll::Batch(b) => {
                    self.next = (i + 1) % n;
                    return Ok(SourcePoll::Batch(b));
                }
                SourcePoll::Pending => pending = true,
                SourcePoll::End => {}
            }
        }
        Ok(if pending {
            SourcePoll::Pending
        } else {
            SourcePoll::End
        })
    }

    fn snapshot_splits(&mut self, _checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        Ok(self
            .splits
            .iter()
            .filter(|s| s.limit.is_none_or(|l| s.emitted < l))
            .map(|s| {
                let mut e = Encoder::new();
                e.u64(s.index as u64);
                e.u64(s.of as u64);
                e.u64(s.emitted as u64);
                e.u64((s.emitted >> 64) as u64);
                e.u64(s.rng);
                e.into_bytes()
            })
            .collect())
    }

    fn bind_metrics(&mut self, metrics: Arc<TaskMetrics>) {
        self.metrics = Some(metrics);
    }
}

impl DatagenSplit {
    /// Rows this split is behind its pace (none past its limit).
    fn behind(&self) -> u128 {
        let due = self.paced_from + (self.started.elapsed().as_secs_f64() * self.rate) as u128;
        let due = self.limit.map_or(due, |l| due.min(l));
        due.saturating_sub(self.emitted)
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64: small, fast and good enough for test data.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn column(
        &mut self,
        dt: &DataType,
        g: &FieldGen,
        rows: usize,
    ) -> riffle_runtime::Result<ArrayRef> {
        let first = self.emitted;
        let null_rate = match g {
            FieldGen::Random { null_rate, .. } | FieldGen::Sequence { null_rate, .. } => *null_rate,
        };
        macro_rules! ints {
            ($b:ty, $t:ty) => {{
                let mut b = <$b>::with_capacity(rows);
                for r in 0..rows {
                    if null_rate > 0.0 && self.unit() < null_rate {
                        b.append_null();
                        continue;
                    }
                    let v = match g {
                        FieldGen::Sequence { start, .. } => {
                            (*start + (first + r as u128) as i128) as $t
                        }
                        FieldGen::Random { min, max, .. } => {
                            let span = (*max - *min).floor() as u128 + 1;
                            (*min as i128 + (self.next_u64() as u128 % span) as i128) as $t
                        }
                    };
                    b.append_value(v);
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        Ok(match dt {
            DataType::Int8 => ints!(Int8Builder, i8),
            DataType::Int16 => ints!(Int16Builder, i16),
            DataType::Int32 => ints!(Int32Builder, i32),
            DataType::Int64 => ints!(Int64Builder, i64),
            DataType::Float32 | DataType::Float64 => {
                let (min, max) = match g {
                    FieldGen::Random { min, max, .. } => (*min, *max),
                    FieldGen::Sequence { .. } => (0.0, 1.0),
                };
                let vals: Vec<Option<f64>> = (0..rows)
                    .map(|_| {
                        if null_rate > 0.0 && self.unit() < null_rate {
                            None
                        } else {
                            Some(min + self.unit() * (max - min))
                        }
                    })
                    .collect();
                if matches!(dt, DataType::Float32) {
                    let mut b = Float32Builder::with_capacity(rows);
                    vals.into_iter()
                        .for_each(|v| b.append_option(v.map(|x| x as f32)));
                    Arc::new(b.finish())
                } else {
                    let mut b = Float64Builder::with_capacity(rows);
                    vals.into_iter().for_each(|v| b.append_option(v));
                    Arc::new(b.finish())
                }
            }
            DataType::Decimal128(p, s) => {
                let (min, max) = match g {
                    FieldGen::Random { min, max, .. } => (*min, *max),
                    FieldGen::Sequence { .. } => (0.0, 1.0),
                };
                let mut b = Decimal128Builder::with_capacity(rows);
                for _ in 0..rows {
                    let v = min + self.unit() * (max - min);
                    b.append_value((v * 10f64.powi(*s as i32)).round() as i128);
                }
                Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows);
                for _ in 0..rows {
                    let v = self.next_u64() & 1 == 1;
                    b.append_value(v);
                }
                Arc::new(b.finish())
            }
            DataType::Utf8 => {
                let mut b = StringBuilder::with_capacity(rows, rows * 16);
                let mut s = String::new();
                for r in 0..rows {
                    match g {
                        FieldGen::Sequence { start, .. } => {
                            b.append_value((*start + (first + r as u128) as i128).to_string())
                        }
                        FieldGen::Random { length, .. } => {
                            s.clear();
                            for _ in 0..*length {
                                let c = b'a' + (self.next_u64() % 26) as u8;
                                s.push(c as char);
                            }
                            b.append_value(&s);
                        }
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                let max_past = match g {
                    FieldGen::Random { max_past_ms, .. } => *max_past_ms,
                    FieldGen::Sequence { .. } => 0,
                };
                let now = self.now_ms + self.started.elapsed().as_millis() as i64;
                let mut b = TimestampMillisecondBuilder::with_capacity(rows);
                for _ in 0..rows {
                    let back = if max_past > 0 {
                        (self.next_u64() % max_past as u64) as i64
                    } else {
                        0
                    };
                    b.append_value(now - back);
                }
                Arc::new(b.finish().with_timezone_opt(tz.clone()))
            }
            other => {
                return Err(riffle_runtime::Error::User(format!(
                    "datagen cannot produce {other}"
                )));
            }
        })
    }
}

impl DatagenSplit {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        let mut rows = self.batch_size as u128;
        if let Some(l) = self.limit {
            if self.emitted >= l {
                return Ok(SourcePoll::End);
            }
            rows = rows.min(l - self.emitted);
        }
        // Pace to rows-per-second.
        let allowed =
            self.paced_from + (self.started.elapsed().as_secs_f64() * self.rate) as u128 + 1;
        if self.emitted >= allowed {
            return Ok(SourcePoll::Pending);
        }
        let rows = rows.min(allowed - self.emitted).max(1) as usize;
        let fields = self.fields.clone();
        let cols = fields
            .iter()
            .map(|(dt, g)| self.column(dt, g, rows))
            .collect::<riffle_runtime::Result<Vec<_>>>()?;
        self.emitted += rows as u128;
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            cols,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        Ok(SourcePoll::Batch(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything() {
        let parts: Vec<_> = (0..3).map(|i| split(10, 3, i)).collect();
        assert_eq!(parts, vec![(0, 4), (4, 3), (7, 3)]);
    }
}
