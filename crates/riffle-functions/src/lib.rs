//! Flink SQL built-in functions that DataFusion lacks or defines differently,
//! as DataFusion scalar UDFs.
//!
//! Place in the data path: `riffle-sql` registers [`flink_scalar_functions`]
//! after DataFusion's default functions, so a Flink name such as
//! `DATE_FORMAT` or `TO_TIMESTAMP` resolves to the Flink semantics here and
//! shadows DataFusion's function of the same name or alias. For
//! `CREATE FUNCTION name AS 'identifier'` it asks
//! [`user_function_by_identifier`] for the function compiled into the binary
//! and registers it under the user's name with [`rename_function`]. The
//! planned expressions then run in `riffle-runtime`'s operators, batch by
//! batch, like any other DataFusion function.
//!
//! Entry points: [`flink_scalar_functions`] (every built-in, ready to
//! register), [`user_function_by_identifier`] (the user functions by class
//! name or short name), [`RenamedFunction`] / [`rename_function`] (a function
//! under another name); each function's `ScalarUDFImpl` type for direct use.
//!
//! Each function states the Flink behaviour it follows, down to NULL
//! handling and result types, at the top of its module; arguments of the
//! wrong type fail at planning time with the function's name and the type.
//!
//! Must not depend on: other Riffle crates or DataFusion's execution crates.
//! It needs only Arrow, `datafusion-common` and `datafusion-expr`, so the
//! planner and the runtime can both link it.

#![warn(missing_docs)]

mod args;
mod java_datetime;

pub mod count_char;
pub mod current_time;
pub mod date_format;
pub mod date_part;
pub mod modulo;
pub mod proctime;
pub mod regexp_extract;
pub mod rename;
pub mod split_index;
pub mod to_timestamp;
pub mod to_timestamp_ltz;

use std::sync::Arc;

use datafusion_expr::ScalarUDF;

pub use count_char::CountChar;
pub use current_time::{CurrentTime, CurrentTimeKind, current_time_functions};
pub use date_format::DateFormat;
pub use date_part::{DatePart, DatePartFunc};
pub use modulo::Mod;
pub use proctime::Proctime;
pub use regexp_extract::RegexpExtract;
pub use rename::{RenamedFunction, rename_function};
pub use split_index::SplitIndex;
pub use to_timestamp::ToTimestamp;
pub use to_timestamp_ltz::ToTimestampLtz;

/// Every Flink built-in function in this crate, to register after
/// DataFusion's defaults so that these take precedence.
///
/// The current-time functions depend on the session time zone and are not
/// here: see [`current_time_functions`].
///
/// `CHAR_LENGTH` / `CHARACTER_LENGTH` are not here: DataFusion's
/// `character_length` already counts code points as Flink does.
pub fn flink_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut functions = vec![
        udf(DateFormat::new()),
        udf(ToTimestamp::new()),
        udf(ToTimestampLtz::new()),
        udf(SplitIndex::new()),
        udf(RegexpExtract::new()),
        udf(Mod::new()),
        udf(Proctime::new()),
    ];
    functions.extend(
        DatePart::ALL
            .into_iter()
            .map(|part| udf(DatePartFunc::new(part))),
    );
    functions
}

/// A user function compiled into the binary.
struct UserFunction {
    /// Every identifier a `CREATE FUNCTION ... AS '<identifier>'` may use
    /// for it: a short name and the Java class name of the Flink original.
    identifiers: &'static [&'static str],
    /// Builds the function under its own name.
    make: fn() -> ScalarUDF,
}

const USER_FUNCTIONS: &[UserFunction] = &[UserFunction {
    identifiers: &["count_char", "com.github.nexmark.flink.udf.CountChar"],
    make: count_char_udf,
}];

fn count_char_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(CountChar::new())
}

/// Resolves the identifier of `CREATE FUNCTION name AS 'identifier'` to a
/// function compiled into the binary, under its own name; register it under
/// the user's `name` with [`rename_function`].
///
/// The identifier must match exactly (Java class names are case-sensitive).
/// Returns `None` for an identifier Riffle does not provide.
pub fn user_function_by_identifier(identifier: &str) -> Option<Arc<ScalarUDF>> {
    USER_FUNCTIONS
        .iter()
        .find(|f| f.identifiers.contains(&identifier))
        .map(|f| Arc::new((f.make)()))
}

/// Every identifier [`user_function_by_identifier`] accepts, for error messages.
pub fn user_function_identifiers() -> Vec<&'static str> {
    USER_FUNCTIONS
        .iter()
        .flat_map(|f| f.identifiers.iter().copied())
        .collect()
}

fn udf(function: impl datafusion_expr::ScalarUDFImpl + 'static) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(function))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashSet;

    use datafusion_common::Result;

    #[test]
    fn built_ins_have_unique_lowercase_names() -> Result<()> {
        let functions = flink_scalar_functions();
        let names: HashSet<_> = functions.iter().map(|f| f.name().to_string()).collect();
        assert_eq!(names.len(), functions.len());
        for name in &names {
            assert_eq!(name, &name.to_lowercase());
        }
        for expected in [
            "date_format",
            "to_timestamp",
            "split_index",
            "regexp_extract",
            "mod",
            "hour",
            "dayofweek",
        ] {
            assert!(names.contains(expected), "{expected} missing");
        }
        Ok(())
    }

    #[test]
    fn datafusion_coercion_uses_the_functions_rules() -> Result<()> {
        use arrow::datatypes::{DataType, Field};
        use datafusion_expr::type_coercion::functions::fields_with_udf;

        let coerce = |name: &str, types: &[DataType]| -> Result<Vec<DataType>> {
            let functions = flink_scalar_functions();
            let Some(function) = functions.iter().find(|f| f.name() == name) else {
                panic!("{name} is not registered");
            };
            let fields: Vec<_> = types
                .iter()
                .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                .collect();
            Ok(fields_with_udf(&fields, function.as_ref())?
                .iter()
                .map(|f| f.data_type().clone())
                .collect())
        };
        assert_eq!(
            coerce("mod", &[DataType::Null, DataType::Int16])?,
            vec![DataType::Int16, DataType::Int16]
        );
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        assert_eq!(
            coerce("split_index", &[dict, DataType::Utf8, DataType::Int64])?,
            vec![DataType::Utf8, DataType::Utf8, DataType::Int64]
        );
        let err = coerce("hour", &[DataType::Float64]).unwrap_err();
        assert!(err.to_string().contains("hour expects"), "{err}");
        assert!(err.to_string().contains("Float64"), "{err}");
        Ok(())
    }

    #[test]
    fn resolves_user_functions_by_identifier() -> Result<()> {
        // CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'
        let by_class = user_function_by_identifier("com.github.nexmark.flink.udf.CountChar");
        let by_name = user_function_by_identifier("count_char");
        assert_eq!(by_class.as_ref().map(|f| f.name()), Some("count_char"));
        assert_eq!(by_class, by_name);
        assert!(user_function_by_identifier("com.example.Unknown").is_none());
        assert!(user_function_by_identifier("COUNT_CHAR").is_none());

        let registered = rename_function(&by_class.unwrap(), "cc");
        assert_eq!(registered.name(), "cc");
        Ok(())
    }
}
