//! A small YAML writer for the generated CRDs: block style, keys sorted
//! (so the output does not depend on how a map keeps its keys), every string that a YAML reader could take for something
//! else double-quoted (JSON string syntax, which YAML reads the same).

use serde_json::Value;

/// The YAML document of a JSON value (an object).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => {
            for (k, v) in sorted(map) {
                out.push_str(&" ".repeat(indent));
                out.push_str(&scalar_text(k));
                write_entry(out, v, indent);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key on the dash's line, the rest under it.
                        let mut first = true;
                        for (k, v) in sorted(m) {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&" ".repeat(indent + 2));
                            }
                            out.push_str(&scalar_text(k));
                            write_entry(out, v, indent + 2);
                        }
                    }
                    other => {
                        out.push(' ');
                        out.push_str(&inline(other));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// After `key`: `: scalar`, or a nested block.
fn write_entry(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push_str(":\n");
            write_value(out, v, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str(":\n");
            write_value(out, v, indent);
        }
        other => {
            out.push_str(": ");
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// Keys in sorted order, whatever order the map keeps.
fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_text(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain scalar when nothing in it means something to YAML,
/// else quoted.
fn scalar_text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_lists_and_quoting() {
        let v = serde_json::json!({
            "kind": "CustomResourceDefinition",
            "spec": {
                "names": {"shortNames": ["flinkdep"], "plural": "flinkdeployments"},
                "versions": [{"name": "v1beta1", "served": true, "columns": []}],
                "empty": {},
                "text": "a: b # c",
                "yes": "no",
                "path": ".status.state",
                "n": 1
            }
        });
        assert_eq!(
            to_yaml(&v),
            "kind: CustomResourceDefinition\nspec:\n  empty: {}\n  \"n\": 1\n  names:\n    \
             plural: flinkdeployments\n    shortNames:\n    - flinkdep\n  \
             path: \".status.state\"\n  text: \"a: b # c\"\n  versions:\n  - columns: []\n    \
             name: v1beta1\n    served: true\n  \"yes\": \"no\"\n"
        );
    }
}
