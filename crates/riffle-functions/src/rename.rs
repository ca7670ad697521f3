//! A scalar function registered under a name of the user's choosing.
//!
//! `CREATE FUNCTION my_count AS 'com.github.nexmark.flink.udf.CountChar'`
//! makes `my_count` call the compiled-in `count_char`. DataFusion looks a
//! function up by [`ScalarUDFImpl::name`] and [`ScalarUDFImpl::aliases`], and
//! names result columns after it, so the wrapper answers with the user's
//! name and hands every other question to the wrapped function.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::interval_arithmetic::Interval;
use datafusion_expr::preimage::PreimageResult;
use datafusion_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion_expr::udf_eq::UdfEq;
use datafusion_expr::{
    ColumnarValue, Documentation, Expr, ExpressionPlacement, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping,
};

/// A scalar function under another name, with optional aliases.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RenamedFunction {
    /// The name the function is registered and displayed under.
    name: String,
    /// Further names that resolve to it.
    aliases: Vec<String>,
    /// The function that does the work.
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
}

impl RenamedFunction {
    /// Wraps `function` under `name`; the wrapped function's own name and
    /// aliases are not carried over.
    pub fn new(function: &ScalarUDF, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            aliases: Vec::new(),
            inner: Arc::clone(function.inner()).into(),
        }
    }

    /// Adds names that also resolve to the function.
    pub fn with_aliases(mut self, aliases: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.aliases.extend(aliases.into_iter().map(Into::into));
        self
    }

    /// The wrapped function's own name.
    pub fn inner_name(&self) -> &str {
        self.inner.name()
    }

    /// The renamed function, ready to register.
    pub fn into_udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

/// Returns `function` registered under `name`.
pub fn rename_function(function: &ScalarUDF, name: impl Into<String>) -> Arc<ScalarUDF> {
    RenamedFunction::new(function, name).into_udf()
}

// `name`, `aliases` and `schema_name` (which defaults to `name(args)`) answer
// for the wrapper; everything else is the wrapped function's.
impl ScalarUDFImpl for RenamedFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let updated = self.inner.with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Self {
            name: self.name.clone(),
            aliases: self.aliases.clone(),
            inner: Arc::clone(updated.inner()).into(),
        }))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.conditional_arguments(args)
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(
        &self,
        interval: &Interval,
        inputs: &[&Interval],
    ) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn struct_field_mapping(
        &self,
        literal_args: &[Option<ScalarValue>],
    ) -> Option<StructFieldMapping> {
        self.inner.struct_field_mapping(literal_args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.placement(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::AsArray;
    use arrow::datatypes::{Field, Int64Type};
    use datafusion_expr::{col, lit};

    use crate::CountChar;

    #[test]
    fn answers_to_the_new_name() -> Result<()> {
        let original = ScalarUDF::new_from_impl(CountChar::new());
        let renamed = RenamedFunction::new(&original, "my_count")
            .with_aliases(["slashes"])
            .into_udf();
        assert_eq!(renamed.name(), "my_count");
        assert_eq!(renamed.aliases(), ["slashes".to_string()]);
        // Result columns are named after the new name.
        let expr = renamed.call(vec![col("url"), lit("/")]);
        assert_eq!(expr.schema_name().to_string(), "my_count(url,Utf8(\"/\"))");
        // Everything else is the original's.
        assert_eq!(renamed.signature(), original.signature());
        assert_eq!(
            renamed.coerce_types(&[DataType::Utf8View, DataType::Utf8])?,
            vec![DataType::Utf8View, DataType::Utf8]
        );
        let args = vec![
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("a/b/c".into()))),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("/".into()))),
        ];
        let out = renamed.invoke_with_args(ScalarFunctionArgs {
            arg_fields: vec![
                Arc::new(Field::new("a", DataType::Utf8, true)),
                Arc::new(Field::new("b", DataType::Utf8, true)),
            ],
            args,
            number_rows: 1,
            return_field: Arc::new(Field::new("r", DataType::Int64, false)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        assert_eq!(out.into_array(1)?.as_primitive::<Int64Type>().value(0), 2);
        Ok(())
    }

    #[test]
    fn equality_follows_name_and_function() -> Result<()> {
        let original = ScalarUDF::new_from_impl(CountChar::new());
        let a = rename_function(&original, "a");
        assert_eq!(a, rename_function(&original, "a"));
        assert_ne!(a, rename_function(&original, "b"));
        assert_ne!(*a, original);
        Ok(())
    }
}
