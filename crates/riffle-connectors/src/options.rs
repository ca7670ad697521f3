//! Checking `WITH (...)` options against what a connector allows.

use std::collections::BTreeMap;

use crate::{Error, Result};

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

/// Reads a boolean option.
pub fn get_bool(options: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool> {
    match options.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(Error::Options(format!(
            "option '{key}' must be 'true' or 'false', got '{v}'"
        ))),
    }
}

/// Reads a non-negative integer option.
pub fn get_u64(options: &BTreeMap<String, String>, key: &str) -> Result<Option<u64>> {
    options
        .get(key)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                Error::Options(format!(
                    "option '{key}' must be a non-negative integer, got '{v}'"
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_list_allowed_ones() {
        let mut o = BTreeMap::new();
        o.insert("connector".to_string(), "print".to_string());
        o.insert("print-identifer".to_string(), "x".to_string());
        let e = check_keys("t", "print", &o, &["print-identifier"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'print-identifer'") && e.contains("'print-identifier'"),
            "{e}"
        );
    }
}
