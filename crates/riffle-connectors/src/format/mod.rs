//! Row formats: how values are written as text (Flink's print row format,
//! Flink's JSON format, CSV) and how JSON and CSV files are decoded
//! ([`records`] cuts files into records and drives the decoders of
//! [`json`] and [`csv`], with Flink's handling of records that do not parse).
//!
//! Writing goes value by value through [`write_value`], which follows Flink's
//! spelling of each type: timestamps as `yyyy-MM-dd HH:mm:ss.SSS`, decimals in
//! plain notation with their scale, nested rows as JSON objects (JSON) or
//! `(a, b)` (print), `NULL` / `null` for missing values.

pub mod csv;
pub mod json;
pub mod records;

use std::fmt::Write;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use riffle_common::time::format_timestamp_ms;

/// Which text format a value is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Flink's `print` connector (`RowData` to string): `NULL`, plain strings.
    Print,
    /// Flink's JSON format: quoted strings, `null`, objects for rows.
    Json,
    /// CSV: plain values, quoted when needed, empty for NULL.
    Csv,
    /// JSON with exact decimals as strings (`"908.000"`): the changelog tap,
    /// compared value by value with Flink's results.
    Canonical,
}

/// Appends the value at `row` of `array` to `out`.
pub fn write_value(array: &dyn Array, row: usize, style: Style, out: &mut String) {
    if array.is_null(row) {
        match style {
            Style::Print => out.push_str("NULL"),
            Style::Json | Style::Canonical => out.push_str("null"),
            Style::Csv => {}
        }
        return;
    }
    macro_rules! prim {
        ($t:ty) => {{
            let _ = write!(out, "{}", array.as_primitive::<$t>().value(row));
        }};
    }
    match array.data_type() {
        DataType::Boolean => {
            let v = array.as_boolean().value(row);
            out.push_str(if v { "true" } else { "false" });
        }
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => write_float(
            array.as_primitive::<Float32Type>().value(row) as f64,
            style,
            out,
        ),
        DataType::Float64 => {
            write_float(array.as_primitive::<Float64Type>().value(row), style, out)
        }
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            let text = format_decimal(v, *scale);
            if style == Style::Canonical {
                write_json_string(&text, out);
            } else {
                // Flink's JSON format writes DECIMAL as a plain JSON number.
                out.push_str(&text);
            }
        }
        DataType::Utf8 => write_str(array.as_string::<i32>().value(row), style, out),
        DataType::LargeUtf8 => write_str(array.as_string::<i64>().value(row), style, out),
        DataType::Utf8View => write_str(array.as_string_view().value(row), style, out),
        DataType::Date32 => {
            let d = array.as_primitive::<Date32Type>().value(row) as i64;
            let mut s = String::new();
            format_timestamp_ms(d * 86_400_000, &mut s);
            s.truncate(10);
            write_quoted(&s, style, out);
        }
        DataType::Timestamp(unit, tz) => {
            let ms = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row) * 1000,
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(row)
                    .div_euclid(1000),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value(row)
                    .div_euclid(1_000_000),
            };
            let mut s = String::new();
            format_timestamp_ms(ms, &mut s);
            if tz.is_some() && style == Style::Json {
                s.push('Z');
            }
            write_quoted(&s, style, out);
        }
        DataType::Struct(fields) => {
            let st = array.as_struct();
            match style {
                Style::Json | Style::Canonical => {
                    out.push('{');
                    for (i, f) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_json_string(f.name(), out);
                        out.push(':');
                        write_value(st.column(i).as_ref(), row, style, out);
                    }
                    out.push('}');
                }
                _ => {
                    out.push('(');
                    for i in 0..fields.len() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        write_value(st.column(i).as_ref(), row, style, out);
                    }
                    out.push(')');
                }
            }
        }
        _ => {
            let text = arrow::util::display::array_value_to_string(array, row)
                .unwrap_or_else(|_| "?".to_string());
            write_quoted(&text, style, out);
        }
    }
}

fn write_float(v: f64, style: Style, out: &mut String) {
    if matches!(style, Style::Json | Style::Canonical) && !v.is_finite() {
        write_json_string(&v.to_string(), out);
    } else if v.fract() == 0.0 && v.abs() < 1e16 {
        let _ = write!(out, "{v:.1}");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn write_str(s: &str, style: Style, out: &mut String) {
    match style {
        Style::Print => out.push_str(s),
        Style::Json | Style::Canonical => write_json_string(s, out),
        Style::Csv => write_csv_field(s, out),
    }
}

fn write_quoted(s: &str, style: Style, out: &mut String) {
    write_str(s, style, out)
}

/// Formats an unscaled decimal in plain notation with `scale` fraction digits.
pub fn format_decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = v.to_string();
        for _ in 0..(-scale) {
            s.push('0');
        }
        return s;
    }
    let scale = scale as usize;
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let padded = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{}.{}", if neg { "-" } else { "" }, int, frac)
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `s` as a CSV field, quoted if it holds a separator, a quote or
/// a line break.
pub fn write_csv_field(s: &str, out: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Writes row `row` of a batch as Flink's print format body: `+I[a, b, c]`.
pub fn write_print_row(
    batch: &arrow::record_batch::RecordBatch,
    row: usize,
    kind: riffle_common::RowKind,
    out: &mut String,
) {
    out.push_str(kind.short_string());
    out.push('[');
    for (i, col) in batch.columns().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(col.as_ref(), row, Style::Print, out);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_scale() {
        assert_eq!(format_decimal(908_000, 3), "908.000");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(12, 0), "12");
    }

    #[test]
    fn json_escapes() {
        let mut s = String::new();
        write_json_string("a\"b\\c\n", &mut s);
        assert_eq!(s, r#""a\"b\\c\n""#);
    }
}
