//! Flink's `csv` format: one row per record, fields by position, `,` between
//! them, `"` around fields that hold a separator, a quote (`""`) or a line
//! break; an empty field is NULL (the sink writes NULL so).
//!
//! Decoding ([`CsvDecoder`]) uses arrow-csv against the table's physical
//! schema, a chunk of records at a time (see [`super::records`]). Records
//! that do not parse follow Flink's `csv.ignore-parse-errors` ("skip fields
//! and rows with parse errors instead of failing; fields are set to null in
//! case of errors"), as Flink's `CsvToRowDataConverters` and Jackson's CSV
//! parser do it:
//!
//! - a field that does not convert to its column's type (`x` for an INT) is
//!   NULL and the record is kept;
//! - a record with fewer fields than columns is kept, the missing ones NULL;
//! - a record with more fields than columns, or whose quoted field is never
//!   closed, is skipped (an unclosed quote runs to the end of the file, as
//!   with Jackson, so the rest of the file is that one record).
//!
//! Without the option each of these fails the job with the line (and the
//! field); the source adds table and file.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, LargeStringArray, RecordBatch, StringArray, StringViewArray, new_null_array,
};
use arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;

use super::records::{BadRecord, Framing, ParseErrors, RecordFormat, Single, split_csv};
use super::{Style, write_csv_field, write_value};

/// Appends row `row` of `batch` as one CSV line (no newline): values in
/// Flink's spelling, quoted when needed, empty for NULL.
pub fn write_row(batch: &arrow::array::RecordBatch, row: usize, out: &mut String) {
    for (i, col) in batch.columns().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(col.as_ref(), row, Style::Csv, out);
    }
}

/// Decodes CSV records into rows of a schema, by Flink's rules (see the
/// module docs).
pub struct CsvDecoder {
    schema: SchemaRef,
    errors: ParseErrors,
    /// The good path's Arrow decoder and the rows it holds at most, kept
    /// from chunk to chunk (dropped after a failure, which may leave it
    /// half way through a record).
    good_path: Option<(arrow::csv::reader::Decoder, usize)>,
}

impl std::fmt::Debug for CsvDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvDecoder")
            .field("schema", &self.schema)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl CsvDecoder {
    /// A decoder of rows of `schema`.
    pub fn new(schema: SchemaRef, errors: ParseErrors) -> Self {
        CsvDecoder {
            schema,
            errors,
            good_path: None,
        }
    }

    /// The rejection of a record that cannot be a row: skipped when parse
    /// errors are ignored, else the error.
    fn not_a_row(&self, line: u64, reason: String) -> Result<Single, BadRecord> {
        let bad = BadRecord {
            line,
            fields: Vec::new(),
            reason,
            kept: false,
        };
        if self.errors.ignore {
            Ok(Single {
                row: None,
                bad: Some(bad),
            })
        } else {
            Err(bad)
        }
    }
}

/// An Arrow decoder of rows of `schema`, at most `rows` at a time.
fn decoder(schema: SchemaRef, rows: usize) -> arrow::csv::reader::Decoder {
    arrow::csv::ReaderBuilder::new(schema)
        .with_header(false)
        .with_batch_size(rows.max(1))
        .build_decoder()
}

/// Decodes `bytes` (whole records, each ending with a line break, so no
/// end of input has to be signalled) with `decoder`, which holds no rows.
fn decode_with(
    decoder: &mut arrow::csv::reader::Decoder,
    schema: SchemaRef,
    bytes: &[u8],
) -> Result<RecordBatch, ArrowError> {
    let read = decoder.decode(bytes)?;
    if read < bytes.len() {
        return Err(ArrowError::CsvError("more rows than records".into()));
    }
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// Field `text` as a one-row array of `field`'s type; empty is NULL.
fn convert(field: &FieldRef, text: &str) -> Result<ArrayRef, String> {
    if text.is_empty() {
        return Ok(new_null_array(field.data_type(), 1));
    }
    // Text columns take the field as it is (it may hold a line break, which
    // a one-field record would not survive).
    match field.data_type() {
        DataType::Utf8 => return Ok(Arc::new(StringArray::from(vec![text]))),
        DataType::LargeUtf8 => return Ok(Arc::new(LargeStringArray::from(vec![text]))),
        DataType::Utf8View => return Ok(Arc::new(StringViewArray::from(vec![text]))),
        _ => {}
    }
    let mut record = String::with_capacity(text.len() + 3);
    write_csv_field(text, &mut record);
    record.push('\n');
    let alone = Arc::new(Schema::new(vec![Arc::clone(field)]));
    match decode_with(
        &mut decoder(Arc::clone(&alone), 1),
        alone,
        record.as_bytes(),
    ) {
        Ok(batch) if batch.num_rows() == 1 => Ok(Arc::clone(batch.column(0))),
        _ => Err(format!("cannot parse {text:?} as {}", field.data_type())),
    }
}

impl RecordFormat for CsvDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn framing(&self) -> Framing {
        Framing::Csv
    }

    fn decode_all(&mut self, bytes: &[u8], records: usize) -> Result<RecordBatch, ArrowError> {
        let (mut d, capacity) = match self.good_path.take() {
            Some((d, capacity)) if capacity >= records => (d, capacity),
            _ => (decoder(Arc::clone(&self.schema), records), records),
        };
        let batch = decode_with(&mut d, Arc::clone(&self.schema), bytes)?;
        if batch.num_rows() == records {
            // A decoder that stopped short may hold part of a record.
            self.good_path = Some((d, capacity));
        }
        Ok(batch)
    }

    fn decode_one(&self, bytes: &[u8], line: u64) -> Result<Single, BadRecord> {
        let fields = match split_csv(bytes) {
            Ok(f) => f,
            Err(reason) => return self.not_a_row(line, reason),
        };
        let columns = self.schema.fields().len();
        let count = |n: usize| format!("{n} field{}", if n == 1 { "" } else { "s" });
        if fields.len() > columns {
            return self.not_a_row(
                line,
                format!(
                    "{}, but the table has {columns} columns",
                    count(fields.len())
                ),
            );
        }
        let mut arrays = Vec::with_capacity(columns);
        let mut bad_fields = Vec::new();
        let mut first_reason = None;
        for (i, field) in self.schema.fields().iter().enumerate() {
            let converted = match fields.get(i) {
                Some(text) => convert(field, text),
                None => Err(format!(
                    "{}, but the table has {columns} columns",
                    count(fields.len())
                )),
            };
            match converted {
                Ok(array) => arrays.push(array),
                Err(reason) if !self.errors.ignore => {
                    return Err(BadRecord {
                        line,
                        fields: vec![field.name().clone()],
                        reason,
                        kept: false,
                    });
                }
                Err(reason) => {
                    arrays.push(new_null_array(field.data_type(), 1));
                    bad_fields.push(field.name().clone());
                    first_reason.get_or_insert(reason);
                }
            }
        }
        match RecordBatch::try_new(Arc::clone(&self.schema), arrays) {
            Ok(row) => Ok(Single {
                row: Some(row),
                bad: (!bad_fields.is_empty()).then(|| BadRecord {
                    line,
                    fields: bad_fields,
                    reason: first_reason.unwrap_or_default(),
                    kept: true,
                }),
            }),
            // NULL in a NOT NULL column: the record cannot be kept.
            Err(e) => self.not_a_row(line, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::records::test_support::read_rows;
    use arrow::datatypes::{Field, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    fn read(
        text: &str,
        errors: ParseErrors,
        chunk: usize,
    ) -> Result<(Vec<String>, Vec<BadRecord>), BadRecord> {
        read_rows(&mut CsvDecoder::new(schema(), errors), text, chunk)
    }

    const IGNORE: ParseErrors = ParseErrors {
        ignore: true,
        fail_on_missing_field: false,
    };

    /// Issue 15, case 3: one bad record used to end the file.
    #[test]
    fn a_bad_field_is_null_and_the_rest_of_the_file_is_read() {
        let mut text = String::new();
        for i in 1..=20_000 {
            if i == 10_001 {
                text.push_str("x,n,,true\n");
            } else {
                text.push_str(&format!("{i},n,,true\n"));
            }
        }
        let (rows, bad) = read(&text, IGNORE, 8192).unwrap();
        assert_eq!(rows.len(), 20_000);
        assert_eq!(rows[10_000], "+I[NULL, n, NULL, true]");
        assert_eq!(rows[10_001], "+I[10002, n, NULL, true]");
        assert_eq!(
            bad,
            vec![BadRecord {
                line: 10_001,
                fields: vec!["id".into()],
                reason: "cannot parse \"x\" as Int64".into(),
                kept: true,
            }]
        );
    }

    #[test]
    fn fields_and_rows_with_errors_as_flink_skips_them() {
        let text = "1,a,2024-01-01 00:00:00.5,true\n\
                    2,b,yesterday,maybe\n\
                    3,c\n\
                    4,d,,false,extra\n\
                    5,\"line\nbreak, \"\"quoted\"\"\",,true\n\
                    6,e,,true\n\
                    7,\"open,,\n";
        for chunk in [1, 2, 100] {
            let (rows, bad) = read(text, IGNORE, chunk).unwrap();
            assert_eq!(
                rows,
                [
                    "+I[1, a, 2024-01-01 00:00:00.500, true]",
                    "+I[2, b, NULL, NULL]",
                    "+I[3, c, NULL, NULL]",
                    "+I[5, line\nbreak, \"quoted\", NULL, true]",
                    "+I[6, e, NULL, true]",
                ],
                "chunks of {chunk}"
            );
            let summary: Vec<(u64, Vec<String>, bool)> = bad
                .iter()
                .map(|b| (b.line, b.fields.clone(), b.kept))
                .collect();
            assert_eq!(
                summary,
                [
                    (2, vec!["ts".to_string(), "ok".to_string()], true),
                    (3, vec!["ts".to_string(), "ok".to_string()], true),
                    (4, vec![], false),
                    (8, vec![], false),
                ]
            );
            assert_eq!(bad[2].reason, "5 fields, but the table has 4 columns");
        }
    }

    #[test]
    fn without_ignore_the_error_names_line_and_field() {
        let e = read("1,a,,true\n\n2,b,,nope\n", ParseErrors::default(), 8192).unwrap_err();
        assert_eq!((e.line, e.fields.clone()), (3, vec!["ok".to_string()]));
        assert_eq!(e.reason, "cannot parse \"nope\" as Boolean");
        let e = read("1,a,,true\n2,b\n", ParseErrors::default(), 8192).unwrap_err();
        assert_eq!((e.line, e.fields.clone()), (2, vec!["ts".to_string()]));
        assert_eq!(e.reason, "2 fields, but the table has 4 columns");
    }
}
