//! `TO_TIMESTAMP_LTZ(numeric[, precision])`: epoch seconds or milliseconds
//! to a `TIMESTAMP_LTZ(3)`, an instant shown in the session time zone.
//!
//! Follows Flink's `DateTimeUtils.toTimestampData(numeric, precision)`:
//!
//! - `precision` 0 reads `numeric` as seconds, 3 (the default) as
//!   milliseconds; any other precision fails the query;
//! - integers are exact; `FLOAT`/`DOUBLE`/`DECIMAL` values are scaled to
//!   milliseconds and truncated toward zero;
//! - NULL gives NULL, and so does a value whose instant is beyond the range
//!   of a millisecond timestamp (Flink returns NULL there too).
//!
//! The result is Arrow's `Timestamp(Millisecond, "UTC")`, the type Riffle
//! uses for `TIMESTAMP_LTZ(3)` columns.

use std::sync::Arc;

use arrow::array::{Array, AsArray, TimestampMillisecondBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, TimeUnit};
use datafusion_common::{Result, exec_datafusion_err, exec_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{Arg, IntArg, Rows, check_arity, coerce_integer, is_integer};

const NAME: &str = "to_timestamp_ltz";

/// Flink's `TO_TIMESTAMP_LTZ(numeric[, precision])` → `TIMESTAMP_LTZ(3)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestampLtz {
    signature: Signature,
}

impl Default for ToTimestampLtz {
    fn default() -> Self {
        Self::new()
    }
}

impl ToTimestampLtz {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToTimestampLtz {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 1..=2)?;
        let mut out = Vec::with_capacity(arg_types.len());
        out.push(match &arg_types[0] {
            t if is_integer(t) => DataType::Int64,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => DataType::Int64,
            DataType::Null => DataType::Int64,
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Decimal256(_, _) => DataType::Float64,
            other => {
                return plan_err!(
                    "{NAME} expects a number of seconds or milliseconds as argument 1, got {other}"
                );
            }
        });
        if let Some(t) = arg_types.get(1) {
            out.push(coerce_integer(NAME, 2, t)?);
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        ))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let args = Arg::all(&args.args)?;
        let Some(input) = args.first() else {
            return exec_err!("{NAME} takes 1 or 2 arguments");
        };
        let scale: i64 = match args.get(1) {
            None => 1,
            Some(p) => match IntArg::new(p, NAME)?.get(0) {
                _ if !p.is_scalar() => {
                    return exec_err!("{NAME}: the precision must be a literal 0 or 3");
                }
                Some(0) => 1000,
                Some(3) => 1,
                Some(other) => {
                    return exec_err!(
                        "{NAME}: the precision must be 0 (seconds) or 3 (milliseconds), got {other}"
                    );
                }
                None => return rows.finish(Arc::new(null_result(rows.count))),
            },
        };
        let mut out = TimestampMillisecondBuilder::with_capacity(rows.count);
        let at = |row: usize| if input.is_scalar() { 0 } else { row };
        if input.data_type() == &DataType::Float64 {
            let values = cast(input.array(), &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            for row in 0..rows.count {
                let i = at(row);
                out.append_option(
                    values
                        .is_valid(i)
                        .then(|| values.value(i) * scale as f64)
                        .filter(|ms| ms.is_finite() && ms.abs() < MAX_MILLIS as f64)
                        .map(|ms| ms.trunc() as i64),
                );
            }
        } else {
            let values = IntArg::new(input, NAME)?;
            for row in 0..rows.count {
                out.append_option(
                    values
                        .get(row)
                        .and_then(|v| v.checked_mul(scale))
                        .filter(|ms| ms.abs() < MAX_MILLIS),
                );
            }
        }
        let array = out.finish().with_timezone("UTC");
        rows.finish(Arc::new(array))
            .map_err(|e| exec_datafusion_err!("{NAME}: {e}"))
    }
}

/// The largest instant a millisecond timestamp can show (year 9999 is
/// Flink's bound; this keeps the same order of magnitude without overflow).
const MAX_MILLIS: i64 = 253_402_300_800_000;

fn null_result(rows: usize) -> arrow::array::TimestampMillisecondArray {
    let mut out = TimestampMillisecondBuilder::with_capacity(rows);
    out.append_nulls(rows);
    out.finish().with_timezone("UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, TimestampMillisecondArray};
    use datafusion_common::ScalarValue;

    fn invoke(args: Vec<ColumnarValue>, rows: usize) -> Result<ArrayRef> {
        crate::args::invoke_for_test(&ToTimestampLtz::new(), args, rows)
    }

    fn millis(a: &ArrayRef) -> Vec<Option<i64>> {
        let a = a
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(a.timezone(), Some("UTC"));
        a.iter().collect()
    }

    fn precision(p: i32) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int32(Some(p)))
    }

    #[test]
    fn integers_are_milliseconds_by_default_and_seconds_at_precision_0() {
        let values = ColumnarValue::Array(Arc::new(Int64Array::from(vec![
            Some(1_500),
            None,
            Some(-2),
        ])));
        let ms = invoke(vec![values.clone()], 3).unwrap();
        assert_eq!(millis(&ms), vec![Some(1_500), None, Some(-2)]);
        let ms = invoke(vec![values.clone(), precision(3)], 3).unwrap();
        assert_eq!(millis(&ms), vec![Some(1_500), None, Some(-2)]);
        let s = invoke(vec![values, precision(0)], 3).unwrap();
        assert_eq!(millis(&s), vec![Some(1_500_000), None, Some(-2_000)]);
    }

    #[test]
    fn fractions_truncate_and_out_of_range_is_null() {
        let values = ColumnarValue::Array(Arc::new(Float64Array::from(vec![
            1.2345,
            -0.0019,
            f64::NAN,
            1e300,
        ])));
        let s = invoke(vec![values, precision(0)], 4).unwrap();
        assert_eq!(millis(&s), vec![Some(1_234), Some(-1), None, None]);
        let big = ColumnarValue::Scalar(ScalarValue::Int64(Some(i64::MAX / 10)));
        let s = invoke(vec![big, precision(0)], 1).unwrap();
        assert_eq!(millis(&s), vec![None]);
    }

    #[test]
    fn a_bad_precision_or_argument_type_is_an_error() {
        let one = ColumnarValue::Scalar(ScalarValue::Int64(Some(1)));
        let e = invoke(vec![one, precision(6)], 1).unwrap_err();
        assert!(e.to_string().contains("0 (seconds) or 3"), "{e}");
        let e = ToTimestampLtz::new()
            .coerce_types(&[DataType::Utf8])
            .unwrap_err();
        assert!(e.to_string().contains("argument 1"), "{e}");
        assert!(
            ToTimestampLtz::new()
                .coerce_types(&[DataType::Int32, DataType::Int32, DataType::Int32])
                .is_err()
        );
    }
}
