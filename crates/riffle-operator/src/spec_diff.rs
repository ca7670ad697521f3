//! What a change of a resource's spec asks for, as the Flink operator
//! classifies it, and the record of the spec last deployed.
//!
//! A change is one of [`DiffType`]: nothing to do (`upgradeMode`, snapshot
//! nonces, `kubernetes.operator.*` and `job.autoscaler.*` keys), a rescale
//! (`job.parallelism`, `taskManager.replicas`, per-vertex overrides), a
//! redeploy from `initialSavepointPath` (`savepointRedeployNonce`), or an
//! upgrade (anything else). The comparison is over the spec as JSON with the
//! ignored fields removed, so a field added to the types later counts as an
//! upgrade until it is classified, never as nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crd::common::{JobState, UpgradeMode};

/// What a spec change needs, least to most (the largest change wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffType {
    /// Nothing: the change does not touch the running cluster.
    Ignore,
    /// Only parallelism changed.
    Scale,
    /// The cluster or job changed: stop and start again per `upgradeMode`.
    Upgrade,
    /// `savepointRedeployNonce` changed: start from `initialSavepointPath`.
    SavepointRedeploy,
}

/// `spec.job` fields that never need the cluster to change.
const IGNORED_JOB_FIELDS: &[&str] = &[
    "upgradeMode",
    "savepointTriggerNonce",
    "checkpointTriggerNonce",
    "autoscalerResetNonce",
    "allowNonRestoredState",
    "initialSavepointPath",
    "savepointRedeployNonce",
];

/// Configuration key prefixes whose changes need nothing redeployed.
const IGNORED_KEY_PREFIXES: &[&str] = &[
    "kubernetes.operator.",
    "job.autoscaler.",
    "parallelism.default",
];

/// The configuration key of per-vertex parallelism (a rescale).
pub const VERTEX_PARALLELISM_OVERRIDES: &str = "pipeline.jobvertex-parallelism-overrides";

/// A spec as JSON with the fields a change of which needs nothing removed,
/// and the configuration flattened (nested and dotted forms compare equal).
pub fn normalized(spec: &Value) -> Value {
    let mut v = spec.clone();
    if let Some(job) = v.get_mut("job").and_then(Value::as_object_mut) {
        for f in IGNORED_JOB_FIELDS {
            job.remove(*f);
        }
    }
    if let Some(obj) = v.as_object_mut() {
        let conf = obj
            .remove("flinkConfiguration")
            .map(|c| flatten(&c))
            .unwrap_or_default();
        let kept: serde_json::Map<String, Value> = conf
            .into_iter()
            .filter(|(k, _)| !IGNORED_KEY_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if !kept.is_empty() {
            obj.insert("flinkConfiguration".into(), Value::Object(kept));
        }
    }
    v
}

/// A `flinkConfiguration` object (nested YAML or flat keys) as flat
/// `key → text` pairs: `{a: {b: 1}}` is `a.b = "1"`; a list is its items
/// joined with `;` (Flink's list form).
pub fn flatten(value: &Value) -> std::collections::BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Null => {}
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Array(items) => {
                let text: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.insert(prefix.to_string(), text.join(";"));
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// Classifies the change from `old` to `new` (both specs as JSON).
pub fn diff(old: &Value, new: &Value) -> DiffType {
    let nonce = |v: &Value| v.pointer("/job/savepointRedeployNonce").cloned();
    let redeploy = nonce(new).filter(|n| !n.is_null() && Some(n) != nonce(old).as_ref());
    if redeploy.is_some() {
        return DiffType::SavepointRedeploy;
    }
    let (a, b) = (normalized(old), normalized(new));
    if a == b {
        return DiffType::Ignore;
    }
    if without_scale(&a) == without_scale(&b) {
        DiffType::Scale
    } else {
        DiffType::Upgrade
    }
}

fn without_scale(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(job) = v.get_mut("job").and_then(Value::as_object_mut) {
        job.remove("parallelism");
    }
    if let Some(tm) = v.get_mut("taskManager").and_then(Value::as_object_mut) {
        tm.remove("replicas");
    }
    if let Some(conf) = v
        .get_mut("flinkConfiguration")
        .and_then(Value::as_object_mut)
    {
        conf.remove(VERTEX_PARALLELISM_OVERRIDES);
    }
    v
}

/// `spec.job.state` of a spec as JSON (`running` when absent).
pub fn job_state(spec: &Value) -> JobState {
    match spec.pointer("/job/state").and_then(Value::as_str) {
        Some("suspended") => JobState::Suspended,
        _ => JobState::Running,
    }
}

/// `spec.job.upgradeMode` of a spec as JSON (`stateless` when absent).
pub fn upgrade_mode(spec: &Value) -> UpgradeMode {
    match spec.pointer("/job/upgradeMode").and_then(Value::as_str) {
        Some("savepoint") => UpgradeMode::Savepoint,
        Some("last-state") => UpgradeMode::LastState,
        _ => UpgradeMode::Stateless,
    }
}

/// A stable fingerprint of what a spec deploys: the normalized spec's JSON,
/// hashed. Written on the cluster, it tells whether the cluster already
/// runs a given spec.
pub fn fingerprint(spec: &Value) -> String {
    format!("{:016x}", text_hash(&normalized(spec).to_string()))
}

/// FNV-1a (64 bits) of `text`: stable across processes and versions, unlike
/// the standard library's hasher.
pub fn text_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `status.reconciliationStatus.lastReconciledSpec` / `lastStableSpec`:
/// Flink's `{"spec": ..., "resource_metadata": {...}}` JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciledSpec {
    /// The spec.
    pub spec: Value,
    /// About the deployment of it.
    pub resource_metadata: ReconciledMetadata,
}

/// The `resource_metadata` of a [`ReconciledSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconciledMetadata {
    /// The resource's apiVersion.
    pub api_version: String,
    /// The spec was the resource's first deployment.
    #[serde(default)]
    pub first_deployment: bool,
    /// The upgrade mode of the transition to this spec when it differs
    /// from the spec's own (a rescale or a recovery uses last-state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_mode: Option<UpgradeMode>,
    /// The transition redeploys from `job.initialSavepointPath`
    /// (`savepointRedeployNonce` changed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub savepoint_redeploy: bool,
}

impl ReconciledSpec {
    /// Parses the status text; `None` when absent.
    pub fn parse(text: Option<&str>) -> Result<Option<ReconciledSpec>, String> {
        match text {
            None => Ok(None),
            Some(t) => serde_json::from_str(t)
                .map(Some)
                .map_err(|e| format!("status.reconciliationStatus holds an unreadable spec: {e}")),
        }
    }

    /// The status text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(parallelism: i64, sql: &str, extra: Value) -> Value {
        let mut s = json!({
            "image": "riffle:1",
            "job": { "sql": sql, "parallelism": parallelism, "upgradeMode": "savepoint" },
            "flinkConfiguration": { "execution.checkpointing.interval": "1 s" },
        });
        if let (Some(o), Value::Object(e)) = (s.as_object_mut(), extra) {
            o.extend(e);
        }
        s
    }

    #[test]
    fn changes_are_classified_as_the_flink_operator_does() {
        let base = spec(2, "INSERT 1", json!({}));
        assert_eq!(diff(&base, &base), DiffType::Ignore);
        let mut mode = base.clone();
        mode["job"]["upgradeMode"] = json!("last-state");
        mode["job"]["savepointTriggerNonce"] = json!(3);
        mode["flinkConfiguration"]["kubernetes.operator.periodic.savepoint.interval"] = json!("1h");
        assert_eq!(diff(&base, &mode), DiffType::Ignore);
        assert_eq!(
            diff(&base, &spec(4, "INSERT 1", json!({}))),
            DiffType::Scale
        );
        let replicas = spec(2, "INSERT 1", json!({ "taskManager": { "replicas": 3 } }));
        let replicas2 = spec(2, "INSERT 1", json!({ "taskManager": { "replicas": 5 } }));
        assert_eq!(diff(&replicas, &replicas2), DiffType::Scale);
        assert_eq!(
            diff(&base, &spec(4, "INSERT 2", json!({}))),
            DiffType::Upgrade
        );
        assert_eq!(
            diff(&base, &spec(2, "INSERT 1", json!({ "restartNonce": 1 }))),
            DiffType::Upgrade
        );
        let mut redeploy = base.clone();
        redeploy["job"]["savepointRedeployNonce"] = json!(1);
        assert_eq!(diff(&base, &redeploy), DiffType::SavepointRedeploy);
        assert_eq!(diff(&redeploy, &redeploy), DiffType::Ignore);
    }

    #[test]
    fn nested_and_dotted_configuration_are_the_same_spec() {
        let dotted = spec(
            1,
            "x",
            json!({ "flinkConfiguration": { "a.b": "1", "c": 2 } }),
        );
        let nested = spec(
            1,
            "x",
            json!({ "flinkConfiguration": { "a": { "b": 1 }, "c": "2" } }),
        );
        assert_eq!(diff(&dotted, &nested), DiffType::Ignore);
        assert_eq!(fingerprint(&dotted), fingerprint(&nested));
        assert_ne!(fingerprint(&dotted), fingerprint(&spec(1, "y", json!({}))));
    }

    #[test]
    fn the_reconciled_spec_round_trips_in_flinks_shape() -> Result<(), String> {
        let r = ReconciledSpec {
            spec: spec(1, "x", json!({})),
            resource_metadata: ReconciledMetadata {
                api_version: "riffle.dev/v1beta1".into(),
                first_deployment: true,
                upgrade_mode: None,
                savepoint_redeploy: false,
            },
        };
        let text = r.to_text();
        assert!(text.contains("\"resource_metadata\":{\"apiVersion\""));
        assert_eq!(ReconciledSpec::parse(Some(&text))?, Some(r));
        assert!(ReconciledSpec::parse(Some("{")).is_err());
        Ok(())
    }
}
