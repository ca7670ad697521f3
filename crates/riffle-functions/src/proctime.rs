//! `PROCTIME()`: the processing time of the row, a `TIMESTAMP_LTZ(3)`.
//!
//! Flink evaluates it when the row passes the operator that needs it; here it
//! is the wall clock when the expression is evaluated over a batch, so every
//! row of a batch gets the same instant. It is volatile, so planning never
//! folds it into a constant.

use std::sync::Arc;

use arrow::array::TimestampMillisecondArray;
use arrow::datatypes::{DataType, TimeUnit};
use datafusion_common::{Result, exec_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// Flink's `PROCTIME()` → `TIMESTAMP_LTZ(3) NOT NULL`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Proctime {
    signature: Signature,
}

impl Default for Proctime {
    fn default() -> Self {
        Self::new()
    }
}

impl Proctime {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ScalarUDFImpl for Proctime {
    fn name(&self) -> &str {
        "proctime"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some(Arc::from("UTC")),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.is_empty() {
            return exec_err!("PROCTIME() takes no arguments");
        }
        let now = now_ms();
        let arr = TimestampMillisecondArray::from_value(now, args.number_rows).with_timezone("UTC");
        Ok(ColumnarValue::Array(Arc::new(arr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Field;

    #[test]
    fn one_instant_per_batch() {
        let f = Proctime::new();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![],
                arg_fields: vec![],
                number_rows: 3,
                return_field: Arc::new(Field::new("p", f.return_type(&[]).unwrap(), false)),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else {
            panic!("expected an array")
        };
        assert_eq!(a.len(), 3);
        assert!(
            now_ms()
                - a.as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .unwrap()
                    .value(2)
                < 60_000
        );
    }
}
