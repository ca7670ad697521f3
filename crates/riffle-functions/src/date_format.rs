//! `DATE_FORMAT(value, format)`: a date-time as text, in a Java pattern.
//!
//! Flink picks the formatter by the type of `value`
//! (`StringCallGen.generateCallExpression`, `DateTimeUtils`):
//!
//! - `TIMESTAMP` / `TIMESTAMP_LTZ` → `DateTimeFormatter.ofPattern(format)`
//!   applied to the wall-clock time (for `TIMESTAMP_LTZ`, in the session zone;
//!   here, in the zone of the Arrow timestamp type);
//! - `STRING` → parsed with a lenient `SimpleDateFormat("yyyy-MM-dd HH:mm:ss")`
//!   in UTC and formatted with `SimpleDateFormat(format)`. The parse reads
//!   that prefix and ignores anything after it, so fractional seconds are
//!   dropped; text that does not parse gives NULL;
//! - `DATE` → formatted at midnight with `SimpleDateFormat(format)`.
//!
//! A NULL argument gives NULL. An invalid pattern fails the query, as Java's
//! `IllegalArgumentException` does, but only once a non-NULL row needs it.

use std::sync::Arc;

use arrow::array::StringBuilder;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::NaiveDateTime;
use datafusion_common::{Result, exec_datafusion_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{
    Arg, PatternCache, RowPatterns, Rows, StrArg, TemporalArg, check_arity, coerce_string,
    is_string,
};
use crate::java_datetime::{Dialect, JavaPattern, lenient_datetime};

const NAME: &str = "date_format";

type Compiled = Result<Arc<JavaPattern>, String>;

/// Flink's `DATE_FORMAT(timestamp | date | string, format)` → `STRING`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateFormat {
    signature: Signature,
    /// Last `DateTimeFormatter` pattern (timestamp input).
    formatter_patterns: PatternCache<Compiled>,
    /// Last `SimpleDateFormat` pattern (string and date input).
    simple_patterns: PatternCache<Compiled>,
}

impl Default for DateFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl DateFormat {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            formatter_patterns: PatternCache::default(),
            simple_patterns: PatternCache::default(),
        }
    }
}

impl ScalarUDFImpl for DateFormat {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 2..=2)?;
        let value = match &arg_types[0] {
            t @ (DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64) => t.clone(),
            DataType::Null => DataType::Timestamp(TimeUnit::Millisecond, None),
            t => coerce_string(NAME, 1, t).or_else(|_| {
                plan_err!("{NAME} expects a timestamp, date or string as argument 1, got {t}")
            })?,
        };
        Ok(vec![value, coerce_string(NAME, 2, &arg_types[1])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let [value_arg, format_arg] = Arg::all(&args.args)?
            .try_into()
            .map_err(|_| exec_datafusion_err!("{NAME} takes 2 arguments"))?;
        let formats = StrArg::new(&format_arg, NAME)?;
        let format_is_scalar = format_arg.is_scalar();
        let mut out = StringBuilder::with_capacity(rows.count, rows.count * 20);
        let mut text = String::new();

        let (dialect, values) = if is_string(value_arg.data_type()) {
            let strings = StrArg::new(&value_arg, NAME)?;
            (Dialect::SimpleDateFormat, Values::Strings(strings))
        } else {
            let dialect = match value_arg.data_type() {
                DataType::Date32 | DataType::Date64 => Dialect::SimpleDateFormat,
                _ => Dialect::DateTimeFormatter,
            };
            (
                dialect,
                Values::Temporal(TemporalArg::new(&value_arg, NAME)?),
            )
        };
        let cache = match dialect {
            Dialect::DateTimeFormatter => &self.formatter_patterns,
            Dialect::SimpleDateFormat => &self.simple_patterns,
        };
        let mut patterns = RowPatterns::new(cache);

        for row in 0..rows.count {
            let Some(format) = formats.get(row) else {
                out.append_null();
                continue;
            };
            let Some(value) = values.get(row)? else {
                out.append_null();
                continue;
            };
            let pattern = patterns
                .get(format, format_is_scalar, |f| {
                    JavaPattern::compile(f, dialect).map(Arc::new)
                })
                .map_err(|e| exec_datafusion_err!("{NAME}: invalid format '{format}': {e}"))?;
            text.clear();
            pattern
                .format(&value, &mut text)
                .map_err(|e| exec_datafusion_err!("{NAME}: cannot format with '{format}': {e}"))?;
            out.append_value(&text);
        }
        rows.finish(Arc::new(out.finish()))
    }
}

/// The first argument: text to parse, or a date-time value.
enum Values<'a> {
    Strings(StrArg<'a>),
    Temporal(TemporalArg),
}

impl Values<'_> {
    /// Row `row` as a local date-time; `None` gives NULL.
    fn get(&self, row: usize) -> Result<Option<NaiveDateTime>> {
        match self {
            Values::Strings(strings) => Ok(strings.get(row).and_then(parse_default_simple)),
            Values::Temporal(values) => values.get(row, NAME),
        }
    }
}

/// Parses `text` as Flink's `SimpleDateFormat("yyyy-MM-dd HH:mm:ss")` does:
/// leniently (out-of-range fields carry over), skipping blanks before each
/// number, and ignoring whatever follows the seconds.
fn parse_default_simple(text: &str) -> Option<NaiveDateTime> {
    let mut cursor = Cursor { text, pos: 0 };
    let year = cursor.number()?;
    cursor.literal('-')?;
    let month = cursor.number()?;
    cursor.literal('-')?;
    let day = cursor.number()?;
    cursor.literal(' ')?;
    let hour = cursor.number()?;
    cursor.literal(':')?;
    let minute = cursor.number()?;
    cursor.literal(':')?;
    let second = cursor.number()?;
    lenient_datetime(year, month, day, hour, minute, second, 0)
}

/// A read position in text parsed the `SimpleDateFormat` way.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn literal(&mut self, c: char) -> Option<()> {
        let rest = self.text.get(self.pos..)?;
        rest.starts_with(c).then(|| self.pos += c.len_utf8())
    }

    /// A number as `DecimalFormat` reads it: an optional minus sign and at
    /// least one digit, after any spaces or tabs.
    fn number(&mut self) -> Option<i64> {
        let rest = self.text.get(self.pos..)?;
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let (negative, digits_from) = match trimmed.strip_prefix('-') {
            Some(after) => (true, after),
            None => (false, trimmed),
        };
        let len = digits_from.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 18 {
            return None;
        }
        let value: i64 = digits_from.get(..len)?.parse().ok()?;
        self.pos += rest.len() - digits_from.len() + len;
        Some(if negative { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Array, ArrayRef, AsArray, Date32Array, StringViewArray, TimestampMicrosecondArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::Field;
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(args: Vec<ColumnarValue>, rows: usize) -> Result<ColumnarValue> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        DateFormat::new().invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new(NAME, DataType::Utf8, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })
    }

    fn strings(value: ColumnarValue) -> Result<Vec<Option<String>>> {
        let array = value.into_array(1)?;
        Ok(array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    fn format_lit(f: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(f.to_string())))
    }

    #[test]
    fn formats_timestamps() -> Result<()> {
        // SELECT DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm') FROM t -- ts TIMESTAMP(3)
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_709_622_489_123),
            None,
            Some(0),
        ]));
        let out = invoke(
            vec![
                ColumnarValue::Array(ts),
                format_lit("yyyy-MM-dd HH:mm:ss.SSS"),
            ],
            3,
        )?;
        assert_eq!(
            strings(out)?,
            vec![
                Some("2024-03-05 07:08:09.123".to_string()),
                None,
                Some("1970-01-01 00:00:00.000".to_string()),
            ]
        );
        Ok(())
    }

    #[test]
    fn formats_in_the_zone_of_the_type() -> Result<()> {
        // A TIMESTAMP_LTZ holds instants; it is shown in its zone.
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![Some(0_i64)]).with_timezone("Asia/Shanghai"),
        );
        let out = invoke(
            vec![ColumnarValue::Array(ts), format_lit("yyyy-MM-dd HH:mm")],
            1,
        )?;
        assert_eq!(strings(out)?, vec![Some("1970-01-01 08:00".to_string())]);
        let ts: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(vec![Some(0_i64)]).with_timezone("-05:00"));
        let out = invoke(
            vec![ColumnarValue::Array(ts), format_lit("yyyy-MM-dd HH:mm")],
            1,
        )?;
        assert_eq!(strings(out)?, vec![Some("1969-12-31 19:00".to_string())]);
        Ok(())
    }

    #[test]
    fn formats_strings_like_simple_date_format() -> Result<()> {
        // SELECT DATE_FORMAT(s, 'yyyy/MM/dd HH') FROM t -- s STRING
        let s: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("2024-03-05 07:08:09"),
            Some("2024-03-05 07:08:09.999"),
            Some("2024-13-05 07:08:09"),
            Some("2024-03-05"),
            Some("garbage"),
            None,
        ]));
        let out = invoke(
            vec![
                ColumnarValue::Array(s),
                format_lit("yyyy/MM/dd HH:mm:ss.SSS"),
            ],
            6,
        )?;
        assert_eq!(
            strings(out)?,
            vec![
                Some("2024/03/05 07:08:09.000".to_string()),
                // The fraction is not part of the parse pattern.
                Some("2024/03/05 07:08:09.000".to_string()),
                // Month 13 rolls over into the next year.
                Some("2025/01/05 07:08:09.000".to_string()),
                None,
                None,
                None,
            ]
        );
        Ok(())
    }

    #[test]
    fn formats_dates() -> Result<()> {
        let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(19_787)]));
        let out = invoke(
            vec![ColumnarValue::Array(d), format_lit("yyyyMMdd EEE HH")],
            1,
        )?;
        assert_eq!(strings(out)?, vec![Some("20240305 Tue 00".to_string())]);
        Ok(())
    }

    #[test]
    fn per_row_formats_and_scalars() -> Result<()> {
        let ts = ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            Some(1_709_622_489_123),
            None,
        ));
        let formats: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("yyyy"),
            Some("yyyy"),
            Some("HH'h'"),
            None,
        ]));
        let out = invoke(vec![ts.clone(), ColumnarValue::Array(formats)], 4)?;
        assert_eq!(
            strings(out)?,
            vec![
                Some("2024".to_string()),
                Some("2024".to_string()),
                Some("07h".to_string()),
                None
            ]
        );
        // All-scalar arguments give a scalar.
        let out = invoke(vec![ts, format_lit("MMM d")], 1)?;
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(v))) = out else {
            panic!("expected a scalar, got {out:?}");
        };
        assert_eq!(v, "Mar 5");
        Ok(())
    }

    #[test]
    fn invalid_patterns_fail_only_for_non_null_rows() -> Result<()> {
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(0_i64)]));
        let err = invoke(vec![ColumnarValue::Array(ts), format_lit("yyyy-bb")], 1).unwrap_err();
        assert!(err.to_string().contains("date_format"), "{err}");
        assert!(
            err.to_string().contains("Unknown pattern letter: b"),
            "{err}"
        );
        let nulls: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![None::<i64>]));
        let out = invoke(vec![ColumnarValue::Array(nulls), format_lit("yyyy-bb")], 1)?;
        assert_eq!(out.into_array(1)?.null_count(), 1);
        Ok(())
    }

    #[test]
    fn coerces_arguments() -> Result<()> {
        let f = DateFormat::new();
        let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        assert_eq!(
            f.coerce_types(&[ts.clone(), DataType::Utf8View])?,
            vec![ts, DataType::Utf8View]
        );
        assert_eq!(
            f.coerce_types(&[DataType::LargeUtf8, DataType::Null])?,
            vec![DataType::LargeUtf8, DataType::Utf8]
        );
        let err = f
            .coerce_types(&[DataType::Int64, DataType::Utf8])
            .unwrap_err();
        assert!(err.to_string().contains("date_format"), "{err}");
        assert!(err.to_string().contains("Int64"), "{err}");
        assert!(f.coerce_types(&[DataType::Utf8]).is_err());
        Ok(())
    }
}
