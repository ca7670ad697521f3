//! `TO_TIMESTAMP(string[, format])`: text to a `TIMESTAMP(3)` (wall-clock
//! time, no zone).
//!
//! Follows Flink's `DateTimeUtils.parseTimestampData`, called under a
//! try/catch that turns any exception into NULL:
//!
//! - one argument: Flink's default formatter, `yyyy-[MM][M]-[dd][d]` with an
//!   optional ` [HH][H]:[mm][m]:[ss][s]` and fraction (so `2024-3-5`,
//!   `2024-03-05 07:08:09.123` and `2024-03-05 7:8:9` all parse); anything
//!   else gives NULL;
//! - two arguments: `DateTimeFormatter.ofPattern(format)` must match the whole
//!   text; if it does not, the trimmed text is retried as
//!   `java.sql.Timestamp.valueOf` (when it contains a space) or
//!   `java.sql.Date.valueOf`, both lenient about out-of-range fields; if that
//!   fails too, or the pattern is invalid, the result is NULL;
//! - fields the pattern lacks default to 1970-01-01 00:00:00; the fraction is
//!   truncated to milliseconds.
//!
//! A pattern letter Riffle cannot parse (week fields, zones, ...) fails the
//! query instead of silently giving NULL.

use std::sync::Arc;

use arrow::array::TimestampMillisecondBuilder;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::NaiveDateTime;
use datafusion_common::{Result, exec_datafusion_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{Arg, PatternCache, RowPatterns, Rows, StrArg, check_arity, coerce_string};
use crate::java_datetime::{Dialect, JavaPattern, Parsed, lenient_datetime};

const NAME: &str = "to_timestamp";

/// A compiled pattern: `Err(None)` when Java would reject it (NULL results),
/// `Err(Some(message))` when Riffle cannot parse with it (a query error).
type Compiled = Result<Arc<JavaPattern>, Option<String>>;

/// Flink's `TO_TIMESTAMP(string[, format])` → `TIMESTAMP(3)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestamp {
    signature: Signature,
    /// The last format, compiled.
    patterns: PatternCache<Compiled>,
}

impl Default for ToTimestamp {
    fn default() -> Self {
        Self::new()
    }
}

impl ToTimestamp {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            patterns: PatternCache::default(),
        }
    }
}

impl ScalarUDFImpl for ToTimestamp {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 1..=2)?;
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| coerce_string(NAME, i + 1, t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let args = Arg::all(&args.args)?;
        let Some(input) = args.first() else {
            return Err(exec_datafusion_err!("{NAME} takes 1 or 2 arguments"));
        };
        let inputs = StrArg::new(input, NAME)?;
        let mut out = TimestampMillisecondBuilder::with_capacity(rows.count);
        match args.get(1) {
            None => {
                let pattern = JavaPattern::flink_default_timestamp();
                for row in 0..rows.count {
                    let value = inputs.get(row).and_then(|s| match pattern.parse(s) {
                        Parsed::Value(dt) => Some(dt),
                        Parsed::Mismatch | Parsed::Invalid => None,
                    });
                    out.append_option(value.and_then(to_millis));
                }
            }
            Some(format_arg) => {
                let formats = StrArg::new(format_arg, NAME)?;
                let mut patterns = RowPatterns::new(&self.patterns);
                for row in 0..rows.count {
                    let (Some(s), Some(format)) = (inputs.get(row), formats.get(row)) else {
                        out.append_null();
                        continue;
                    };
                    let compiled = patterns.get(format, format_arg.is_scalar(), compile);
                    let value = match compiled {
                        Ok(pattern) => parse_with_format(&pattern, s),
                        Err(None) => None,
                        Err(Some(message)) => {
                            return Err(exec_datafusion_err!(
                                "{NAME}: format '{format}': {message}"
                            ));
                        }
                    };
                    out.append_option(value.and_then(to_millis));
                }
            }
        }
        rows.finish(Arc::new(out.finish()))
    }
}

fn compile(format: &str) -> Compiled {
    let pattern = JavaPattern::compile(format, Dialect::DateTimeFormatter).map_err(|_| None)?;
    pattern.check_parsable().map_err(Some)?;
    Ok(Arc::new(pattern))
}

fn to_millis(dt: NaiveDateTime) -> Option<i64> {
    Some(dt.and_utc().timestamp_millis())
}

/// Flink's `parseTimestampData(dateStr, format)`.
fn parse_with_format(pattern: &JavaPattern, s: &str) -> Option<NaiveDateTime> {
    match pattern.parse(s) {
        Parsed::Value(dt) => Some(dt),
        Parsed::Invalid => None,
        Parsed::Mismatch => {
            // Flink falls back to the JDBC formats, for '1999-9-10 05:20:10'.
            let s = java_trim(s);
            if s.contains(' ') {
                sql_timestamp_value_of(s)
            } else {
                sql_date_value_of(s)
            }
        }
    }
}

/// Java's `String.trim`: strips characters up to U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `Integer.parseInt`: an optional sign and ASCII digits, in range.
fn java_parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = i32::try_from(s.parse::<i64>().ok()?).ok()?;
    Some(i64::from(value))
}

/// `java.sql.Timestamp.valueOf`: `yyyy-[m]m-[d]d hh:mm:ss[.f...]`, built
/// leniently (out-of-range hours, minutes and so on carry over).
fn sql_timestamp_value_of(s: &str) -> Option<NaiveDateTime> {
    let s = java_trim(s);
    let (date, time) = s.split_once(' ')?;
    if date.is_empty() {
        return None;
    }
    let (year, month, day) = split_sql_date(date)?;

    let first_colon = time.find(':')?;
    let second_colon = first_colon + 1 + time.get(first_colon + 1..)?.find(':')?;
    if first_colon == 0 || second_colon >= time.len() - 1 {
        return None;
    }
    let hour = java_parse_int(time.get(..first_colon)?)?;
    let minute = java_parse_int(time.get(first_colon + 1..second_colon)?)?;
    let after_seconds = time.get(second_colon + 1..)?;
    let (second, nano) = match after_seconds.find('.') {
        Some(dot) if dot + 1 < after_seconds.len() => {
            let fraction = after_seconds.get(dot + 1..)?;
            if fraction.len() > 9 || !fraction.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            let digits = u32::try_from(fraction.len()).ok()?;
            let nano = java_parse_int(fraction)? * 10_i64.checked_pow(9 - digits)?;
            (java_parse_int(after_seconds.get(..dot)?)?, nano)
        }
        Some(_) => return None,
        None => (java_parse_int(after_seconds)?, 0),
    };
    lenient_datetime(year, month, day, hour, minute, second, nano)
}

/// `java.sql.Date.valueOf`: `yyyy-[m]m-[d]d` at midnight, built leniently.
fn sql_date_value_of(s: &str) -> Option<NaiveDateTime> {
    let (year, month, day) = split_sql_date(s)?;
    lenient_datetime(year, month, day, 0, 0, 0, 0)
}

/// The year, month and day of a JDBC date, `yyyy-[m]m-[d]d`, each read by
/// `Integer.parseInt`, with month and day checked against 1..=12 and 1..=31.
fn split_sql_date(date: &str) -> Option<(i64, i64, i64)> {
    let (year, rest) = date.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let lengths_ok =
        year.len() == 4 && (1..=2).contains(&month.len()) && (1..=2).contains(&day.len());
    if !lengths_ok {
        return None;
    }
    let (year, month, day) = (
        java_parse_int(year)?,
        java_parse_int(month)?,
        java_parse_int(day)?,
    );
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use arrow::datatypes::{Field, TimestampMillisecondType};
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(f: &ToTimestamp, args: Vec<ColumnarValue>, rows: usize) -> Result<ArrayRef> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        f.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new(
                NAME,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            )),
            config_options: Arc::new(ConfigOptions::default()),
        })?
        .into_array(rows)
    }

    fn utf8(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_string())))
    }

    /// The result as `yyyy-MM-dd HH:mm:ss.SSS`, or `None`.
    fn one(args: Vec<ColumnarValue>) -> Result<Option<String>> {
        let out = invoke(&ToTimestamp::new(), args, 1)?;
        let out = out.as_primitive::<TimestampMillisecondType>();
        Ok(out.is_valid(0).then(|| {
            out.value_as_datetime(0)
                .map(|dt| dt.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_default()
        }))
    }

    #[test]
    fn default_format() -> Result<()> {
        // TO_TIMESTAMP('2024-03-05 07:08:09.123456')
        assert_eq!(
            one(vec![utf8("2024-03-05 07:08:09.123456")])?.as_deref(),
            Some("2024-03-05 07:08:09.123")
        );
        assert_eq!(
            one(vec![utf8("2024-3-5 7:8:9")])?.as_deref(),
            Some("2024-03-05 07:08:09.000")
        );
        assert_eq!(
            one(vec![utf8("2024-03-05")])?.as_deref(),
            Some("2024-03-05 00:00:00.000")
        );
        assert_eq!(one(vec![utf8("2024-03-05T07:08:09")])?, None);
        assert_eq!(one(vec![utf8("not a date")])?, None);
        assert_eq!(
            one(vec![ColumnarValue::Scalar(ScalarValue::Utf8(None))])?,
            None
        );
        Ok(())
    }

    #[test]
    fn with_format() -> Result<()> {
        assert_eq!(
            one(vec![utf8("05/03/2024 19:08"), utf8("dd/MM/yyyy HH:mm")])?.as_deref(),
            Some("2024-03-05 19:08:00.000")
        );
        assert_eq!(
            one(vec![utf8("20240305"), utf8("yyyyMMdd")])?.as_deref(),
            Some("2024-03-05 00:00:00.000")
        );
        assert_eq!(
            one(vec![
                utf8("Mar 5, 2024 7:08:09 PM"),
                utf8("MMM d, yyyy h:mm:ss a")
            ])?
            .as_deref(),
            Some("2024-03-05 19:08:09.000")
        );
        Ok(())
    }

    #[test]
    fn falls_back_to_jdbc_formats() -> Result<()> {
        // Flink's own example: '1999-9-10 05:20:10' with a non-matching format.
        assert_eq!(
            one(vec![
                utf8("1999-9-10 05:20:10"),
                utf8("yyyy-MM-dd HH:mm:ss")
            ])?
            .as_deref(),
            Some("1999-09-10 05:20:10.000")
        );
        assert_eq!(
            one(vec![utf8(" 1999-9-10 "), utf8("yyyy/MM/dd")])?.as_deref(),
            Some("1999-09-10 00:00:00.000")
        );
        // The JDBC formats are lenient.
        assert_eq!(
            one(vec![utf8("2023-02-30 25:00:00.5"), utf8("yyyy")])?.as_deref(),
            Some("2023-03-03 01:00:00.500")
        );
        assert_eq!(one(vec![utf8("2023-13-01"), utf8("yyyy")])?, None);
        assert_eq!(one(vec![utf8("garbage"), utf8("yyyy")])?, None);
        Ok(())
    }

    #[test]
    fn invalid_and_unsupported_formats() -> Result<()> {
        // Java rejects the pattern: NULL, as Flink catches the exception.
        assert_eq!(one(vec![utf8("2024"), utf8("yyyy-bb")])?, None);
        // A valid pattern Riffle cannot parse with fails the query.
        let err = one(vec![utf8("2024-10"), utf8("YYYY-ww")]).unwrap_err();
        assert!(err.to_string().contains("to_timestamp"), "{err}");
        assert!(err.to_string().contains("'YYYY' is not supported"), "{err}");
        Ok(())
    }

    #[test]
    fn per_row_formats() -> Result<()> {
        let inputs: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2024"),
            Some("03:04"),
            None,
            Some("2024-03-05"),
        ]));
        let formats: ArrayRef = Arc::new(StringArray::from(vec![
            Some("yyyy"),
            Some("HH:mm"),
            Some("yyyy"),
            None,
        ]));
        let out = invoke(
            &ToTimestamp::new(),
            vec![ColumnarValue::Array(inputs), ColumnarValue::Array(formats)],
            4,
        )?;
        let out = out.as_primitive::<TimestampMillisecondType>();
        assert_eq!(out.value(0), 1_704_067_200_000);
        assert_eq!(out.value(1), (3 * 60 + 4) * 60 * 1000);
        assert!(out.is_null(2));
        assert!(out.is_null(3));
        Ok(())
    }

    #[test]
    fn coerces_strings() -> Result<()> {
        let f = ToTimestamp::new();
        assert_eq!(
            f.coerce_types(&[DataType::Utf8View])?,
            vec![DataType::Utf8View]
        );
        let err = f.coerce_types(&[DataType::Int64]).unwrap_err();
        assert!(err.to_string().contains("to_timestamp"), "{err}");
        assert!(f.coerce_types(&[]).is_err());
        Ok(())
    }
}
