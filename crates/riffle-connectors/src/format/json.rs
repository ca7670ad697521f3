//! Flink's `json` format: one JSON object per line, fields by column name.
//!
//! Decoding ([`JsonDecoder`]) uses arrow-json against the table's physical
//! schema, a chunk of lines at a time (see [`super::records`]); timestamps in
//! Flink's SQL form (`yyyy-MM-dd HH:mm:ss.SSS`) and ISO form both parse, and
//! numbers and booleans read into a STRING column as their text, as in
//! Flink (objects and arrays, which Flink reads as their JSON text, do not
//! convert). Encoding writes `{"col": value, ...}` with [`super::write_value`].
//!
//! Records that do not parse follow Flink's `JsonParserRowDataDeserializationSchema`:
//!
//! - a line that is not JSON, or not a JSON object, is not a record: with
//!   `json.ignore-parse-errors` it is skipped, else the job fails;
//! - a field whose value does not convert to its column's type (`"abc"` for
//!   an INT) fails the job, or with `json.ignore-parse-errors` is read as
//!   NULL and the record is kept. Inside nested values only the part that
//!   does not convert becomes NULL (a row's field, an array's element), as
//!   Flink's converters do;
//! - a declared field the object lacks is NULL, or with
//!   `json.fail-on-missing-field` fails the job (nested rows included);
//! - only the first JSON value of a line is read, the rest of the line is
//!   ignored (Jackson's parser stops there too).
//!
//! Errors name the line and the field; the source adds table and file.

use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::records::{BadRecord, Framing, ParseErrors, RecordFormat, Single, Span};
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

/// Decodes JSON lines into rows of a schema, by Flink's rules (see the
/// module docs).
pub struct JsonDecoder {
    schema: SchemaRef,
    errors: ParseErrors,
    /// Whether a column holds rows, arrays or maps, whose fields a
    /// missing-field check has to look into.
    nested: bool,
    /// The good path's Arrow decoder and the rows it holds at most, kept
    /// from chunk to chunk (dropped after a failure, which may leave it
    /// half way through a value).
    good_path: Option<(arrow::json::reader::Decoder, usize)>,
}

impl std::fmt::Debug for JsonDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonDecoder")
            .field("schema", &self.schema)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl JsonDecoder {
    /// A decoder of rows of `schema`.
    pub fn new(schema: SchemaRef, errors: ParseErrors) -> Self {
        let nested = schema.fields().iter().any(|f| {
            matches!(
                f.data_type(),
                DataType::Struct(_)
                    | DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::Map(..)
            )
        });
        JsonDecoder {
            schema,
            errors,
            nested,
            good_path: None,
        }
    }

    /// The rejection of a line that is not a record: skipped when parse
    /// errors are ignored, else the error.
    fn not_a_record(&self, line: u64, reason: String) -> Result<Single, BadRecord> {
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

    /// The missing-field error of `line`, if `json.fail-on-missing-field`
    /// is set and `object` lacks a declared field.
    fn missing_field(
        &self,
        object: &serde_json::Map<String, Value>,
        line: u64,
    ) -> Result<(), BadRecord> {
        if !self.errors.fail_on_missing_field {
            return Ok(());
        }
        match missing_in_object(object, self.schema.fields()) {
            None => Ok(()),
            Some(field) => Err(BadRecord {
                line,
                reason: "missing, and 'json.fail-on-missing-field' is true (set it to \
                         'false' to read missing fields as NULL)"
                    .into(),
                fields: vec![field],
                kept: false,
            }),
        }
    }
}

/// An Arrow decoder of rows of `schema`, at most `rows` at a time. With
/// `lenient`, values that do not convert are NULL (at the deepest level)
/// instead of an error.
fn decoder(
    schema: SchemaRef,
    rows: usize,
    lenient: bool,
) -> Result<arrow::json::reader::Decoder, ArrowError> {
    arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(rows.max(1))
        .with_strict_mode(false)
        .with_coerce_primitive(true)
        .with_ignore_type_conflicts(lenient)
        .build_decoder()
}

/// Decodes `bytes` into rows of `schema` with a new Arrow decoder; `rows`
/// is the number of rows expected.
fn decode(
    schema: SchemaRef,
    bytes: &[u8],
    rows: usize,
    lenient: bool,
) -> Result<RecordBatch, ArrowError> {
    let mut decoder = decoder(Arc::clone(&schema), rows, lenient)?;
    decode_with(&mut decoder, schema, bytes)
}

/// Decodes `bytes` with `decoder`, which must hold no rows yet.
fn decode_with(
    decoder: &mut arrow::json::reader::Decoder,
    schema: SchemaRef,
    bytes: &[u8],
) -> Result<RecordBatch, ArrowError> {
    let read = decoder.decode(bytes)?;
    if read < bytes.len() {
        // The decoder stopped at `rows` rows: a line held more than one.
        return Err(ArrowError::JsonError("more JSON values than lines".into()));
    }
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// Arrow's message without the `whilst decoding field 'x': ` it starts
/// with (the field is named separately).
fn reason(e: &ArrowError, field: &str) -> String {
    let text = match e {
        ArrowError::JsonError(m) => m.clone(),
        other => other.to_string(),
    };
    let prefix = format!("whilst decoding field '{field}': ");
    text.strip_prefix(&prefix)
        .map(str::to_string)
        .unwrap_or(text)
}

/// The first declared field (as `a.b`, `a[2].b`) missing from `object` or
/// from the rows nested in it.
fn missing_in_object(object: &serde_json::Map<String, Value>, fields: &Fields) -> Option<String> {
    fields.iter().find_map(|f| match object.get(f.name()) {
        None => Some(f.name().clone()),
        Some(v) => missing_in_value(v, f.data_type()).map(|inner| format!("{}{inner}", f.name())),
    })
}

/// The missing field below `value` of type `data_type`, as `.b` or `[2].b`.
fn missing_in_value(value: &Value, data_type: &DataType) -> Option<String> {
    match (data_type, value) {
        (DataType::Struct(fields), Value::Object(object)) => {
            missing_in_object(object, fields).map(|inner| format!(".{inner}"))
        }
        (DataType::List(item) | DataType::LargeList(item), Value::Array(items)) => {
            items.iter().enumerate().find_map(|(i, v)| {
                missing_in_value(v, item.data_type()).map(|inner| format!("[{i}]{inner}"))
            })
        }
        _ => None,
    }
}

impl RecordFormat for JsonDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn framing(&self) -> Framing {
        Framing::Lines
    }

    fn decode_all(&mut self, bytes: &[u8], records: usize) -> Result<RecordBatch, ArrowError> {
        let (mut d, capacity) = match self.good_path.take() {
            Some((d, capacity)) if capacity >= records => (d, capacity),
            _ => (decoder(Arc::clone(&self.schema), records, false)?, records),
        };
        let batch = decode_with(&mut d, Arc::clone(&self.schema), bytes)?;
        if batch.num_rows() == records {
            // A decoder that stopped short may hold part of a value.
            self.good_path = Some((d, capacity));
        }
        Ok(batch)
    }

    fn decode_one(&self, bytes: &[u8], line: u64) -> Result<Single, BadRecord> {
        let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
        let value = match values.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return self.not_a_record(line, format!("not valid JSON ({e})")),
            None => return Ok(Single::default()),
        };
        // Only the first value counts, as with Jackson.
        let text = bytes.get(..values.byte_offset()).unwrap_or(bytes);
        let Value::Object(object) = &value else {
            return self.not_a_record(line, format!("not a JSON object but {}", kind(&value)));
        };
        self.missing_field(object, line)?;
        // Which fields do not convert, each decoded on its own.
        let mut bad_fields = Vec::new();
        let mut first_reason = None;
        for field in self.schema.fields() {
            if object.get(field.name()).is_none_or(Value::is_null) {
                continue;
            }
            let alone = Arc::new(Schema::new(vec![Arc::clone(field)]));
            if let Err(e) = decode(alone, text, 1, false) {
                let reason = reason(&e, field.name());
                if !self.errors.ignore {
                    return Err(BadRecord {
                        line,
                        fields: vec![field.name().clone()],
                        reason,
                        kept: false,
                    });
                }
                bad_fields.push(field.name().clone());
                first_reason.get_or_insert(reason);
            }
        }
        let lenient = !bad_fields.is_empty();
        match decode(Arc::clone(&self.schema), text, 1, lenient) {
            Ok(row) if row.num_rows() == 1 => Ok(Single {
                row: Some(row),
                bad: lenient.then(|| BadRecord {
                    line,
                    fields: bad_fields,
                    reason: first_reason.unwrap_or_default(),
                    kept: true,
                }),
            }),
            // E.g. NULL for a NOT NULL column: the record cannot be kept.
            Ok(_) => self.not_a_record(line, "the object does not make one row".into()),
            Err(e) => self.not_a_record(line, reason(&e, "")),
        }
    }

    fn check(&self, batch: &RecordBatch, buf: &[u8], spans: &[Span]) -> Result<(), BadRecord> {
        if !self.errors.fail_on_missing_field {
            return Ok(());
        }
        // A missing field is NULL in the batch: only rows with a NULL
        // somewhere need a look at their text (all rows if a column
        // nests fields, whose NULLs the batch does not show at the top).
        let mut suspect = vec![self.nested; batch.num_rows()];
        for column in batch.columns() {
            if column.null_count() == 0 {
                continue;
            }
            for (row, s) in suspect.iter_mut().enumerate() {
                *s |= column.is_null(row);
            }
        }
        for (span, _) in spans.iter().zip(&suspect).filter(|(_, s)| **s) {
            let bytes = buf.get(span.start..span.end).unwrap_or_default();
            let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
            if let Some(Ok(Value::Object(object))) = values.next() {
                self.missing_field(&object, span.line)?;
            }
        }
        Ok(())
    }
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::records::decode_chunk;
    use crate::format::records::test_support::read_rows;
    use arrow::array::AsArray;
    use arrow::datatypes::{Field, Int64Type, TimeUnit};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new(
                "addr",
                DataType::Struct(Fields::from(vec![
                    Field::new("city", DataType::Utf8, true),
                    Field::new("zip", DataType::Int32, true),
                ])),
                true,
            ),
        ]))
    }

    fn read(
        text: &str,
        errors: ParseErrors,
        chunk: usize,
    ) -> Result<(Vec<String>, Vec<BadRecord>), BadRecord> {
        read_rows(&mut JsonDecoder::new(schema(), errors), text, chunk)
    }

    const IGNORE: ParseErrors = ParseErrors {
        ignore: true,
        fail_on_missing_field: false,
    };

    /// Issue 15, cases 3 and 15: one bad record used to end the file.
    #[test]
    fn a_bad_field_is_null_and_the_rest_of_the_file_is_read() {
        let mut text = String::new();
        for i in 1..=20_000 {
            if i == 10_001 {
                text.push_str("{\"id\": \"abc\", \"name\": \"n\"}\n");
            } else {
                text.push_str(&format!("{{\"id\": {i}, \"name\": \"n\"}}\n"));
            }
        }
        let (rows, bad) = read(&text, IGNORE, 8192).unwrap();
        assert_eq!(rows.len(), 20_000);
        assert_eq!(rows[10_000], "+I[NULL, n, NULL, NULL]");
        assert_eq!(rows[10_001], "+I[10002, n, NULL, NULL]");
        assert_eq!(
            bad,
            vec![BadRecord {
                line: 10_001,
                fields: vec!["id".into()],
                reason: "failed to parse \"abc\" as Int64".into(),
                kept: true,
            }]
        );
    }

    #[test]
    fn lines_that_are_not_objects_are_skipped_and_the_rest_kept_as_flink_does() {
        let text = "{\"id\": 1, \"ts\": \"2024-01-01 00:00:00.5\"}\n\
                    not json\n\
                    [1, 2]\n\
                    {\"id\": 4, \"ts\": \"yesterday\", \"name\": 7}\n\
                    {\"id\": 5, \"addr\": {\"city\": \"Graz\", \"zip\": \"x\"}}\n\
                    {\"id\": 6} trailing words\n\
                    {\"id\": 7}{\"id\": 8}\n\
                    {\"id\": 9\n";
        for chunk in [1, 3, 100] {
            let (rows, bad) = read(text, IGNORE, chunk).unwrap();
            assert_eq!(
                rows,
                [
                    "+I[1, NULL, 2024-01-01 00:00:00.500, NULL]",
                    // The bad timestamp is NULL, the number a string.
                    "+I[4, 7, NULL, NULL]",
                    // Only the nested field that does not convert is NULL.
                    "+I[5, NULL, NULL, (Graz, NULL)]",
                    "+I[6, NULL, NULL, NULL]",
                    "+I[7, NULL, NULL, NULL]",
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
                    (2, vec![], false),
                    (3, vec![], false),
                    (4, vec!["ts".to_string()], true),
                    (5, vec!["addr".to_string()], true),
                    (8, vec![], false),
                ]
            );
            assert!(bad[0].reason.starts_with("not valid JSON"), "{:?}", bad[0]);
            assert_eq!(bad[1].reason, "not a JSON object but an array");
        }
    }

    #[test]
    fn without_ignore_the_error_names_line_and_field() {
        let text = "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3, \"name\": \"x\", \"ts\": \"never\"}\n";
        let e = read(text, ParseErrors::default(), 8192).unwrap_err();
        assert_eq!((e.line, e.fields.clone()), (3, vec!["ts".to_string()]));
        assert!(e.reason.contains("\"never\""), "{e:?}");
        let e = read("{\"id\": 1}\n\nnope\n", ParseErrors::default(), 8192).unwrap_err();
        assert_eq!((e.line, e.fields.len()), (3, 0));
    }

    #[test]
    fn only_the_array_element_that_does_not_convert_is_null() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "xs",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )]));
        let mut decoder = JsonDecoder::new(schema, IGNORE);
        let text = b"{\"xs\": [1, \"a\", 3]}\n";
        let mut bad = Vec::new();
        let spans = [Span {
            start: 0,
            end: text.len(),
            line: 1,
        }];
        let batch = decode_chunk(&mut decoder, text, &spans, &mut bad)
            .unwrap()
            .unwrap();
        let xs = batch.column(0).as_list::<i32>().value(0);
        let xs: Vec<Option<i64>> = xs.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(xs, [Some(1), None, Some(3)]);
        assert_eq!(
            (bad[0].fields.clone(), bad[0].kept),
            (vec!["xs".to_string()], true)
        );
    }

    /// Issue 15, case 5: `json.fail-on-missing-field` was ignored.
    #[test]
    fn fail_on_missing_field_names_line_and_field() {
        let fail = ParseErrors {
            ignore: false,
            fail_on_missing_field: true,
        };
        let full =
            "{\"id\": 1, \"name\": null, \"ts\": null, \"addr\": {\"city\": \"a\", \"zip\": 1}}\n";
        let (rows, _) = read(&full.repeat(3), fail, 8192).unwrap();
        assert_eq!(rows.len(), 3);
        let no_name = "{\"id\": 2, \"ts\": null, \"addr\": null}\n";
        let e = read(&format!("{full}{full}{no_name}"), fail, 8192).unwrap_err();
        assert_eq!((e.line, e.fields.clone()), (3, vec!["name".to_string()]));
        assert!(e.reason.contains("'json.fail-on-missing-field'"), "{e:?}");
        let no_zip = "{\"id\": 2, \"name\": \"b\", \"ts\": null, \"addr\": {\"city\": \"a\"}}\n";
        let e = read(&format!("{full}{no_zip}"), fail, 8192).unwrap_err();
        assert_eq!(
            (e.line, e.fields.clone()),
            (2, vec!["addr.zip".to_string()])
        );
        // Off (the default): missing fields are NULL.
        let (rows, bad) = read(no_zip, ParseErrors::default(), 8192).unwrap();
        assert_eq!(
            (rows, bad),
            (vec!["+I[2, b, NULL, (a, NULL)]".to_string()], vec![])
        );
    }
}
