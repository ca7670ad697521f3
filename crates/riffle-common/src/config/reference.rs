//! What the declarations and a resolved configuration look like to people:
//! the effective values with their origins (`riffle config`, the REST
//! configuration endpoints) and the generated key reference (`docs/config.md`).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::options::*;
use super::{Configuration, OptionTable, Origin, declaration};

/// The tables a job's configuration is drawn from.
pub(crate) const JOB_TABLES: [OptionTable; 5] = [
    EXECUTION_OPTIONS,
    CHECKPOINTING_OPTIONS,
    RESTART_OPTIONS,
    STATE_OPTIONS,
    CONNECTOR_OPTIONS,
];

/// Every table (a cluster process shows them all).
pub(crate) const ALL_TABLES: &[OptionTable] = TABLES;

/// One key's effective value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveValue {
    /// The key (the current name, also when an older name set it).
    pub key: String,
    /// The value as written, or `******` for a secret.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

/// Whether a key's value must not be shown (Flink's sensitive-key rule).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "apikey",
        "auth-params",
        "service-key",
        "jaas.config",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn shown(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        "******".into()
    } else {
        value.trim().to_string()
    }
}

/// The effective value of every key of `tables` that has one (set or
/// default), then every key that is set but not declared, sorted by key.
pub(crate) fn effective_values(c: &Configuration, tables: &[OptionTable]) -> Vec<EffectiveValue> {
    let mut out = Vec::new();
    for option in tables.iter().flat_map(|t| t.options.iter()) {
        let found = std::iter::once(option.key)
            .chain(option.fallback_keys.iter().copied())
            .find_map(|k| c.entry(k).filter(|e| !e.value.trim().is_empty()));
        let (value, origin) = match (found, option.default) {
            (Some(e), _) => (e.value.as_str(), e.origin.clone()),
            (None, Some(d)) => (d, Origin::Default),
            (None, None) => continue,
        };
        out.push(EffectiveValue {
            key: option.key.to_string(),
            value: shown(option.key, value),
            origin,
        });
    }
    for (key, entry) in c.entries_with_origin() {
        if declaration(key).is_none() {
            out.push(EffectiveValue {
                key: key.to_string(),
                value: shown(key, &entry.value),
                origin: entry.origin.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Effective values as aligned `key: value  (origin)` lines.
pub fn format_effective(values: &[EffectiveValue]) -> String {
    let width = values
        .iter()
        .map(|v| v.key.len() + v.value.len())
        .max()
        .unwrap_or(0)
        + 2;
    let mut out = String::new();
    for v in values {
        let pair = format!("{}: {}", v.key, v.value);
        let _ = writeln!(out, "{pair:<width$}  # {}", v.origin);
    }
    out
}

/// The reference of every declared key, as Markdown (`docs/config.md`).
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key Riffle reads, generated from the declarations in\n\
         `crates/riffle-common/src/config/options.rs` by `riffle config --reference`\n\
         (a test fails when this file is out of date). Keys are Flink's where Flink has\n\
         them, with Flink's defaults; they are read from `config.yaml` / `flink-conf.yaml`\n\
         (in `RIFFLE_CONF_DIR` or `FLINK_CONF_DIR`), `RIFFLE_PROPERTIES` / `FLINK_PROPERTIES`,\n\
         `-D key=value` and the script's `SET` statements, later sources winning.\n\n\
         Value forms: durations are a whole number with a unit (`ns`, `µs`, `ms`, `s`, `min`,\n\
         `h`, `d`, or long forms such as `seconds`; a bare number is milliseconds); memory sizes\n\
         a whole number with `b`, `kb`, `mb`, `gb`, `tb` (powers of 1024; bare = bytes); booleans\n\
         `true`/`false`; enums in any case; lists `a;b`; maps `k1:v1,k2:v2`.\n",
    );
    for table in TABLES {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n| key | type | default | description |\n| --- | --- | --- | --- |\n",
            table.title,
            table.doc.trim()
        );
        for o in table.options {
            let mut doc = o.doc.trim().to_string();
            if !o.fallback_keys.is_empty() {
                let _ = write!(doc, " (older name: `{}`)", o.fallback_keys.join("`, `"));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                o.key,
                o.kind.describe(),
                o.default.map_or("(none)".to_string(), |d| format!("`{d}`")),
                doc
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_config_md_is_up_to_date() -> std::io::Result<()> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
        let want = reference_markdown();
        if std::env::var_os("RIFFLE_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want)?;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/config.md is out of date: run `cargo run -- config --reference > docs/config.md` \
             (or this test with RIFFLE_UPDATE_DOCS=1)"
        );
        Ok(())
    }

    #[test]
    fn effective_values_show_origins_defaults_and_mask_secrets() {
        let mut c = Configuration::new();
        c.set_from("state.checkpoints.dir", "/chk", Origin::Dynamic);
        c.set_from("s3.secret-key", "hunter2", Origin::Dynamic);
        c.set_from("custom.key", "x", Origin::Set { line: 2, column: 1 });
        let v = effective_values(&c, TABLES);
        let get = |k: &str| v.iter().find(|e| e.key == k).cloned();
        let dir = get(CHECKPOINTS_DIR).map(|e| (e.value, e.origin));
        assert_eq!(dir, Some(("/chk".to_string(), Origin::Dynamic)));
        assert_eq!(
            get(S3_SECRET_KEY).map(|e| e.value).as_deref(),
            Some("******")
        );
        assert_eq!(
            get(PARALLELISM_DEFAULT).map(|e| e.origin),
            Some(Origin::Default)
        );
        assert!(get("custom.key").is_some());
        assert!(
            get(CHECKPOINTING_INTERVAL).is_none(),
            "unset without default"
        );
        let text = format_effective(&v);
        assert!(text.contains("execution.checkpointing.dir: /chk") && text.contains("# -D"));
        assert!(!text.contains("hunter2"));
    }
}
