//! `docs/operator-reference.md`: every field of the resources, generated
//! from the CRDs (and so from the Rust types and their doc comments), with a
//! test that fails when the committed file is stale.

use std::fmt::Write as _;

use serde_json::Value;

use super::crds;

/// The reference document.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Operator resource reference\n\n\
         Generated from the Rust types in `crates/riffle-operator/src/crd/` by\n\
         `riffle operator reference > docs/operator-reference.md`; do not edit. Field names and\n\
         values are the Flink Kubernetes Operator's; see `docs/operator.md` for what the operator\n\
         does with them and how to move resources over.\n",
    );
    for crd in crds() {
        let Ok(v) = serde_json::to_value(&crd) else {
            continue;
        };
        let kind = v
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = v
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let short: Vec<&str> = v
            .pointer("/spec/names/shortNames")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(version) = v.pointer("/spec/versions/0") else {
            continue;
        };
        let name = version.get("name").and_then(Value::as_str).unwrap_or("");
        let _ = write!(out, "\n## {kind}\n\n`apiVersion: {group}/{name}`");
        if !short.is_empty() {
            let _ = write!(out, ", short name `{}`", short.join("`, `"));
        }
        out.push_str(".\n");
        let schema = version.pointer("/schema/openAPIV3Schema");
        if let Some(d) = schema
            .and_then(|s| s.get("description"))
            .and_then(Value::as_str)
        {
            let _ = writeln!(out, "\n{d}.");
        }
        for part in ["spec", "status"] {
            let Some(s) = schema.and_then(|s| s.pointer(&format!("/properties/{part}"))) else {
                continue;
            };
            let _ = write!(
                out,
                "\n### {kind} `{part}`\n\n| field | type | description |\n|---|---|---|\n"
            );
            let mut rows = Vec::new();
            fields(part, s, &mut rows);
            for (path, ty, doc) in rows {
                let _ = writeln!(out, "| `{path}` | {ty} | {doc} |");
            }
        }
    }
    out
}

/// The type column of a property.
fn type_of(s: &Value) -> String {
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return "object (free-form)".into();
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect();
        return format!("one of {}", names.join(", "));
    }
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("object");
    match (ty, s.get("format").and_then(Value::as_str)) {
        ("array", _) => format!(
            "list of {}",
            type_of(s.get("items").unwrap_or(&Value::Null))
        ),
        ("object", _) if s.get("additionalProperties").is_some() => "map of string".into(),
        (t, Some(f)) => format!("{t} ({f})"),
        (t, None) => t.to_string(),
    }
}

fn fields(path: &str, s: &Value, rows: &mut Vec<(String, String, String)>) {
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, p) in props {
        let here = format!("{path}.{name}");
        let doc = p
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        rows.push((here.clone(), type_of(p), doc));
        fields(&here, p, rows);
        if let Some(items) = p.get("items") {
            fields(&format!("{here}[]"), items, rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_reference_is_generated_from_the_types() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/operator-reference.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/operator-reference.md is stale: regenerate it with \
             `cargo run -p riffle-cli -- operator reference > docs/operator-reference.md`"
        );
    }

    #[test]
    fn nested_fields_enums_and_free_form_objects_are_described() {
        let md = markdown();
        assert!(
            md.contains(
                "| `spec.job.upgradeMode` | one of `savepoint`, `last-state`, `stateless` |"
            ),
            "{md}"
        );
        assert!(md.contains("| `spec.flinkConfiguration` | object (free-form) |"));
        assert!(md.contains("| `status.reconciliationStatus.lastReconciledSpec` | string |"));
        assert!(md.contains("## FlinkSessionJob") && md.contains("## FlinkStateSnapshot"));
    }
}
