//! The current-time functions: `CURRENT_TIMESTAMP`, `NOW()`,
//! `CURRENT_ROW_TIMESTAMP()`, `LOCALTIMESTAMP`, `CURRENT_DATE`,
//! `CURRENT_TIME` and `LOCALTIME`.
//!
//! Flink evaluates them per record in streaming mode (only batch mode
//! evaluates them once, at query start). DataFusion's own `now()`,
//! `current_date()` and `current_time()` are "stable": its simplifier folds
//! them into the instant planning started, so a job's timestamps froze at
//! submission and windows over them never fired. These are volatile, so no
//! optimizer folds them, and each evaluation reads the wall clock. As with
//! `PROCTIME()`, the rows of one batch share one instant.
//!
//! Result types and time zones, as in Flink:
//!
//! | function | type | value |
//! | --- | --- | --- |
//! | `CURRENT_TIMESTAMP`, `NOW()`, `CURRENT_ROW_TIMESTAMP()` | `TIMESTAMP_LTZ(3) NOT NULL` | the instant |
//! | `LOCALTIMESTAMP` | `TIMESTAMP(3) NOT NULL` | wall-clock time in the session time zone |
//! | `CURRENT_DATE` | `DATE NOT NULL` | today in the session time zone |
//! | `CURRENT_TIME`, `LOCALTIME` | `TIME(0) NOT NULL` | time of day in the session time zone, whole seconds |
//!
//! The session time zone (`table.local-time-zone`, a fixed offset) is part
//! of each function built by [`current_time_functions`]; the planner builds
//! them again when a script changes it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Time32MillisecondArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{Result, exec_err};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::proctime::now_ms;

const MS_PER_DAY: i64 = 86_400_000;

/// Which current-time value a function produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurrentTimeKind {
    /// `CURRENT_TIMESTAMP` / `NOW()` / `CURRENT_ROW_TIMESTAMP()`: the instant.
    Timestamp,
    /// `LOCALTIMESTAMP`: the local wall-clock time.
    LocalTimestamp,
    /// `CURRENT_DATE`: the local date.
    Date,
    /// `CURRENT_TIME` / `LOCALTIME`: the local time of day.
    Time,
}

impl CurrentTimeKind {
    /// Every kind.
    pub const ALL: [CurrentTimeKind; 4] = [
        CurrentTimeKind::Timestamp,
        CurrentTimeKind::LocalTimestamp,
        CurrentTimeKind::Date,
        CurrentTimeKind::Time,
    ];

    fn name(self) -> &'static str {
        match self {
            CurrentTimeKind::Timestamp => "current_timestamp",
            CurrentTimeKind::LocalTimestamp => "localtimestamp",
            CurrentTimeKind::Date => "current_date",
            CurrentTimeKind::Time => "current_time",
        }
    }

    fn aliases(self) -> &'static [String] {
        static TIMESTAMP: std::sync::LazyLock<[String; 2]> =
            std::sync::LazyLock::new(|| ["now".into(), "current_row_timestamp".into()]);
        static TIME: std::sync::LazyLock<[String; 1]> =
            std::sync::LazyLock::new(|| ["localtime".into()]);
        match self {
            CurrentTimeKind::Timestamp => TIMESTAMP.as_slice(),
            CurrentTimeKind::Time => TIME.as_slice(),
            CurrentTimeKind::LocalTimestamp | CurrentTimeKind::Date => &[],
        }
    }

    fn data_type(self) -> DataType {
        match self {
            CurrentTimeKind::Timestamp => {
                DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
            }
            CurrentTimeKind::LocalTimestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            CurrentTimeKind::Date => DataType::Date32,
            CurrentTimeKind::Time => DataType::Time32(TimeUnit::Millisecond),
        }
    }

    /// The value at instant `now_ms` (epoch milliseconds) in a time zone
    /// `offset_ms` from UTC: milliseconds for the timestamps, days since
    /// the epoch for the date, milliseconds since midnight (whole seconds,
    /// as `TIME(0)`) for the time.
    pub fn value_at(self, now_ms: i64, offset_ms: i64) -> i64 {
        let local = now_ms.saturating_add(offset_ms);
        match self {
            CurrentTimeKind::Timestamp => now_ms,
            CurrentTimeKind::LocalTimestamp => local,
            CurrentTimeKind::Date => local.div_euclid(MS_PER_DAY),
            CurrentTimeKind::Time => local.rem_euclid(MS_PER_DAY) / 1000 * 1000,
        }
    }

    fn array(self, value: i64, rows: usize) -> ArrayRef {
        // Dates and times of day fit in 32 bits by construction (days
        // since 1970 for any clock a machine has; ms below 86,400,000).
        let narrow = i32::try_from(value).unwrap_or(i32::MAX);
        match self {
            CurrentTimeKind::Timestamp => {
                Arc::new(TimestampMillisecondArray::from_value(value, rows).with_timezone("UTC"))
            }
            CurrentTimeKind::LocalTimestamp => {
                Arc::new(TimestampMillisecondArray::from_value(value, rows))
            }
            CurrentTimeKind::Date => Arc::new(Date32Array::from_value(narrow, rows)),
            CurrentTimeKind::Time => Arc::new(Time32MillisecondArray::from_value(narrow, rows)),
        }
    }
}

/// One current-time function, in one session time zone.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CurrentTime {
    kind: CurrentTimeKind,
    /// `table.local-time-zone` as an offset from UTC, in milliseconds.
    offset_ms: i64,
    signature: Signature,
}

impl CurrentTime {
    /// The function of `kind` for a session `offset_ms` from UTC.
    pub fn new(kind: CurrentTimeKind, offset_ms: i64) -> Self {
        Self {
            kind,
            offset_ms,
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for CurrentTime {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn aliases(&self) -> &[String] {
        self.kind.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.kind.data_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.is_empty() {
            return exec_err!("{}() takes no arguments", self.kind.name().to_uppercase());
        }
        let value = self.kind.value_at(now_ms(), self.offset_ms);
        Ok(ColumnarValue::Array(
            self.kind.array(value, args.number_rows),
        ))
    }
}

/// Every current-time function for a session `offset_ms` from UTC, to
/// register after DataFusion's defaults (they replace its folded `now`,
/// `current_date` and `current_time`).
pub fn current_time_functions(offset_ms: i64) -> Vec<Arc<ScalarUDF>> {
    CurrentTimeKind::ALL
        .into_iter()
        .map(|kind| Arc::new(ScalarUDF::new_from_impl(CurrentTime::new(kind, offset_ms))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Field;

    /// 2024-03-01 23:30:15.250 UTC.
    const INSTANT: i64 = 1_709_335_815_250;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn values_follow_the_session_time_zone() {
        use CurrentTimeKind::*;
        // The instant does not depend on the zone.
        assert_eq!(Timestamp.value_at(INSTANT, 8 * HOUR), INSTANT);
        assert_eq!(LocalTimestamp.value_at(INSTANT, 0), INSTANT);
        assert_eq!(
            LocalTimestamp.value_at(INSTANT, 8 * HOUR),
            INSTANT + 8 * HOUR
        );
        // 2024-03-01 is day 19783; at +08:00 it is already 2024-03-02.
        assert_eq!(Date.value_at(INSTANT, 0), 19_783);
        assert_eq!(Date.value_at(INSTANT, 8 * HOUR), 19_784);
        // Before 1970 the day is still the floor, not rounded to zero.
        assert_eq!(Date.value_at(-1, 0), -1);
        // 23:30:15 (TIME(0) drops the milliseconds); 07:30:15 at +08:00,
        // 18:30:15 at -05:00.
        assert_eq!(Time.value_at(INSTANT, 0), (23 * 3600 + 30 * 60 + 15) * 1000);
        assert_eq!(
            Time.value_at(INSTANT, 8 * HOUR),
            (7 * 3600 + 30 * 60 + 15) * 1000
        );
        assert_eq!(
            Time.value_at(INSTANT, -5 * HOUR),
            (18 * 3600 + 30 * 60 + 15) * 1000
        );
    }

    #[test]
    fn functions_are_volatile_with_flink_names_and_types() -> Result<()> {
        let functions = current_time_functions(0);
        let mut names: Vec<String> = Vec::new();
        for f in &functions {
            assert_eq!(
                f.signature().volatility,
                Volatility::Volatile,
                "{}",
                f.name()
            );
            names.push(f.name().to_string());
            names.extend(f.aliases().iter().cloned());
            let out = f.invoke_with_args(ScalarFunctionArgs {
                args: vec![],
                arg_fields: vec![],
                number_rows: 2,
                return_field: Arc::new(Field::new("t", f.return_type(&[])?, false)),
                config_options: Arc::new(Default::default()),
            })?;
            let ColumnarValue::Array(a) = out else {
                panic!("{}: expected an array", f.name())
            };
            assert_eq!((a.len(), a.data_type()), (2, &f.return_type(&[])?));
        }
        names.sort();
        assert_eq!(
            names,
            [
                "current_date",
                "current_row_timestamp",
                "current_time",
                "current_timestamp",
                "localtime",
                "localtimestamp",
                "now"
            ]
        );
        Ok(())
    }
}
