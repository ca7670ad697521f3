//! Group keys: evaluation, row encoding (with key groups) and decoding back
//! into columns, including the key-less case of a global aggregate.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt8Array};
use arrow::datatypes::SchemaRef;
use arrow::row::Rows;
use datafusion_physical_expr::PhysicalExpr;
use riffle_common::Chunk;

use crate::Result;
use crate::state::KeyEncoder;

/// Key expressions plus their encoder.
pub(crate) struct GroupKeys {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// `None` for a global aggregate (no keys).
    encoder: Option<KeyEncoder>,
}

/// One batch's keys.
pub(crate) struct EncodedKeys {
    rows: Option<Rows>,
    key_groups: Vec<u16>,
}

impl EncodedKeys {
    /// The key bytes of a row.
    pub(crate) fn key(&self, row: usize) -> &[u8] {
        match &self.rows {
            Some(r) => r.row(row).data(),
            None => &[],
        }
    }

    /// The key group of a row.
    pub(crate) fn key_group(&self, row: usize) -> u16 {
        self.key_groups.get(row).copied().unwrap_or(0)
    }
}

impl GroupKeys {
    pub(crate) fn new(
        exprs: &[Arc<dyn PhysicalExpr>],
        input: &SchemaRef,
        max_parallelism: usize,
    ) -> Result<Self> {
        let encoder = if exprs.is_empty() {
            None
        } else {
            let types = exprs
                .iter()
                .map(|e| e.data_type(input))
                .collect::<datafusion_common::Result<Vec<_>>>()?;
            Some(KeyEncoder::new(&types, max_parallelism)?)
        };
        Ok(GroupKeys {
            exprs: exprs.to_vec(),
            encoder,
        })
    }

    /// Evaluates and encodes the keys of a batch.
    pub(crate) fn encode(&mut self, batch: &RecordBatch) -> Result<EncodedKeys> {
        let Some(enc) = &mut self.encoder else {
            return Ok(EncodedKeys {
                rows: None,
                key_groups: Vec::new(),
            });
        };
        let n = batch.num_rows();
        let cols = self
            .exprs
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(n)))
            .collect::<datafusion_common::Result<Vec<_>>>()?;
        let (rows, key_groups) = enc.encode(&cols)?;
        Ok(EncodedKeys {
            rows: Some(rows),
            key_groups,
        })
    }

    /// Decodes stored keys back into key columns.
    pub(crate) fn decode(&self, keys: &[Box<[u8]>]) -> Result<Vec<ArrayRef>> {
        match &self.encoder {
            None => Ok(Vec::new()),
            Some(enc) => enc.decode(keys.iter().map(|k| k.as_ref())),
        }
    }
}

/// Names the key types of `exprs` (for state descriptors).
pub(crate) fn keys_descriptor(exprs: &[Arc<dyn PhysicalExpr>], input: &SchemaRef) -> String {
    let types: Vec<String> = exprs
        .iter()
        .map(|e| match e.data_type(input) {
            Ok(t) => crate::checkpoint::codec::type_text(&t),
            Err(e) => format!("?({e})"),
        })
        .collect();
    types.join(", ")
}

/// Builds an output chunk from key columns and result columns.
pub(crate) fn assemble(
    schema: &SchemaRef,
    mut keys: Vec<ArrayRef>,
    aggs: Vec<ArrayRef>,
    kinds: Option<Vec<u8>>,
) -> Result<Chunk> {
    let n = aggs
        .first()
        .or(keys.first())
        .map(|a| a.len())
        .or(kinds.as_ref().map(|k| k.len()))
        .unwrap_or(0);
    keys.extend(aggs);
    let data = RecordBatch::try_new_with_options(
        Arc::clone(schema),
        keys,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )?;
    match kinds {
        Some(k) if k.iter().any(|b| *b != 0) => Ok(Chunk::with_kinds(data, UInt8Array::from(k))?),
        _ => Ok(Chunk::insert_only(data)),
    }
}
