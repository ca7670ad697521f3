//! Argument plumbing shared by every function in this crate.
//!
//! DataFusion hands a function either arrays (one value per row) or scalars
//! (one value for the whole batch). The types here hide that difference: an
//! [`Arg`] turns a scalar into a one-row array that is always read at row 0, and
//! the typed views ([`StrArg`], [`IntArg`], [`TemporalArg`]) are downcast once per
//! batch, so the per-row loops stay free of type dispatch. When every argument
//! is a scalar the function computes a single row and returns a scalar
//! ([`Rows`]).
//!
//! The `coerce_*` helpers implement the argument half of each function's
//! `coerce_types`: they accept the Arrow types Flink would accept for that
//! parameter and name the function and the offending type otherwise.

use std::hash::{Hash, Hasher};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, LargeStringArray, LargeStringBuilder, StringArray,
    StringBuilder, StringViewArray, StringViewBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use datafusion_common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion_expr::ColumnarValue;

/// One argument as an array; a scalar becomes a one-row array read at row 0.
pub(crate) struct Arg {
    /// The values; one row when `scalar` is set.
    array: ArrayRef,
    /// Whether the argument was a scalar, i.e. the same value for every row.
    scalar: bool,
}

impl Arg {
    pub(crate) fn new(value: &ColumnarValue) -> Result<Self> {
        match value {
            ColumnarValue::Array(array) => Ok(Self {
                array: Arc::clone(array),
                scalar: false,
            }),
            ColumnarValue::Scalar(value) => Ok(Self {
                array: value.to_array_of_size(1)?,
                scalar: true,
            }),
        }
    }

    /// Converts all arguments of one call.
    pub(crate) fn all(values: &[ColumnarValue]) -> Result<Vec<Self>> {
        values.iter().map(Self::new).collect()
    }

    pub(crate) fn array(&self) -> &ArrayRef {
        &self.array
    }

    pub(crate) fn data_type(&self) -> &DataType {
        self.array.data_type()
    }

    pub(crate) fn is_scalar(&self) -> bool {
        self.scalar
    }
}

/// How many rows a call computes, and whether its result is a scalar.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows {
    /// Rows to compute: 1 when every argument is a scalar.
    pub(crate) count: usize,
    /// Whether every argument is a scalar, so the result is one too.
    pub(crate) scalar: bool,
}

impl Rows {
    pub(crate) fn of(args: &[ColumnarValue], number_rows: usize) -> Self {
        let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        Self {
            count: if scalar { 1 } else { number_rows },
            scalar,
        }
    }

    /// Wraps the computed array as the call's result.
    pub(crate) fn finish(self, array: ArrayRef) -> Result<ColumnarValue> {
        if self.scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &array, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}

/// A string argument of any Arrow string encoding.
pub(crate) struct StrArg<'a> {
    values: StrValues<'a>,
    scalar: bool,
}

enum StrValues<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrArg<'a> {
    pub(crate) fn new(arg: &'a Arg, function: &str) -> Result<Self> {
        let values = match arg.array.data_type() {
            DataType::Utf8 => StrValues::Utf8(arg.array.as_string::<i32>()),
            DataType::LargeUtf8 => StrValues::Large(arg.array.as_string::<i64>()),
            DataType::Utf8View => StrValues::View(arg.array.as_string_view()),
            other => return exec_err!("{function}: expected a string argument, got {other}"),
        };
        Ok(Self {
            values,
            scalar: arg.scalar,
        })
    }

    pub(crate) fn get(&self, row: usize) -> Option<&'a str> {
        let i = if self.scalar { 0 } else { row };
        match self.values {
            StrValues::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            StrValues::Large(a) => a.is_valid(i).then(|| a.value(i)),
            StrValues::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// An integer argument of any signed width, read as `i64`.
pub(crate) struct IntArg {
    values: Int64Array,
    scalar: bool,
}

impl IntArg {
    pub(crate) fn new(arg: &Arg, function: &str) -> Result<Self> {
        if !is_integer(arg.data_type()) {
            return exec_err!(
                "{function}: expected an integer argument, got {}",
                arg.data_type()
            );
        }
        let values = cast(&arg.array, &DataType::Int64)?.as_primitive().clone();
        Ok(Self {
            values,
            scalar: arg.scalar,
        })
    }

    pub(crate) fn get(&self, row: usize) -> Option<i64> {
        let i = if self.scalar { 0 } else { row };
        self.values.is_valid(i).then(|| self.values.value(i))
    }
}

/// A date, time or timestamp argument, read as local wall-clock time.
///
/// A timestamp without a time zone is already wall-clock time; one with a time
/// zone holds UTC instants and is shown in that zone (Flink's
/// `TIMESTAMP_LTZ` in the session zone). A date reads as its midnight, a time
/// of day as that time on 1970-01-01.
pub(crate) struct TemporalArg {
    kind: TemporalKind,
    values: Int64Array,
    zone: Option<Tz>,
    scalar: bool,
}

#[derive(Debug, Clone, Copy)]
enum TemporalKind {
    Timestamp(TimeUnit),
    Date32,
    Date64,
    Time(TimeUnit),
}

impl TemporalArg {
    pub(crate) fn new(arg: &Arg, function: &str) -> Result<Self> {
        let (kind, zone) = match arg.data_type() {
            DataType::Timestamp(unit, zone) => {
                let zone = zone.as_deref().map(Tz::from_str).transpose()?;
                (TemporalKind::Timestamp(*unit), zone)
            }
            DataType::Date32 => (TemporalKind::Date32, None),
            DataType::Date64 => (TemporalKind::Date64, None),
            DataType::Time32(unit) | DataType::Time64(unit) => (TemporalKind::Time(*unit), None),
            other => {
                return exec_err!("{function}: expected a date, time or timestamp, got {other}");
            }
        };
        let values = cast(&arg.array, &DataType::Int64)?.as_primitive().clone();
        Ok(Self {
            kind,
            values,
            zone,
            scalar: arg.scalar,
        })
    }

    /// The local date-time of `row`; `None` for NULL, an error when the value
    /// is outside the range chrono can represent.
    pub(crate) fn get(&self, row: usize, function: &str) -> Result<Option<NaiveDateTime>> {
        let i = if self.scalar { 0 } else { row };
        if self.values.is_null(i) {
            return Ok(None);
        }
        let v = self.values.value(i);
        let local = match self.kind {
            TemporalKind::Timestamp(unit) => {
                epoch_to_datetime(v, unit).map(|utc| match &self.zone {
                    Some(zone) => zone.from_utc_datetime(&utc).naive_local(),
                    None => utc,
                })
            }
            TemporalKind::Date32 => i32::try_from(v)
                .ok()
                .and_then(|days| days.checked_add(EPOCH_DAYS_FROM_CE))
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .map(|d| d.and_time(NaiveTime::MIN)),
            TemporalKind::Date64 => epoch_to_datetime(v, TimeUnit::Millisecond),
            TemporalKind::Time(unit) => epoch_to_datetime(v, unit),
        };
        local
            .map(Some)
            .ok_or_else(|| exec_datafusion_err!("{function}: value {v} is out of range"))
    }
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Converts an epoch offset in `unit` to a date-time.
pub(crate) fn epoch_to_datetime(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let secs = v.div_euclid(per_second);
    let nanos = v.rem_euclid(per_second) * (1_000_000_000 / per_second);
    let nanos = u32::try_from(nanos).ok()?;
    DateTime::from_timestamp(secs, nanos).map(|dt| dt.naive_utc())
}

/// A string result in the same encoding as one of the inputs.
pub(crate) enum StrOut {
    Utf8(StringBuilder),
    Large(LargeStringBuilder),
    View(StringViewBuilder),
}

impl StrOut {
    pub(crate) fn new(data_type: &DataType, capacity: usize) -> Self {
        match data_type {
            DataType::LargeUtf8 => Self::Large(LargeStringBuilder::with_capacity(capacity, 0)),
            DataType::Utf8View => Self::View(StringViewBuilder::with_capacity(capacity)),
            _ => Self::Utf8(StringBuilder::with_capacity(capacity, 0)),
        }
    }

    pub(crate) fn append(&mut self, value: Option<&str>) {
        match self {
            Self::Utf8(b) => b.append_option(value),
            Self::Large(b) => b.append_option(value),
            Self::View(b) => b.append_option(value),
        }
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            Self::Utf8(mut b) => Arc::new(b.finish()),
            Self::Large(mut b) => Arc::new(b.finish()),
            Self::View(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The last compiled form of a pattern argument, kept across batches.
///
/// Patterns (regexes, date formats) are nearly always literals, so the same
/// text arrives with every batch; this keeps the compiled form of the last
/// one. It takes no part in the function's equality or hash: two functions
/// that differ only in what they have cached are the same function.
#[derive(Debug)]
pub(crate) struct PatternCache<T>(Mutex<Option<(String, T)>>);

impl<T> Default for PatternCache<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: Clone> PatternCache<T> {
    /// The compiled form of `pattern`, compiling it on a miss.
    pub(crate) fn get(&self, pattern: &str, compile: impl FnOnce(&str) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update of a
        // plain `Option`; the value is still a valid cache entry or `None`.
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, compiled)) = slot.as_ref()
            && cached == pattern
        {
            return compiled.clone();
        }
        let compiled = compile(pattern);
        *slot = Some((pattern.to_string(), compiled.clone()));
        compiled
    }
}

impl<T> PartialEq for PatternCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for PatternCache<T> {}

impl<T> Hash for PatternCache<T> {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// The compiled patterns of one batch: a run of equal patterns is compiled
/// once, and a scalar pattern comes from the function's [`PatternCache`],
/// locked once per batch.
pub(crate) struct RowPatterns<'c, T> {
    cache: &'c PatternCache<T>,
    last: Option<(String, T)>,
}

impl<'c, T: Clone> RowPatterns<'c, T> {
    pub(crate) fn new(cache: &'c PatternCache<T>) -> Self {
        Self { cache, last: None }
    }

    pub(crate) fn get(
        &mut self,
        pattern: &str,
        scalar: bool,
        compile: impl FnOnce(&str) -> T,
    ) -> T {
        if let Some((cached, compiled)) = &self.last
            && cached == pattern
        {
            return compiled.clone();
        }
        // A scalar pattern is the same in every batch: look it up across
        // batches once per batch; an array's patterns vary, compile them here.
        let compiled = if scalar {
            self.cache.get(pattern, compile)
        } else {
            compile(pattern)
        };
        self.last = Some((pattern.to_string(), compiled.clone()));
        compiled
    }
}

pub(crate) fn is_integer(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

pub(crate) fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Checks the number of arguments at planning time.
pub(crate) fn check_arity(
    function: &str,
    arg_types: &[DataType],
    allowed: RangeInclusive<usize>,
) -> Result<()> {
    if allowed.contains(&arg_types.len()) {
        return Ok(());
    }
    let expected = if allowed.start() == allowed.end() {
        allowed.start().to_string()
    } else {
        format!("{} to {}", allowed.start(), allowed.end())
    };
    plan_err!(
        "{function} takes {expected} arguments, got {}",
        arg_types.len()
    )
}

/// Coerces a string parameter: any string encoding is kept, a dictionary of
/// strings is decoded, an untyped NULL becomes `Utf8`.
pub(crate) fn coerce_string(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        t if is_string(t) => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, value) if is_string(value) => Ok(value.as_ref().clone()),
        other => plan_err!("{function} expects a string as argument {position}, got {other}"),
    }
}

/// Coerces an integer parameter: signed integers are kept, unsigned ones are
/// widened to the next signed type, an untyped NULL becomes `Int32`.
pub(crate) fn coerce_integer(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    match t {
        t if is_integer(t) => Ok(t.clone()),
        DataType::UInt8 => Ok(DataType::Int16),
        DataType::UInt16 => Ok(DataType::Int32),
        DataType::UInt32 => Ok(DataType::Int64),
        DataType::Null => Ok(DataType::Int32),
        other => plan_err!("{function} expects an integer as argument {position}, got {other}"),
    }
}

/// Calls a function the way DataFusion does, for unit tests: fields from
/// the argument types, the return type from `return_type`.
#[cfg(test)]
pub(crate) fn invoke_for_test(
    f: &dyn datafusion_expr::ScalarUDFImpl,
    args: Vec<ColumnarValue>,
    rows: usize,
) -> Result<ArrayRef> {
    use arrow::datatypes::Field;
    use datafusion_common::config::ConfigOptions;

    let types: Vec<_> = args.iter().map(|a| a.data_type()).collect();
    let return_type = f.return_type(&types)?;
    let arg_fields = types
        .into_iter()
        .map(|t| Arc::new(Field::new("a", t, true)))
        .collect();
    f.invoke_with_args(datafusion_expr::ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field: Arc::new(Field::new(f.name(), return_type, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })?
    .into_array(rows)
}
