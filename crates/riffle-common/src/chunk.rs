//! Chunks: Arrow record batches whose rows carry a change kind.
//!
//! Flink tables are changelogs: every row is an insertion, the retraction of an
//! old value (`-U`), the new value that replaces it (`+U`), or a deletion. Riffle
//! keeps the data columns in a plain [`RecordBatch`] so that DataFusion's
//! vectorized expressions run on it unchanged, and keeps the change kinds in a
//! parallel `UInt8` column. Append-only streams (most sources, all stateless
//! queries) carry no kind column at all: `kinds == None` means "every row is
//! `+I`", so the common case costs nothing.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt8Array};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::{Error, Result};

/// Flink's `RowKind`, with Flink's byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the old value of an updated row, retracted.
    UpdateBefore = 1,
    /// `+U`: the new value of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row.
    Delete = 3,
}

impl RowKind {
    /// The short string Flink prints (`+I`, `-U`, `+U`, `-D`).
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the table (`+I`, `+U`) rather than retracting.
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }

    /// Decodes Flink's byte value.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(RowKind::Insert),
            1 => Ok(RowKind::UpdateBefore),
            2 => Ok(RowKind::UpdateAfter),
            3 => Ok(RowKind::Delete),
            other => Err(Error::InvalidRowKind(other)),
        }
    }
}

/// A batch of rows with their change kinds.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The data columns.
    pub data: RecordBatch,
    /// One change kind per row (Flink byte values); `None` means all `+I`.
    pub kinds: Option<Arc<UInt8Array>>,
}

impl Chunk {
    /// An append-only chunk: every row is `+I`.
    pub fn insert_only(data: RecordBatch) -> Self {
        Chunk { data, kinds: None }
    }

    /// A chunk with explicit change kinds. Fails if the lengths differ or a
    /// kind byte is out of range.
    pub fn with_kinds(data: RecordBatch, kinds: UInt8Array) -> Result<Self> {
        if kinds.len() != data.num_rows() {
            return Err(Error::Arrow(
                arrow::error::ArrowError::InvalidArgumentError(format!(
                    "change-kind column has {} rows, data has {}",
                    kinds.len(),
                    data.num_rows()
                )),
            ));
        }
        if let Some(bad) = kinds.values().iter().find(|k| **k > 3) {
            return Err(Error::InvalidRowKind(*bad));
        }
        Ok(Chunk {
            data,
            kinds: Some(Arc::new(kinds)),
        })
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    /// The data schema.
    pub fn schema(&self) -> SchemaRef {
        self.data.schema()
    }

    /// The change kind of row `i`.
    pub fn kind(&self, i: usize) -> RowKind {
        match &self.kinds {
            None => RowKind::Insert,
            // Kinds are validated on construction, so the fallback never triggers.
            Some(k) => RowKind::from_byte(k.value(i)).unwrap_or(RowKind::Insert),
        }
    }

    /// Whether every row is an insertion.
    pub fn is_insert_only(&self) -> bool {
        match &self.kinds {
            None => true,
            Some(k) => k.values().iter().all(|b| *b == 0),
        }
    }

    /// Keeps the rows where `mask` is true, kinds included.
    pub fn filter(&self, mask: &arrow::array::BooleanArray) -> Result<Chunk> {
        let data = filter_record_batch(&self.data, mask)?;
        Ok(Chunk {
            data,
            kinds: self.filtered_kinds(mask)?,
        })
    }

    /// The change kinds of the rows where `mask` is true (for operators that
    /// filter only some columns themselves).
    pub fn filtered_kinds(
        &self,
        mask: &arrow::array::BooleanArray,
    ) -> Result<Option<Arc<UInt8Array>>> {
        let Some(k) = &self.kinds else {
            return Ok(None);
        };
        let f = arrow::compute::filter(k.as_ref(), mask)?;
        let f = f
            .as_any()
            .downcast_ref::<UInt8Array>()
            .cloned()
            .ok_or_else(|| {
                Error::Arrow(arrow::error::ArrowError::CastError(
                    "filtered change-kind column is not UInt8".into(),
                ))
            })?;
        Ok(Some(Arc::new(f)))
    }

    /// Replaces the data columns, keeping the change kinds (for projections).
    pub fn with_columns(&self, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<Chunk> {
        let data = RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(self.num_rows())),
        )?;
        Ok(Chunk {
            data,
            kinds: self.kinds.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap()
    }

    #[test]
    fn kinds_survive_filter() -> Result<()> {
        let c = Chunk::with_kinds(batch(), UInt8Array::from(vec![0, 1, 2]))?;
        let f = c.filter(&BooleanArray::from(vec![false, true, true]))?;
        assert_eq!(f.num_rows(), 2);
        assert_eq!(f.kind(0), RowKind::UpdateBefore);
        assert_eq!(f.kind(1), RowKind::UpdateAfter);
        Ok(())
    }

    #[test]
    fn rejects_bad_kind_bytes_and_lengths() {
        assert!(Chunk::with_kinds(batch(), UInt8Array::from(vec![0, 9, 0])).is_err());
        assert!(Chunk::with_kinds(batch(), UInt8Array::from(vec![0])).is_err());
    }

    #[test]
    fn insert_only_reports_insert() {
        let c = Chunk::insert_only(batch());
        assert!(c.is_insert_only());
        assert_eq!(c.kind(2).short_string(), "+I");
    }
}
