//! Reading a table's `WITH (...)` options into a connector's typed options.
//!
//! Each connector turns its table's options into one typed struct, once,
//! with a `parse(table)` function: `validate` is that parse with the result
//! dropped, and `source`/`sink` use the struct, so no option is read twice
//! and a value that passed planning cannot fail later. The helpers here keep
//! that parse short and its errors uniform:
//!
//! - [`check_keys`] rejects keys the connector does not know, listing the
//!   allowed ones (a misspelt key must not be silently ignored);
//! - [`OptionReader`] runs a value through the shared parsers of
//!   [`riffle_common::config::parse`], so `10 s` or `128 mb` mean the same in
//!   a `WITH` clause as in `config.yaml`, and a bad value reads like a bad
//!   configuration value: `invalid value "<value>" for option '<key>' of
//!   table '<table>': <expected form>` ([`invalid_value`]).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use riffle_common::config::parse::{self, BadValue, Parsed};

use crate::{Error, Result, TableDescriptor};

/// Fails if `options` has a key that is neither in `allowed` nor matches one of
/// the `prefixes`; the message lists what is allowed.
pub fn check_keys(
    table: &str,
    connector: &str,
    options: &BTreeMap<String, String>,
    allowed: &[&str],
    prefixes: &[&str],
) -> Result<()> {
    let unknown: Vec<&str> = options
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "connector")
        .filter(|k| !allowed.contains(k) && !prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut all: Vec<String> = allowed.iter().map(|s| format!("'{s}'")).collect();
    all.extend(prefixes.iter().map(|p| format!("'{p}*'")));
    Err(Error::Options(format!(
        "unsupported option{} {} for connector '{connector}' of table '{table}'; supported options: 'connector', {}",
        if unknown.len() > 1 { "s" } else { "" },
        unknown
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", "),
        all.join(", ")
    )))
}

/// The error for an option value that does not parse: value, key, table and
/// the expected form, in the configuration's style.
pub fn invalid_value(table: &str, key: &str, value: &str, expected: &BadValue) -> Error {
    Error::Options(format!(
        "invalid value {value:?} for option '{key}' of table '{table}': {expected}"
    ))
}

/// A table's options, read one key at a time through a parser.
#[derive(Debug, Clone, Copy)]
pub struct OptionReader<'a> {
    table: &'a str,
    options: &'a BTreeMap<String, String>,
}

impl<'a> OptionReader<'a> {
    /// A reader over the options of `table`.
    pub fn new(table: &'a TableDescriptor) -> Self {
        OptionReader {
            table: &table.name,
            options: &table.options,
        }
    }

    /// The text of `key`, if set.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.options.get(key).map(String::as_str)
    }

    /// The value of `key` through `parser`, `None` if the key is not set.
    pub fn get<T>(&self, key: &str, parser: impl FnOnce(&str) -> Parsed<T>) -> Result<Option<T>> {
        self.raw(key)
            .map(|v| parser(v).map_err(|e| invalid_value(self.table, key, v, &e)))
            .transpose()
    }

    /// The value of `key` through `parser`, `default` if the key is not set.
    pub fn get_or<T>(
        &self,
        key: &str,
        default: T,
        parser: impl FnOnce(&str) -> Parsed<T>,
    ) -> Result<T> {
        Ok(self.get(key, parser)?.unwrap_or(default))
    }

    /// A boolean option (`true`/`false`, any case).
    pub fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        self.get_or(key, default, parse::boolean)
    }

    /// `scan.parallelism` / `sink.parallelism`: a positive integer, as Flink
    /// requires (`None` = the parallelism of the job).
    pub fn parallelism(&self, key: &str) -> Result<Option<NonZeroUsize>> {
        self.get(key, |v| {
            let n = parse::integer(v, 1..=i64::from(i32::MAX))?;
            usize::try_from(n)
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| BadValue("expected a positive integer".into()))
        })
    }

    /// The error for `key`'s `value`, which is not of the `expected` form
    /// (for checks across several options, after each parsed on its own).
    pub fn invalid(&self, key: &str, value: &str, expected: impl Into<String>) -> Error {
        invalid_value(self.table, key, value, &BadValue(expected.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "t".into(),
            schema: Arc::new(arrow::datatypes::Schema::empty()),
            options: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partition_keys: Vec::new(),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn unknown_keys_list_allowed_ones() {
        let t = table(&[("connector", "print"), ("print-identifer", "x")]);
        let e = check_keys("t", "print", &t.options, &["print-identifier"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'print-identifer'") && e.contains("'print-identifier'"),
            "{e}"
        );
    }

    #[test]
    fn values_go_through_the_shared_parsers() -> Result<()> {
        let t = table(&[("a", "TRUE"), ("d", "1 min"), ("p", "4")]);
        let r = OptionReader::new(&t);
        assert!(r.boolean("a", false)?);
        assert!(!r.boolean("missing", false)?);
        assert_eq!(
            r.get("d", parse::duration)?,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!(r.get("missing", parse::duration)?, None);
        assert_eq!(r.parallelism("p")?, NonZeroUsize::new(4));
        Ok(())
    }

    #[test]
    fn bad_values_name_value_key_table_and_form() {
        let t = table(&[("a", "yes"), ("sink.parallelism", "0"), ("n", "-2")]);
        let r = OptionReader::new(&t);
        let e = r.boolean("a", false).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid value \"yes\" for option 'a' of table 't': expected true or false"
        );
        for key in ["sink.parallelism", "n"] {
            let e = r.parallelism(key).unwrap_err().to_string();
            assert!(
                e.contains(&format!("for option '{key}' of table 't'"))
                    && e.contains("expected an integer between 1 and"),
                "{e}"
            );
        }
    }
}
