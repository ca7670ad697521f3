//! `REGEXP_EXTRACT(str, regex[, extractIndex])`: a capture group of the first
//! match of `regex` in `str`.
//!
//! Follows Flink's `SqlFunctionUtils.regexpExtract`: group 0 is the whole
//! match, and the two-argument form extracts group 0 (Flink's documentation
//! does not say; its code passes 0). The result is NULL when any argument is
//! NULL, when nothing matches, when the group did not take part in the match,
//! when the index is negative or past the last group, and when the regex does
//! not compile — Flink logs and returns NULL for all of these. A `BIGINT`
//! index is narrowed to 32 bits as Java's `(int)` cast does.
//!
//! The regex is compiled by the `regex` crate, whose syntax matches
//! `java.util.regex` for common patterns but has no look-around and no
//! back-references; such a pattern does not compile and so gives NULL. Its
//! `\d`, `\w` and `\s` are Unicode-aware where Java's are ASCII-only.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::{Result, exec_datafusion_err};
use datafusion_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use regex::Regex;

use crate::args::{
    Arg, IntArg, PatternCache, RowPatterns, Rows, StrArg, StrOut, check_arity, coerce_integer,
    coerce_string,
};

const NAME: &str = "regexp_extract";

/// A compiled regex, or `None` when the pattern does not compile.
type Compiled = Option<Arc<Regex>>;

/// Flink's `REGEXP_EXTRACT(str, regex[, extractIndex])` → `STRING`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpExtract {
    signature: Signature,
    /// The last regex, compiled.
    patterns: PatternCache<Compiled>,
}

impl Default for RegexpExtract {
    fn default() -> Self {
        Self::new()
    }
}

impl RegexpExtract {
    /// Creates the function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            patterns: PatternCache::default(),
        }
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types, 2..=3)?;
        let mut coerced = vec![
            coerce_string(NAME, 1, &arg_types[0])?,
            coerce_string(NAME, 2, &arg_types[1])?,
        ];
        if let Some(index) = arg_types.get(2) {
            coerced.push(coerce_integer(NAME, 3, index)?);
        }
        Ok(coerced)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Utf8))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = Rows::of(&args.args, args.number_rows);
        let args = Arg::all(&args.args)?;
        let (Some(input), Some(regex)) = (args.first(), args.get(1)) else {
            return Err(exec_datafusion_err!("{NAME} takes 2 or 3 arguments"));
        };
        let inputs = StrArg::new(input, NAME)?;
        let regexes = StrArg::new(regex, NAME)?;
        let indexes = args.get(2).map(|a| IntArg::new(a, NAME)).transpose()?;
        let mut patterns = RowPatterns::new(&self.patterns);
        let mut out = StrOut::new(input.data_type(), rows.count);
        for row in 0..rows.count {
            let index = match &indexes {
                Some(indexes) => indexes.get(row),
                None => Some(0),
            };
            let extracted = match (inputs.get(row), regexes.get(row), index) {
                (Some(s), Some(pattern), Some(index)) => {
                    let compiled = patterns.get(pattern, regex.is_scalar(), |p| {
                        Regex::new(p).ok().map(Arc::new)
                    });
                    compiled.and_then(|re| extract(&re, s, index))
                }
                _ => None,
            };
            out.append(extracted);
        }
        rows.finish(out.finish())
    }
}

fn extract<'s>(regex: &Regex, s: &'s str, index: i64) -> Option<&'s str> {
    // Java narrows the index with an `(int)` cast.
    let index = usize::try_from(index as i32).ok()?;
    regex.captures(s)?.get(index).map(|group| group.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{ArrayRef, AsArray, StringArray, StringViewArray};
    use arrow::datatypes::Field;
    use datafusion_common::ScalarValue;
    use datafusion_common::config::ConfigOptions;

    fn invoke(f: &RegexpExtract, args: Vec<ColumnarValue>, rows: usize) -> Result<ArrayRef> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let return_type = args[0].data_type();
        f.invoke_with_args(ScalarFunctionArgs {
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

    fn int(i: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(i)))
    }

    fn one(args: Vec<ColumnarValue>) -> Result<Option<String>> {
        let out = invoke(&RegexpExtract::new(), args, 1)?;
        Ok(out
            .as_string::<i32>()
            .iter()
            .next()
            .flatten()
            .map(str::to_string))
    }

    #[test]
    fn extracts_groups() -> Result<()> {
        // REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2) -- 'bar'
        let args = |i| vec![utf8("foothebar"), utf8("foo(.*?)(bar)"), int(i)];
        assert_eq!(one(args(2))?.as_deref(), Some("bar"));
        assert_eq!(one(args(1))?.as_deref(), Some("the"));
        assert_eq!(one(args(0))?.as_deref(), Some("foothebar"));
        // Without an index, the whole match.
        assert_eq!(
            one(vec![utf8("foothebar"), utf8("t.e")])?.as_deref(),
            Some("the")
        );
        Ok(())
    }

    #[test]
    fn gives_null_where_flink_does() -> Result<()> {
        // No match.
        assert_eq!(one(vec![utf8("abc"), utf8("x(y)"), int(1)])?, None);
        // Index past the last group, or negative.
        assert_eq!(one(vec![utf8("abc"), utf8("a(b)"), int(2)])?, None);
        assert_eq!(one(vec![utf8("abc"), utf8("a(b)"), int(-1)])?, None);
        // A group that did not take part.
        assert_eq!(one(vec![utf8("ac"), utf8("a(b)?c"), int(1)])?, None);
        // A regex that does not compile.
        assert_eq!(one(vec![utf8("abc"), utf8("a(b"), int(1)])?, None);
        // NULL arguments.
        let null = ColumnarValue::Scalar(ScalarValue::Utf8(None));
        assert_eq!(one(vec![null.clone(), utf8("a"), int(0)])?, None);
        assert_eq!(one(vec![utf8("a"), null, int(0)])?, None);
        let null_index = ColumnarValue::Scalar(ScalarValue::Int64(None));
        assert_eq!(one(vec![utf8("a"), utf8("a"), null_index])?, None);
        Ok(())
    }

    #[test]
    fn narrows_the_index_like_java() -> Result<()> {
        // (int) 4294967297L == 1
        let args = vec![utf8("abc"), utf8("a(b)"), int(4_294_967_297)];
        assert_eq!(one(args)?.as_deref(), Some("b"));
        Ok(())
    }

    #[test]
    fn arrays_of_inputs_and_patterns() -> Result<()> {
        let f = RegexpExtract::new();
        let input: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("k1=v1"),
            Some("k2=v2"),
            None,
            Some("nothing"),
        ]));
        let out = invoke(
            &f,
            vec![ColumnarValue::Array(input), utf8("(\\w+)=(\\w+)"), int(2)],
            4,
        )?;
        let values: Vec<_> = out.as_string_view().iter().collect();
        assert_eq!(values, vec![Some("v1"), Some("v2"), None, None]);

        let patterns: ArrayRef = Arc::new(StringArray::from(vec!["(a)", "(b)", "(b)", "("]));
        let out = invoke(
            &f,
            vec![utf8("ab"), ColumnarValue::Array(patterns), int(1)],
            4,
        )?;
        let values: Vec<_> = out.as_string::<i32>().iter().collect();
        assert_eq!(values, vec![Some("a"), Some("b"), Some("b"), None]);
        Ok(())
    }

    #[test]
    fn coerces_arguments() -> Result<()> {
        let f = RegexpExtract::new();
        assert_eq!(
            f.coerce_types(&[DataType::Utf8View, DataType::Utf8])?,
            vec![DataType::Utf8View, DataType::Utf8]
        );
        assert_eq!(
            f.coerce_types(&[DataType::Utf8, DataType::Utf8, DataType::Int32])?,
            vec![DataType::Utf8, DataType::Utf8, DataType::Int32]
        );
        let err = f
            .coerce_types(&[DataType::Utf8, DataType::Utf8, DataType::Utf8])
            .unwrap_err();
        assert!(err.to_string().contains("regexp_extract"), "{err}");
        assert!(f.coerce_types(&[DataType::Utf8]).is_err());
        Ok(())
    }
}
