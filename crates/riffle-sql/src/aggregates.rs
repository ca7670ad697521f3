//! Flink's result types for `SUM` and `AVG`.
//!
//! DataFusion widens `SUM(INT)` to `BIGINT` and computes `AVG` of integers as
//! `DOUBLE`; Flink keeps integer types (`AVG(BIGINT)` is a truncated
//! `BIGINT`), sums decimals into `DECIMAL(38, s)` and averages them into
//! `DECIMAL(38, max(6, s))`. These two functions replace DataFusion's in the
//! catalog so that planned schemas carry Flink's types. They describe types
//! only: streaming aggregates are computed by the runtime's accumulators
//! (`riffle_runtime::operators::aggregate`), never by a DataFusion
//! accumulator.

use arrow::datatypes::DataType;
use datafusion_common::{Result, plan_err};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// `SUM` or `AVG` with Flink's typing.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FlinkNumericAggregate {
    name: &'static str,
    signature: Signature,
}

impl FlinkNumericAggregate {
    /// `SUM`.
    pub fn sum() -> Self {
        Self::new("sum")
    }

    /// `AVG`.
    pub fn avg() -> Self {
        Self::new("avg")
    }

    fn new(name: &'static str) -> Self {
        FlinkNumericAggregate {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FlinkNumericAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = arg_types else {
            return plan_err!(
                "{} takes one argument, got {}",
                self.name.to_uppercase(),
                arg_types.len()
            );
        };
        match t {
            DataType::Null => Ok(vec![DataType::Int64]),
            t if t.is_numeric() => Ok(vec![t.clone()]),
            other => plan_err!(
                "{} does not accept an argument of type {other}; it needs a numeric type",
                self.name.to_uppercase()
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.first() {
            Some(DataType::Decimal128(_, s)) if self.name == "avg" => {
                DataType::Decimal128(38, (*s).max(6))
            }
            Some(DataType::Decimal128(_, s)) => DataType::Decimal128(38, *s),
            Some(t) => t.clone(),
            None => DataType::Int64,
        })
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        plan_err!(
            "{} is evaluated by Riffle's streaming operators, not by a batch accumulator",
            self.name.to_uppercase()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_result_types() {
        let avg = FlinkNumericAggregate::avg();
        assert_eq!(
            avg.return_type(&[DataType::Int64]).ok(),
            Some(DataType::Int64)
        );
        assert_eq!(
            avg.return_type(&[DataType::Decimal128(10, 2)]).ok(),
            Some(DataType::Decimal128(38, 6))
        );
        let sum = FlinkNumericAggregate::sum();
        assert_eq!(
            sum.return_type(&[DataType::Decimal128(10, 2)]).ok(),
            Some(DataType::Decimal128(38, 2))
        );
        assert!(sum.coerce_types(&[DataType::Utf8]).is_err());
    }
}
