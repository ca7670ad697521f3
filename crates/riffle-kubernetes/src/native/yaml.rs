//! Pod template files: YAML read into the API's `Pod` type.
//!
//! The YAML is loaded with the parser Riffle already uses for `config.yaml`
//! and turned into JSON, which the API types deserialize; a field the `Pod`
//! type does not have is an error naming it, not silently dropped.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::KubeError;

/// Reads a pod template file.
pub fn read_pod(path: &str) -> Result<Pod, KubeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| KubeError::Invalid(format!("cannot read the pod template {path}: {e}")))?;
    parse_pod(&text).map_err(|e| KubeError::Invalid(format!("pod template {path}: {e}")))
}

/// Parses the text of a pod template.
pub fn parse_pod(text: &str) -> Result<Pod, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let [doc] = docs.as_slice() else {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    };
    let mut value = to_json(doc)?;
    quantities_as_text(&mut value);
    if let Some(kind) = value.get("kind").and_then(Value::as_str)
        && kind != "Pod"
    {
        return Err(format!("expected kind: Pod, found kind: {kind}"));
    }
    let pod: Pod = deserialize_strict(&value)?;
    Ok(pod)
}

/// Reads a pod template given as a JSON object (a custom resource's
/// `podTemplate`), with the same checks as a file.
pub fn pod_from_json(value: &Value) -> Result<Pod, String> {
    let mut value = value.clone();
    quantities_as_text(&mut value);
    deserialize_strict(&value)
}

/// Deserializes, refusing fields the type does not know by comparing the
/// round trip with the input.
fn deserialize_strict(value: &Value) -> Result<Pod, String> {
    let pod: Pod = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&pod).map_err(|e| e.to_string())?;
    if let Some(path) = first_unknown(value, &back, String::new()) {
        return Err(format!("unknown field {path}"));
    }
    Ok(pod)
}

/// The first path present in `input` but not in `known` (ignoring nulls and
/// the `apiVersion`/`kind` that `Pod` writes itself).
fn first_unknown(input: &Value, known: &Value, path: String) -> Option<String> {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match b.get(k) {
                Some(w) => first_unknown(v, w, here),
                None if v.is_null() => None,
                None if v.as_object().is_some_and(Map::is_empty) => None,
                None if v.as_array().is_some_and(Vec::is_empty) => None,
                None => Some(here),
            }
        }),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b.iter())
            .enumerate()
            .find_map(|(i, (v, w))| first_unknown(v, w, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// YAML lets `cpu: 1` be a number; the API's quantities are text.
fn quantities_as_text(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match (k.as_str(), &mut *child) {
                    ("limits" | "requests", Value::Object(q)) => {
                        for n in q.values_mut() {
                            if let Value::Number(x) = n {
                                *n = Value::String(x.to_string());
                            }
                        }
                    }
                    ("sizeLimit", Value::Number(x)) => *child = Value::String(x.to_string()),
                    _ => quantities_as_text(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(quantities_as_text),
        _ => {}
    }
}

fn to_json(y: &Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::Number(Number::from(*i)),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(r.clone()), Value::Number),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be text, found {other:?}")),
                };
                m.insert(key, to_json(v)?);
            }
            Value::Object(m)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported in pod templates".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_reads_into_a_pod() -> Result<(), String> {
        let pod = parse_pod(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    team: data\nspec:\n  \
             hostNetwork: true\n  containers:\n  - name: flink-main-container\n    env:\n    \
             - name: A\n      value: \"1\"\n    resources:\n      limits:\n        \
             ephemeral-storage: 2Gi\n        cpu: 1\n  - name: sidecar\n    image: busybox\n",
        )?;
        let spec = pod.spec.ok_or("no spec")?;
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(spec.containers.len(), 2);
        assert_eq!(pod.metadata.labels.ok_or("labels")?["team"], "data");
        Ok(())
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse_pod("kind: Pod\nspec:\n  containers: []\n  hostNetwrok: true\n").unwrap_err();
        assert!(e.contains("spec.hostNetwrok"), "{e}");
        let e = parse_pod("kind: Deployment\n").unwrap_err();
        assert!(e.contains("kind: Pod"), "{e}");
        let e = parse_pod("spec: [\n").unwrap_err();
        assert!(!e.is_empty());
        let e = parse_pod("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.contains("one YAML document"), "{e}");
    }
}
