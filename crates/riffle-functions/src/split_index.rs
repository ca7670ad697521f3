//! `SPLIT_INDEX(str, separator, index)`: the `index`-th (0-based) piece of
//! `str` split by `separator`.
//!
//! Follows Flink's `SqlFunctionUtils.splitIndex`, which uses Apache Commons
//! `StringUtils.splitByWholeSeparatorPreserveAllTokens`:
//!
//! - the separator is a whole string, and empty pieces are kept
//!   (`'a,,b'` splits into `a`, ``, `b`);
//! - an empty `str` has no pieces, so every index gives NULL;
//! - an empty separator splits on each Java whitespace character;
//! - the separator may also be an integer character code (1..=255, read as
//!   a Latin-1 character); any other code gives NULL;
//! - a negative index, an index past the last piece, or any NULL argument
//!   gives NULL.

use arrow::datatypes::DataType;
use datafusion_common::{Result, exec_datafusion_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::args::{
    Arg, IntArg, Rows, StrArg, StrOut, check_arity, coerce_integer, coerce_string, is_integer,
};

const NAME: &str = "split_index";

/// Flink's `SPLIT_INDEX(str, separator, index)` → `STRING`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitIndex {
    signature: Signature,
}

impl Default for SplitIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl SplitIndex {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SplitIndex {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 3..=3)?;
        let separator = match &arg_types[1] {
            t if is_integer(t) => t.clone(),
            t => coerce_string(NAME, 2, t).or_else(|_| {
                plan_err!("{NAME} expects a string or a character code as argument 2, got {t}")
            })?,
        };
        Ok(vec![
            coerce_string(NAME, 1, &arg_types[0])?,
            separator,
            coerce_integer(NAME, 3, &arg_types[2])?,
        ])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let [input, separator, index] = Arg::all(&args.args)?
            .try_into()
            .map_err(|_| exec_datafusion_err!("{NAME} takes 3 arguments"))?;
        let input_type = input.data_type().clone();
        let input = StrArg::new(&input, NAME)?;
        let index = IntArg::new(&index, NAME)?;
        let mut out = StrOut::new(&input_type, rows.count);
        if is_integer(separator.data_type()) {
            let codes = IntArg::new(&separator, NAME)?;
            for row in 0..rows.count {
                let piece = match (input.get(row), codes.get(row), index.get(row)) {
                    (Some(s), Some(code), Some(i)) => split_by_code(s, code, i),
                    _ => None,
                };
                out.append(piece);
            }
        } else {
            let separators = StrArg::new(&separator, NAME)?;
            for row in 0..rows.count {
                let piece = match (input.get(row), separators.get(row), index.get(row)) {
                    (Some(s), Some(sep), Some(i)) => split_by_string(s, sep, i),
                    _ => None,
                };
                out.append(piece);
            }
        }
        rows.finish(out.finish())
    }
}

fn split_by_string<'a>(s: &'a str, separator: &str, index: i64) -> Option<&'a str> {
    let index = usize::try_from(index).ok()?;
    if s.is_empty() {
        return None;
    }
    if separator.is_empty() {
        s.split(is_java_whitespace).nth(index)
    } else {
        s.split(separator).nth(index)
    }
}

fn split_by_code(s: &str, code: i64, index: i64) -> Option<&str> {
    if !(1..=255).contains(&code) {
        return None;
    }
    let separator = char::from_u32(u32::try_from(code).ok()?)?;
    let index = usize::try_from(index).ok()?;
    if s.is_empty() {
        return None;
    }
    s.split(separator).nth(index)
}

/// Java's `Character.isWhitespace`: Unicode space separators except the
/// non-breaking ones, plus the ASCII control whitespace and U+001C..U+001F.
fn is_java_whitespace(c: char) -> bool {
    match c {
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}' => true,
        '\u{a0}' | '\u{2007}' | '\u{202f}' => false,
        ' '
        | '\u{1680}'
        | '\u{2000}'..='\u{200a}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{205f}'
        | '\u{3000}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Int32Array, LargeStringArray};
    use arrow::datatypes::Field;
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(args: Vec<ColumnarValue>, rows: usize) -> Result<ArrayRef> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let return_type = args[0].data_type();
        SplitIndex::new()
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new(NAME, return_type, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })?
            .into_array(rows)
    }

    fn utf8(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_string())))
    }

    fn int(i: i32) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int32(Some(i)))
    }

    fn one(args: Vec<ColumnarValue>) -> Result<Option<String>> {
        let out = invoke(args, 1)?;
        Ok(out
            .as_string::<i32>()
            .iter()
            .next()
            .flatten()
            .map(str::to_string))
    }

    #[test]
    fn picks_the_indexed_piece() -> Result<()> {
        // SELECT SPLIT_INDEX('Jack,John,Mary', ',', 2) -- 'Mary'
        assert_eq!(
            one(vec![utf8("Jack,John,Mary"), utf8(","), int(2)])?.as_deref(),
            Some("Mary")
        );
        assert_eq!(
            one(vec![utf8("a,,b"), utf8(","), int(1)])?.as_deref(),
            Some("")
        );
        assert_eq!(
            one(vec![utf8("a,b,"), utf8(","), int(2)])?.as_deref(),
            Some("")
        );
        assert_eq!(
            one(vec![utf8("a::b::c"), utf8("::"), int(1)])?.as_deref(),
            Some("b")
        );
        assert_eq!(
            one(vec![utf8("abc"), utf8(","), int(0)])?.as_deref(),
            Some("abc")
        );
        Ok(())
    }

    #[test]
    fn out_of_range_and_nulls_give_null() -> Result<()> {
        assert_eq!(one(vec![utf8("a,b"), utf8(","), int(2)])?, None);
        assert_eq!(one(vec![utf8("a,b"), utf8(","), int(-1)])?, None);
        assert_eq!(one(vec![utf8(""), utf8(","), int(0)])?, None);
        let null = ColumnarValue::Scalar(ScalarValue::Utf8(None));
        assert_eq!(one(vec![null.clone(), utf8(","), int(0)])?, None);
        assert_eq!(one(vec![utf8("a"), null, int(0)])?, None);
        let null_index = ColumnarValue::Scalar(ScalarValue::Int32(None));
        assert_eq!(one(vec![utf8("a"), utf8(","), null_index])?, None);
        Ok(())
    }

    #[test]
    fn empty_separator_splits_on_whitespace() -> Result<()> {
        assert_eq!(
            one(vec![utf8("a b\tc"), utf8(""), int(2)])?.as_deref(),
            Some("c")
        );
        assert_eq!(
            one(vec![utf8("a  b"), utf8(""), int(1)])?.as_deref(),
            Some("")
        );
        // A non-breaking space is not whitespace to Java.
        assert_eq!(one(vec![utf8("a\u{a0}b"), utf8(""), int(1)])?, None);
        Ok(())
    }

    #[test]
    fn character_code_separator() -> Result<()> {
        assert_eq!(
            one(vec![utf8("a-b-c"), int(45), int(1)])?.as_deref(),
            Some("b")
        );
        assert_eq!(
            one(vec![utf8("aébéc"), int(233), int(2)])?.as_deref(),
            Some("c")
        );
        assert_eq!(one(vec![utf8("a-b"), int(0), int(0)])?, None);
        assert_eq!(one(vec![utf8("a-b"), int(256), int(0)])?, None);
        Ok(())
    }

    #[test]
    fn arrays_keep_the_input_encoding() -> Result<()> {
        let input: ArrayRef = Arc::new(LargeStringArray::from(vec![
            Some("x.y"),
            None,
            Some("p.q.r"),
        ]));
        let index: ArrayRef = Arc::new(Int32Array::from(vec![1, 0, 2]));
        let out = invoke(
            vec![
                ColumnarValue::Array(input),
                utf8("."),
                ColumnarValue::Array(index),
            ],
            3,
        )?;
        let values: Vec<_> = out.as_string::<i64>().iter().collect();
        assert_eq!(values, vec![Some("y"), None, Some("r")]);
        Ok(())
    }

    #[test]
    fn coerces_arguments() -> Result<()> {
        let f = SplitIndex::new();
        assert_eq!(
            f.coerce_types(&[DataType::Utf8View, DataType::Utf8, DataType::Int64])?,
            vec![DataType::Utf8View, DataType::Utf8, DataType::Int64]
        );
        assert_eq!(
            f.coerce_types(&[DataType::Utf8, DataType::Int32, DataType::UInt8])?,
            vec![DataType::Utf8, DataType::Int32, DataType::Int16]
        );
        let err = f
            .coerce_types(&[DataType::Utf8, DataType::Utf8, DataType::Float64])
            .unwrap_err();
        assert!(err.to_string().contains("split_index"), "{err}");
        assert!(err.to_string().contains("Float64"), "{err}");
        Ok(())
    }
}
