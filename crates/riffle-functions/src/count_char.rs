//! `count_char(s, c)`: how many bytes of `s` equal the first byte of `c`.
//!
//! The Nexmark benchmark's user-defined function
//! `com.github.nexmark.flink.udf.CountChar` (query 14), compiled into Riffle
//! so that `CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'`
//! resolves without a JVM. It compares UTF-8 bytes, as the Java original does
//! on `StringData.toBytes()`. It returns a non-NULL `BIGINT`: 0 for a NULL
//! `s`. For a non-NULL `s` the Java original reads `c`'s first byte
//! unconditionally and throws when `c` is NULL or empty; so does this one.

use std::sync::Arc;

use arrow::array::Int64Builder;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{Result, exec_datafusion_err, exec_err};
use datafusion_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Arg, Rows, StrArg, check_arity, coerce_string};

const NAME: &str = "count_char";

/// Nexmark's `count_char(s, c)` → `BIGINT NOT NULL`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountChar {
    signature: Signature,
}

impl Default for CountChar {
    fn default() -> Self {
        Self::new()
    }
}

impl CountChar {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CountChar {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 2..=2)?;
        Ok(vec![
            coerce_string(NAME, 1, &arg_types[0])?,
            coerce_string(NAME, 2, &arg_types[1])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        // The Java function returns a primitive `long`.
        Ok(Arc::new(Field::new(NAME, DataType::Int64, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let [s, c] = Arg::all(&args.args)?
            .try_into()
            .map_err(|_| exec_datafusion_err!("{NAME} takes 2 arguments"))?;
        let (s, c) = (StrArg::new(&s, NAME)?, StrArg::new(&c, NAME)?);
        let mut out = Int64Builder::with_capacity(rows.count);
        for row in 0..rows.count {
            let Some(s) = s.get(row) else {
                out.append_value(0);
                continue;
            };
            let Some(&byte) = c.get(row).and_then(|c| c.as_bytes().first()) else {
                return exec_err!("{NAME}: the character argument is NULL or empty");
            };
            let count = s.bytes().filter(|b| *b == byte).count();
            out.append_value(i64::try_from(count).unwrap_or(i64::MAX));
        }
        rows.finish(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Array, ArrayRef, AsArray, StringArray};
    use arrow::datatypes::Int64Type;
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(args: Vec<ColumnarValue>, rows: usize) -> Result<Vec<i64>> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let out = CountChar::new().invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new(NAME, DataType::Int64, false)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        let array = out.into_array(rows)?;
        assert_eq!(array.null_count(), 0);
        Ok(array.as_primitive::<Int64Type>().values().to_vec())
    }

    fn utf8(s: Option<&str>) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(s.map(str::to_string)))
    }

    #[test]
    fn counts_bytes() -> Result<()> {
        // Nexmark q14: count_char(extra, 'c')
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("abcabc"),
            Some(""),
            None,
            Some("xyz"),
            Some("c/c/c"),
        ]));
        assert_eq!(
            invoke(vec![ColumnarValue::Array(s), utf8(Some("c"))], 5)?,
            vec![2, 0, 0, 0, 3]
        );
        // Only the first byte of the second argument counts.
        assert_eq!(
            invoke(vec![utf8(Some("a/b/c")), utf8(Some("/x"))], 1)?,
            vec![2]
        );
        Ok(())
    }

    #[test]
    fn null_or_empty_character_fails_like_java() -> Result<()> {
        assert!(invoke(vec![utf8(Some("abc")), utf8(None)], 1).is_err());
        let err = invoke(vec![utf8(Some("")), utf8(Some(""))], 1).unwrap_err();
        assert!(err.to_string().contains("count_char"), "{err}");
        // A NULL string never reads the character.
        assert_eq!(invoke(vec![utf8(None), utf8(None)], 1)?, vec![0]);
        Ok(())
    }

    #[test]
    fn coerces_strings_only() -> Result<()> {
        let f = CountChar::new();
        assert_eq!(
            f.coerce_types(&[DataType::Utf8View, DataType::Utf8])?,
            vec![DataType::Utf8View, DataType::Utf8]
        );
        let err = f
            .coerce_types(&[DataType::Int32, DataType::Utf8])
            .unwrap_err();
        assert!(err.to_string().contains("count_char"), "{err}");
        assert!(err.to_string().contains("Int32"), "{err}");
        Ok(())
    }
}
