//! `YEAR`, `QUARTER`, `MONTH`, `WEEK`, `DAYOFYEAR`, `DAYOFMONTH`, `DAYOFWEEK`,
//! `HOUR`, `MINUTE`, `SECOND`: one field of a date-time, as `BIGINT`.
//!
//! Each is Flink's shorthand for `EXTRACT(<part> FROM value)`, and like
//! `EXTRACT` returns `BIGINT`. The date parts take a `DATE` or a timestamp,
//! the time parts a `TIME` or a timestamp. A timestamp with a time zone (Flink's
//! `TIMESTAMP_LTZ`) is read in that zone. `WEEK` is the ISO-8601 week (1..53),
//! `DAYOFWEEK` counts from Sunday = 1 to Saturday = 7, `SECOND` drops the
//! fraction. NULL in, NULL out.
//!
//! The ten functions differ only in the field they read, so they share one
//! implementation, [`DatePartFunc`], parameterised by [`DatePart`].

use std::sync::Arc;

use arrow::array::Int64Builder;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion_common::{Result, exec_datafusion_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{Arg, Rows, TemporalArg, check_arity};

/// The field a [`DatePartFunc`] extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePart {
    /// `YEAR(date)`.
    Year,
    /// `QUARTER(date)`, 1..4.
    Quarter,
    /// `MONTH(date)`, 1..12.
    Month,
    /// `WEEK(date)`, the ISO-8601 week of the year, 1..53.
    Week,
    /// `DAYOFYEAR(date)`, 1..366.
    DayOfYear,
    /// `DAYOFMONTH(date)`, 1..31.
    DayOfMonth,
    /// `DAYOFWEEK(date)`, Sunday = 1 .. Saturday = 7.
    DayOfWeek,
    /// `HOUR(timestamp)`, 0..23.
    Hour,
    /// `MINUTE(timestamp)`, 0..59.
    Minute,
    /// `SECOND(timestamp)`, 0..59.
    Second,
}

impl DatePart {
    /// Every part, in the order the functions are registered.
    pub const ALL: [DatePart; 10] = [
        DatePart::Year,
        DatePart::Quarter,
        DatePart::Month,
        DatePart::Week,
        DatePart::DayOfYear,
        DatePart::DayOfMonth,
        DatePart::DayOfWeek,
        DatePart::Hour,
        DatePart::Minute,
        DatePart::Second,
    ];

    /// The SQL function name.
    pub fn function_name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Quarter => "quarter",
            DatePart::Month => "month",
            DatePart::Week => "week",
            DatePart::DayOfYear => "dayofyear",
            DatePart::DayOfMonth => "dayofmonth",
            DatePart::DayOfWeek => "dayofweek",
            DatePart::Hour => "hour",
            DatePart::Minute => "minute",
            DatePart::Second => "second",
        }
    }

    fn is_time_of_day(self) -> bool {
        matches!(self, DatePart::Hour | DatePart::Minute | DatePart::Second)
    }

    fn extract(self, dt: &NaiveDateTime) -> i64 {
        let value = match self {
            DatePart::Year => return i64::from(dt.year()),
            DatePart::Quarter => dt.month0() / 3 + 1,
            DatePart::Month => dt.month(),
            DatePart::Week => dt.iso_week().week(),
            DatePart::DayOfYear => dt.ordinal(),
            DatePart::DayOfMonth => dt.day(),
            DatePart::DayOfWeek => dt.weekday().number_from_sunday(),
            DatePart::Hour => dt.hour(),
            DatePart::Minute => dt.minute(),
            DatePart::Second => dt.second(),
        };
        i64::from(value)
    }
}

/// One of Flink's date-part functions, `HOUR(ts)` etc. → `BIGINT`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatePartFunc {
    part: DatePart,
    signature: Signature,
}

impl DatePartFunc {
    /// Creates the function for `part`.
    pub fn new(part: DatePart) -> Self {
        Self {
            part,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DatePartFunc {
    fn name(&self) -> &str {
        self.part.function_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        check_arity(name, arg_types, 1..=1)?;
        let t = &arg_types[0];
        let accepted = match t {
            DataType::Timestamp(_, _) => true,
            DataType::Date32 | DataType::Date64 => !self.part.is_time_of_day(),
            DataType::Time32(_) | DataType::Time64(_) => self.part.is_time_of_day(),
            DataType::Null => {
                return Ok(vec![DataType::Timestamp(TimeUnit::Millisecond, None)]);
            }
            _ => false,
        };
        if !accepted {
            let expected = if self.part.is_time_of_day() {
                "a time or timestamp"
            } else {
                "a date or timestamp"
            };
            return plan_err!("{name} expects {expected}, got {t}");
        }
        Ok(vec![t.clone()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name();
        let rows = Rows::of(&args.args, args.number_rows);
        let arg = Arg::all(&args.args)?
            .into_iter()
            .next()
            .ok_or_else(|| exec_datafusion_err!("{name} takes 1 argument"))?;
        let values = TemporalArg::new(&arg, name)?;
        let mut out = Int64Builder::with_capacity(rows.count);
        for row in 0..rows.count {
            out.append_option(values.get(row, name)?.map(|dt| self.part.extract(&dt)));
        }
        rows.finish(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        ArrayRef, AsArray, Date32Array, Time64MicrosecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::{Field, Int64Type};
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(part: DatePart, arg: ColumnarValue, rows: usize) -> Result<Vec<Option<i64>>> {
        let field = Arc::new(Field::new("a", arg.data_type(), true));
        let out = DatePartFunc::new(part).invoke_with_args(ScalarFunctionArgs {
            args: vec![arg],
            arg_fields: vec![field],
            number_rows: rows,
            return_field: Arc::new(Field::new("r", DataType::Int64, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        Ok(out
            .into_array(1)?
            .as_primitive::<Int64Type>()
            .iter()
            .collect())
    }

    #[test]
    fn extracts_each_part() -> Result<()> {
        // 2024-03-05 07:08:09 is a Tuesday, ISO week 10, day 65 of the year.
        let ts = || {
            ColumnarValue::Array(Arc::new(TimestampSecondArray::from(vec![
                Some(1_709_622_489),
                None,
            ])) as ArrayRef)
        };
        let expected = [
            (DatePart::Year, 2024),
            (DatePart::Quarter, 1),
            (DatePart::Month, 3),
            (DatePart::Week, 10),
            (DatePart::DayOfYear, 65),
            (DatePart::DayOfMonth, 5),
            (DatePart::DayOfWeek, 3),
            (DatePart::Hour, 7),
            (DatePart::Minute, 8),
            (DatePart::Second, 9),
        ];
        for (part, value) in expected {
            assert_eq!(invoke(part, ts(), 2)?, vec![Some(value), None], "{part:?}");
        }
        Ok(())
    }

    #[test]
    fn reads_zoned_timestamps_in_their_zone() -> Result<()> {
        let ts = ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            Some(0),
            Some("Asia/Kolkata".into()),
        ));
        assert_eq!(invoke(DatePart::Hour, ts.clone(), 1)?, vec![Some(5)]);
        assert_eq!(invoke(DatePart::Minute, ts, 1)?, vec![Some(30)]);
        Ok(())
    }

    #[test]
    fn reads_dates_and_times() -> Result<()> {
        // 2024-03-10 is a Sunday.
        let d = ColumnarValue::Array(Arc::new(Date32Array::from(vec![19_792])) as ArrayRef);
        assert_eq!(invoke(DatePart::DayOfWeek, d, 1)?, vec![Some(1)]);
        let t = ColumnarValue::Array(
            Arc::new(Time64MicrosecondArray::from(vec![45_296_500_000])) as ArrayRef
        );
        assert_eq!(invoke(DatePart::Second, t, 1)?, vec![Some(56)]);
        Ok(())
    }

    #[test]
    fn coerces_by_part() -> Result<()> {
        let hour = DatePartFunc::new(DatePart::Hour);
        let year = DatePartFunc::new(DatePart::Year);
        let time = DataType::Time32(TimeUnit::Second);
        assert_eq!(
            hour.coerce_types(std::slice::from_ref(&time))?,
            vec![time.clone()]
        );
        let err = year.coerce_types(&[time]).unwrap_err();
        assert!(
            err.to_string().contains("year expects a date or timestamp"),
            "{err}"
        );
        let err = hour.coerce_types(&[DataType::Date32]).unwrap_err();
        assert!(err.to_string().contains("hour"), "{err}");
        assert!(hour.coerce_types(&[DataType::Utf8]).is_err());
        assert_eq!(hour.return_type(&[DataType::Date32])?, DataType::Int64);
        Ok(())
    }
}
