//! Flink's legacy table options (`connector.type`, `format.type`, ...),
//! translated to the current ones.
//!
//! Before Flink 1.11 a table named its connector and format with
//! `'connector.type' = '...'` and `'format.type' = '...'`, and every
//! connector or format option carried the `connector.` or `format.` prefix.
//! Queries written then are still around (Nexmark's q13 is one), so a table
//! declared that way is rewritten to the current keys when it is created,
//! with a deprecation note for each key, and from then on it is an ordinary
//! table. Only keys with a current counterpart are translated; any other
//! legacy key is refused by name, with the ones that are understood, rather
//! than dropped.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// Legacy keys with a fixed current counterpart.
const RENAMED: &[(&str, &str)] = &[
    ("connector.type", "connector"),
    ("connector.path", "path"),
    ("format.type", "format"),
];

/// Legacy format keys whose current name is `<format>.<rest>`.
const FORMAT_KEYS: &[&str] = &[
    "format.field-delimiter",
    "format.ignore-parse-errors",
    "format.fail-on-missing-field",
    "format.quote-character",
    "format.allow-comments",
];

/// Legacy keys that only versioned the old descriptors and mean nothing now.
const IGNORED: &[&str] = &["connector.property-version", "format.property-version"];

/// Rewrites the options of table `table` from the legacy keys to the current
/// ones when they use the legacy form (a `connector.type` key and no
/// `connector`). Returns one note per translated key, to be logged as a
/// deprecation warning; empty when the options are already current.
pub fn translate(table: &str, options: &mut BTreeMap<String, String>) -> Result<Vec<String>> {
    if !options.contains_key("connector.type") {
        return Ok(Vec::new());
    }
    if options.contains_key("connector") {
        return Err(Error::Options(format!(
            "table '{table}' has both 'connector' and the legacy 'connector.type'; \
             keep 'connector' and the current option names only"
        )));
    }
    let format = options.get("format.type").cloned();
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    let mut unknown = Vec::new();
    for (key, value) in options.iter() {
        let (key, value) = (key.clone(), value.clone());
        let current = if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == key) {
            Some((*new).to_string())
        } else if FORMAT_KEYS.contains(&key.as_str()) {
            match (&format, key.strip_prefix("format.")) {
                (Some(f), Some(rest)) => Some(format!("{f}.{rest}")),
                _ => None,
            }
        } else if IGNORED.contains(&key.as_str()) {
            notes.push(format!(
                "legacy option '{key}' of table '{table}' is ignored"
            ));
            continue;
        } else if key.starts_with("connector.") || key.starts_with("format.") {
            unknown.push(key);
            continue;
        } else {
            out.insert(key, value);
            continue;
        };
        match current {
            Some(new) => {
                notes.push(format!(
                    "legacy option '{key}' of table '{table}' is deprecated; read as '{new}'"
                ));
                out.insert(new, value);
            }
            None => unknown.push(key),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<String> = RENAMED
            .iter()
            .map(|(k, _)| *k)
            .chain(FORMAT_KEYS.iter().copied())
            .chain(IGNORED.iter().copied())
            .map(|k| format!("'{k}'"))
            .collect();
        return Err(Error::Options(format!(
            "legacy option{} {} of table '{table}' cannot be translated; the legacy keys \
             understood are {} (use the current option names for anything else)",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        )));
    }
    *options = out;
    Ok(notes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn q13s_side_table_reads_as_a_filesystem_csv_table() {
        let mut o = options(&[
            ("connector.type", "filesystem"),
            ("connector.path", "file:///tmp/side_input.txt"),
            ("format.type", "csv"),
            ("format.field-delimiter", ";"),
            ("format.property-version", "1"),
        ]);
        let notes = translate("side_input", &mut o).unwrap();
        assert_eq!(
            o,
            options(&[
                ("connector", "filesystem"),
                ("path", "file:///tmp/side_input.txt"),
                ("format", "csv"),
                ("csv.field-delimiter", ";"),
            ])
        );
        assert_eq!(notes.len(), 5);
        assert!(notes[0].contains("'connector.path'") && notes[0].contains("'path'"));
    }

    #[test]
    fn current_options_are_left_alone_and_mixed_or_unknown_legacy_keys_are_refused() {
        let mut current = options(&[("connector", "filesystem"), ("path", "/x")]);
        assert!(translate("t", &mut current).unwrap().is_empty());
        assert_eq!(current.len(), 2);

        let mut mixed = options(&[
            ("connector", "filesystem"),
            ("connector.type", "filesystem"),
        ]);
        let e = translate("t", &mut mixed).unwrap_err().to_string();
        assert!(e.contains("both 'connector' and the legacy"), "{e}");

        let mut unknown = options(&[
            ("connector.type", "kafka"),
            ("connector.topic", "bids"),
            ("format.type", "json"),
        ]);
        let e = translate("t", &mut unknown).unwrap_err().to_string();
        assert!(e.contains("'connector.topic'"), "{e}");
        assert!(e.contains("'connector.path'"), "{e}");
        // Nothing was lost: the options are as they were.
        assert_eq!(unknown.len(), 3);
    }
}
