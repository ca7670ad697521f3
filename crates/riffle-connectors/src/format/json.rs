//! Flink's `json` format: one JSON object per line, fields by column name.
//!
//! Decoding uses arrow-json against the table's physical schema; timestamps
//! in Flink's SQL form (`yyyy-MM-dd HH:mm:ss.SSS`) and ISO form both parse.
//! Encoding writes `{"col": value, ...}` with [`super::write_value`].

use arrow::record_batch::RecordBatch;

use super::{Style, write_json_string, write_value};

/// Appends row `row` of `batch` as a JSON object (no newline).
pub fn write_row(batch: &RecordBatch, row: usize, out: &mut String) {
    out.push('{');
    for (i, (field, col)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        write_json_string(field.name(), out);
        out.push(':');
        write_value(col.as_ref(), row, Style::Json, out);
    }
    out.push('}');
}

/// Appends row `row` as a JSON array of values in the canonical style (used
/// by the changelog tap).
pub fn write_row_values(batch: &RecordBatch, row: usize, out: &mut String) {
    out.push('[');
    for (i, col) in batch.columns().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(col.as_ref(), row, Style::Canonical, out);
    }
    out.push(']');
}
