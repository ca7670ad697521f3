//! Event times of rows: a timestamp column's values in milliseconds, the
//! unit of watermarks and of the time bounds operators keep.

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, TimeUnit};

use crate::{Error, Result};

/// The values of timestamp column `col` in epoch milliseconds (finer units
/// rounded down); `what` names the column's role in the error for a column
/// of another type.
pub(crate) fn millis(col: &ArrayRef, what: &str) -> Result<Vec<Option<i64>>> {
    let scale: fn(i64) -> i64 = match col.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => |v| v.saturating_mul(1000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => |v| v,
        DataType::Timestamp(TimeUnit::Microsecond, _) => |v| v.div_euclid(1000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => |v| v.div_euclid(1_000_000),
        other => return Err(Error::Internal(format!("{what} of type {other}"))),
    };
    let raw = arrow::compute::cast(col, &DataType::Int64)?;
    let raw = raw
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| Error::Internal("a timestamp cast to no Int64Array".into()))?;
    Ok(raw.iter().map(|v| v.map(scale)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{TimestampMicrosecondArray, TimestampSecondArray};
    use std::sync::Arc;

    #[test]
    fn every_unit_comes_out_in_milliseconds() {
        let s: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(2), None]));
        assert_eq!(millis(&s, "t").unwrap(), vec![Some(2000), None]);
        let us: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![-1500, 2500]));
        assert_eq!(millis(&us, "t").unwrap(), vec![Some(-2), Some(2)]);
        let n: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert!(millis(&n, "the time column").is_err());
    }
}
