//! `MOD(numeric1, numeric2)`: the remainder of `numeric1 / numeric2`.
//!
//! Flink takes exact numerics only (integers and decimals), and the result
//! has the sign of `numeric1`, as Java's `%` does. The result type follows
//! Flink's type system (`FlinkTypeSystem.deriveDecimalModType`,
//! `LogicalTypeMerging.findModuloDecimalType`):
//!
//! - two integers → the type of `numeric2`;
//! - otherwise, with integers read as `DECIMAL(3|5|10|19, 0)`: if both scales
//!   are 0, the type of `numeric2`; else
//!   `DECIMAL(min(p1 - s1, p2 - s2) + max(s1, s2), max(s1, s2))`.
//!
//! The remainder always fits that type, because its magnitude is below both
//! operands'. A NULL operand gives NULL; a zero divisor fails the query, as
//! Java's `ArithmeticException` does.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, i256};
use datafusion_common::{Result, exec_datafusion_err, exec_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{Arg, IntArg, Rows, check_arity, is_integer};

const NAME: &str = "mod";

/// Flink's `MOD(numeric1, numeric2)` on integers and decimals.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Mod {
    signature: Signature,
}

impl Default for Mod {
    fn default() -> Self {
        Self::new()
    }
}

impl Mod {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Mod {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 2..=2)?;
        let a = coerce_exact(1, &arg_types[0])?;
        let b = coerce_exact(2, &arg_types[1])?;
        // An untyped NULL takes the type of the other operand.
        Ok(match (a, b) {
            (DataType::Null, DataType::Null) => vec![DataType::Int32, DataType::Int32],
            (DataType::Null, b) => vec![b.clone(), b],
            (a, DataType::Null) => vec![a.clone(), a],
            (a, b) => vec![a, b],
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let [a, b] = arg_types else {
            return plan_err!("{NAME} takes 2 arguments, got {}", arg_types.len());
        };
        if is_integer(a) && is_integer(b) {
            return Ok(b.clone());
        }
        let (p1, s1) = decimal_shape(a)?;
        let (p2, s2) = decimal_shape(b)?;
        if s1 == 0 && s2 == 0 {
            return Ok(b.clone());
        }
        let scale = s1.max(s2);
        let precision = (p1 - s1).min(p2 - s2) + scale;
        Ok(DataType::Decimal128(
            u8::try_from(precision.max(1)).unwrap_or(38),
            i8::try_from(scale).unwrap_or(38),
        ))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let [a, b] = Arg::all(&args.args)?
            .try_into()
            .map_err(|_| exec_datafusion_err!("{NAME} takes 2 arguments"))?;
        let return_type = self.return_type(&[a.data_type().clone(), b.data_type().clone()])?;
        let result = if is_integer(a.data_type()) && is_integer(b.data_type()) {
            integer_mod(&a, &b, rows.count, &return_type)?
        } else {
            decimal_mod(&a, &b, rows.count, &return_type)?
        };
        rows.finish(result)
    }
}

fn coerce_exact(position: usize, t: &DataType) -> Result<DataType> {
    match t {
        t if is_integer(t) => Ok(t.clone()),
        DataType::UInt8 => Ok(DataType::Int16),
        DataType::UInt16 => Ok(DataType::Int32),
        DataType::UInt32 => Ok(DataType::Int64),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s)
            if *s >= 0 =>
        {
            Ok(DataType::Decimal128(*p, *s))
        }
        DataType::Null => Ok(DataType::Null),
        other => plan_err!(
            "{NAME} expects an exact numeric (integer or decimal) as argument {position}, got {other}"
        ),
    }
}

/// Precision and scale of an exact numeric; integers as Flink widens them.
fn decimal_shape(t: &DataType) -> Result<(i32, i32)> {
    match t {
        DataType::Int8 => Ok((3, 0)),
        DataType::Int16 => Ok((5, 0)),
        DataType::Int32 => Ok((10, 0)),
        DataType::Int64 => Ok((19, 0)),
        DataType::Decimal128(p, s) if *s >= 0 => Ok((i32::from(*p), i32::from(*s))),
        other => plan_err!("{NAME} expects an integer or decimal, got {other}"),
    }
}

fn integer_mod(a: &Arg, b: &Arg, rows: usize, return_type: &DataType) -> Result<ArrayRef> {
    let (a, b) = (IntArg::new(a, NAME)?, IntArg::new(b, NAME)?);
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        out.push(match (a.get(row), b.get(row)) {
            (Some(_), Some(0)) => return exec_err!("{NAME}: division by zero"),
            // `wrapping_rem` makes MIN % -1 zero, as in Java.
            (Some(x), Some(y)) => Some(x.wrapping_rem(y)),
            _ => None,
        });
    }
    let remainders: ArrayRef = Arc::new(Int64Array::from(out));
    Ok(cast(&remainders, return_type)?)
}

/// An operand of a decimal remainder: unscaled values and their scale.
enum Operand {
    Integer(IntArg),
    Decimal {
        values: Decimal128Array,
        scalar: bool,
    },
}

impl Operand {
    fn new(arg: &Arg) -> Result<(Self, u32)> {
        match arg.data_type() {
            DataType::Decimal128(_, s) => {
                let array = arg.array();
                Ok((
                    Operand::Decimal {
                        values: array.as_primitive::<Decimal128Type>().clone(),
                        scalar: arg.is_scalar(),
                    },
                    u32::try_from(*s)
                        .map_err(|_| exec_datafusion_err!("{NAME}: negative decimal scale {s}"))?,
                ))
            }
            _ => Ok((Operand::Integer(IntArg::new(arg, NAME)?), 0)),
        }
    }

    fn get(&self, row: usize) -> Option<i256> {
        match self {
            Operand::Integer(values) => values.get(row).map(|v| i256::from_i128(i128::from(v))),
            Operand::Decimal { values, scalar } => {
                let i = if *scalar { 0 } else { row };
                values.is_valid(i).then(|| i256::from_i128(values.value(i)))
            }
        }
    }
}

fn decimal_mod(a: &Arg, b: &Arg, rows: usize, return_type: &DataType) -> Result<ArrayRef> {
    let (a, a_scale) = Operand::new(a)?;
    let (b, b_scale) = Operand::new(b)?;
    let scale = a_scale.max(b_scale);
    let ten = i256::from_i128(10);
    let overflow = || exec_datafusion_err!("{NAME}: decimal overflow");
    let a_factor = ten.checked_pow(scale - a_scale).ok_or_else(overflow)?;
    let b_factor = ten.checked_pow(scale - b_scale).ok_or_else(overflow)?;
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let (Some(x), Some(y)) = (a.get(row), b.get(row)) else {
            out.push(None);
            continue;
        };
        let y = y.checked_mul(b_factor).ok_or_else(overflow)?;
        if y == i256::ZERO {
            return exec_err!("{NAME}: division by zero");
        }
        let x = x.checked_mul(a_factor).ok_or_else(overflow)?;
        let remainder = x.wrapping_rem(y).to_i128().ok_or_else(overflow)?;
        out.push(Some(remainder));
    }
    match return_type {
        DataType::Decimal128(p, s) => Ok(Arc::new(
            Decimal128Array::from(out).with_precision_and_scale(*p, *s)?,
        )),
        // Both scales are 0 and the divisor is an integer: the remainder is a
        // whole number that fits the divisor's type.
        integer => {
            let values: Vec<Option<i64>> = out
                .into_iter()
                .map(|v| v.map(i64::try_from).transpose())
                .collect::<Result<_, _>>()
                .map_err(|_| overflow())?;
            let remainders: ArrayRef = Arc::new(Int64Array::from(values));
            Ok(cast(&remainders, integer)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Int8Array, Int32Array};
    use arrow::datatypes::{Int8Type, Int32Type, Int64Type};
    use datafusion_common::ScalarValue;

    fn invoke(args: Vec<ColumnarValue>, rows: usize) -> Result<ArrayRef> {
        crate::args::invoke_for_test(&Mod::new(), args, rows)
    }

    fn dec(v: i128, p: u8, s: i8) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Decimal128(Some(v), p, s))
    }

    #[test]
    fn integer_remainder_has_the_dividend_sign() -> Result<()> {
        // SELECT MOD(a, 3) FROM t -- a INT
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), Some(-7), None, Some(6)]));
        let three = ColumnarValue::Scalar(ScalarValue::Int32(Some(3)));
        let out = invoke(vec![ColumnarValue::Array(a), three], 4)?;
        let values: Vec<_> = out.as_primitive::<Int32Type>().iter().collect();
        assert_eq!(values, vec![Some(1), Some(-1), None, Some(0)]);
        let out = invoke(
            vec![
                ColumnarValue::Scalar(ScalarValue::Int64(Some(i64::MIN))),
                ColumnarValue::Scalar(ScalarValue::Int64(Some(-1))),
            ],
            1,
        )?;
        assert_eq!(out.as_primitive::<Int64Type>().value(0), 0);
        Ok(())
    }

    #[test]
    fn integer_result_has_the_divisor_type() -> Result<()> {
        let f = Mod::new();
        assert_eq!(
            f.return_type(&[DataType::Int64, DataType::Int8])?,
            DataType::Int8
        );
        assert_eq!(
            f.return_type(&[DataType::Int8, DataType::Int64])?,
            DataType::Int64
        );
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1_000_001]));
        let b: ArrayRef = Arc::new(Int8Array::from(vec![-100]));
        let out = invoke(vec![ColumnarValue::Array(a), ColumnarValue::Array(b)], 1)?;
        assert_eq!(out.as_primitive::<Int8Type>().value(0), 1);
        Ok(())
    }

    #[test]
    fn decimal_result_type() -> Result<()> {
        let f = Mod::new();
        let d = |p, s| DataType::Decimal128(p, s);
        // findModuloDecimalType(30, 10, 30, 10) = DECIMAL(30, 10)
        assert_eq!(f.return_type(&[d(30, 10), d(30, 10)])?, d(30, 10));
        // findModuloDecimalType(30, 20, 25, 20) = DECIMAL(25, 20)
        assert_eq!(f.return_type(&[d(30, 20), d(25, 20)])?, d(25, 20));
        // INT is DECIMAL(10, 0): min(10, 8) + 2
        assert_eq!(f.return_type(&[DataType::Int32, d(10, 2)])?, d(10, 2));
        // Both scales 0: the divisor's type, even an integer.
        assert_eq!(
            f.return_type(&[d(20, 0), DataType::Int16])?,
            DataType::Int16
        );
        assert_eq!(f.return_type(&[DataType::Int64, d(5, 0)])?, d(5, 0));
        Ok(())
    }

    #[test]
    fn decimal_remainders() -> Result<()> {
        // MOD(7.50, 2) = 1.50; MOD(-7.5, 2.25) = -0.75
        let out = invoke(
            vec![
                dec(750, 5, 2),
                ColumnarValue::Scalar(ScalarValue::Int32(Some(2))),
            ],
            1,
        )?;
        assert_eq!(out.data_type(), &DataType::Decimal128(5, 2));
        assert_eq!(out.as_primitive::<Decimal128Type>().value(0), 150);
        let out = invoke(vec![dec(-75, 3, 1), dec(225, 4, 2)], 1)?;
        assert_eq!(out.data_type(), &DataType::Decimal128(4, 2));
        assert_eq!(out.as_primitive::<Decimal128Type>().value(0), -75);
        // Widest scales: DECIMAL(38, 0) % DECIMAL(38, 38).
        let out = invoke(
            vec![
                dec(10_i128.pow(37) + 3, 38, 0),
                dec(5 * 10_i128.pow(37), 38, 38),
            ],
            1,
        )?;
        assert_eq!(out.data_type(), &DataType::Decimal128(38, 38));
        assert_eq!(out.as_primitive::<Decimal128Type>().value(0), 0);
        // DECIMAL(20, 0) % INT keeps INT.
        let out = invoke(
            vec![
                dec(17, 20, 0),
                ColumnarValue::Scalar(ScalarValue::Int32(Some(5))),
            ],
            1,
        )?;
        assert_eq!(out.as_primitive::<Int32Type>().value(0), 2);
        Ok(())
    }

    #[test]
    fn zero_divisor_fails_and_null_passes() -> Result<()> {
        let err = invoke(
            vec![
                ColumnarValue::Scalar(ScalarValue::Int32(Some(1))),
                ColumnarValue::Scalar(ScalarValue::Int32(Some(0))),
            ],
            1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("mod: division by zero"), "{err}");
        assert!(invoke(vec![dec(1, 3, 1), dec(0, 3, 2)], 1).is_err());
        let out = invoke(
            vec![
                ColumnarValue::Scalar(ScalarValue::Int32(None)),
                ColumnarValue::Scalar(ScalarValue::Int32(Some(0))),
            ],
            1,
        )?;
        assert!(out.is_null(0));
        Ok(())
    }

    #[test]
    fn coerces_exact_numerics_only() -> Result<()> {
        let f = Mod::new();
        assert_eq!(
            f.coerce_types(&[DataType::Null, DataType::Int16])?,
            vec![DataType::Int16, DataType::Int16]
        );
        assert_eq!(
            f.coerce_types(&[DataType::UInt32, DataType::Decimal64(10, 2)])?,
            vec![DataType::Int64, DataType::Decimal128(10, 2)]
        );
        let err = f
            .coerce_types(&[DataType::Float64, DataType::Int32])
            .unwrap_err();
        assert!(
            err.to_string().contains("mod expects an exact numeric"),
            "{err}"
        );
        assert!(err.to_string().contains("Float64"), "{err}");
        Ok(())
    }
}
