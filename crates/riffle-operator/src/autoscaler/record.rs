//! What the autoscaler keeps for a FlinkDeployment between reconciliations
//! (the ConfigMap `autoscaler-<name>`, as the Flink operator names it), and
//! how its overrides shape the spec the operator deploys.
//!
//! The overrides are not written into the user's spec: the operator deploys
//! the *effective* spec, the user's with the autoscaler's per-vertex
//! parallelisms merged into `pipeline.jobvertex-parallelism-overrides`.
//! A new override therefore shows as a parallelism-only change against the
//! last reconciled spec, which the rules carry out as a rescale; the
//! autoscaler turned off, the effective spec is the user's again and the
//! same path scales back.
//!
//! Overrides name vertices by their index in the job graph. A change of the
//! user's spec that redeploys (anything but `job.state`, the nonces and the
//! `kubernetes.operator.*` / `job.autoscaler.*` keys) may change the graph,
//! so it starts the autoscaler afresh, as `autoscalerResetNonce` does.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::autoscaler::decide::ScalingState;
use crate::spec_diff::{self, VERTEX_PARALLELISM_OVERRIDES};

/// The ConfigMap of resource `name`.
pub fn configmap_name(name: &str) -> String {
    format!("autoscaler-{name}")
}

/// The ConfigMap's keys.
const OVERRIDES: &str = "parallelismOverrides";
const STATE: &str = "scalingState";
const FINGERPRINT: &str = "specFingerprint";
const RESET_NONCE: &str = "resetNonce";
const EVALUATIONS: &str = "evaluations";
const LAST_EVALUATION: &str = "lastEvaluation";

/// The autoscaler's memory of one resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Vertex index → parallelism, what the autoscaler decided.
    pub overrides: BTreeMap<String, u32>,
    /// What decisions remember (scale-ups to judge, scale-downs waiting).
    pub state: ScalingState,
    /// The user's spec these overrides were decided for.
    pub spec_fingerprint: String,
    /// `spec.job.autoscalerResetNonce` they were decided under.
    pub reset_nonce: Option<i64>,
    /// How many times the job was evaluated.
    pub evaluations: u64,
    /// The last evaluation, per vertex, for people.
    pub last_evaluation: String,
}

impl Record {
    /// A fresh record for the user's spec `user` (JSON).
    pub fn fresh(user: &Value) -> Record {
        Record {
            spec_fingerprint: user_fingerprint(user),
            reset_nonce: reset_nonce(user),
            ..Record::default()
        }
    }

    /// Reads a ConfigMap's data; `Err` says what is unreadable.
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Record, String> {
        let get = |k: &str| data.get(k).map(String::as_str).unwrap_or_default();
        let overrides = parse_overrides(get(OVERRIDES))?;
        let state = match get(STATE) {
            "" => ScalingState::default(),
            text => serde_json::from_str(text).map_err(|e| format!("{STATE}: {e}"))?,
        };
        let number = |k: &str| -> Result<Option<i64>, String> {
            match get(k) {
                "" => Ok(None),
                t => t.parse().map(Some).map_err(|e| format!("{k}: {e}")),
            }
        };
        Ok(Record {
            overrides,
            state,
            spec_fingerprint: get(FINGERPRINT).to_string(),
            reset_nonce: number(RESET_NONCE)?,
            evaluations: number(EVALUATIONS)?.map_or(0, |n| n.max(0) as u64),
            last_evaluation: get(LAST_EVALUATION).to_string(),
        })
    }

    /// The ConfigMap's data.
    pub fn to_data(&self) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        d.insert(OVERRIDES.into(), overrides_text(&self.overrides));
        d.insert(
            STATE.into(),
            serde_json::to_string(&self.state).unwrap_or_default(),
        );
        d.insert(FINGERPRINT.into(), self.spec_fingerprint.clone());
        if let Some(n) = self.reset_nonce {
            d.insert(RESET_NONCE.into(), n.to_string());
        }
        d.insert(EVALUATIONS.into(), self.evaluations.to_string());
        d.insert(LAST_EVALUATION.into(), self.last_evaluation.clone());
        d
    }

    /// Whether the record was decided for the user's spec `user`.
    pub fn is_for(&self, user: &Value) -> bool {
        self.spec_fingerprint == user_fingerprint(user) && self.reset_nonce == reset_nonce(user)
    }
}

/// Why a stored record cannot be used for the user's spec `user`, if it
/// cannot (the caller then starts a fresh one).
pub fn stale_reason(stored: &Result<Record, String>, user: &Value) -> Option<String> {
    match stored {
        Err(e) => Some(format!("its record was unreadable ({e})")),
        Ok(r) if r.reset_nonce != reset_nonce(user) => {
            Some("spec.job.autoscalerResetNonce changed".into())
        }
        Ok(r) if !r.is_for(user) => Some("the spec changed".into()),
        Ok(_) => None,
    }
}

/// The fingerprint of what a user's spec deploys, but for `job.state`:
/// suspending and resuming keeps the overrides.
fn user_fingerprint(user: &Value) -> String {
    let mut v = user.clone();
    if let Some(job) = v.get_mut("job").and_then(Value::as_object_mut) {
        job.remove("state");
    }
    spec_diff::fingerprint(&v)
}

fn reset_nonce(user: &Value) -> Option<i64> {
    user.pointer("/job/autoscalerResetNonce")
        .and_then(Value::as_i64)
}

fn parse_overrides(text: &str) -> Result<BTreeMap<String, u32>, String> {
    riffle_common::config::parse::map(text)
        .map_err(|e| format!("{OVERRIDES}: {e}"))?
        .into_iter()
        .map(|(k, v)| {
            v.parse::<u32>()
                .ok()
                .filter(|p| *p > 0)
                .map(|p| (k.clone(), p))
                .ok_or_else(|| format!("{OVERRIDES}: {k}:{v} is not a positive parallelism"))
        })
        .collect()
}

fn overrides_text(o: &BTreeMap<String, u32>) -> String {
    o.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The spec to deploy: the user's `user` with `overrides` merged over its
/// own `pipeline.jobvertex-parallelism-overrides` (the user's spec as it is
/// when there are none).
pub fn effective_spec(user: &Value, overrides: &BTreeMap<String, u32>) -> Value {
    if overrides.is_empty() {
        return user.clone();
    }
    let mut spec = user.clone();
    let mut conf = spec
        .get("flinkConfiguration")
        .map(spec_diff::flatten)
        .unwrap_or_default();
    let mut merged: BTreeMap<String, String> = conf
        .get(VERTEX_PARALLELISM_OVERRIDES)
        .and_then(|t| riffle_common::config::parse::map(t).ok())
        .unwrap_or_default();
    for (k, p) in overrides {
        merged.insert(k.clone(), p.to_string());
    }
    let text = merged
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",");
    conf.insert(VERTEX_PARALLELISM_OVERRIDES.into(), text);
    if let Some(obj) = spec.as_object_mut() {
        let flat = conf
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        obj.insert("flinkConfiguration".into(), Value::Object(flat));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaler::decide::PendingDown;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "job": {"jarURI": "local:///q.sql", "parallelism": 1, "state": "running"},
            "flinkConfiguration": {"pipeline": {"jobvertex-parallelism-overrides": "0:1,3:2"},
                                    "job.autoscaler.enabled": "true"}
        })
    }

    #[test]
    fn a_record_survives_its_configmap() -> Result<(), String> {
        let mut r = Record::fresh(&user());
        r.overrides.insert("1".into(), 2);
        r.state.pending_down.insert(
            "1".into(),
            PendingDown {
                since_ms: 5,
                highest: 1,
            },
        );
        r.evaluations = 7;
        r.last_evaluation = "Vertex 1 ...".into();
        assert_eq!(Record::from_data(&r.to_data())?, r);
        assert!(r.is_for(&user()));
        Ok(())
    }

    #[test]
    fn unreadable_records_say_what_is_wrong() {
        for (k, v, says) in [
            (
                "parallelismOverrides",
                "1:zero",
                "not a positive parallelism",
            ),
            ("parallelismOverrides", "1", "expected a map"),
            ("scalingState", "{", "scalingState"),
            ("evaluations", "x", "evaluations"),
        ] {
            let data: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into();
            let e = Record::from_data(&data).err().unwrap_or_default();
            assert!(e.contains(says), "{e}");
            assert!(stale_reason(&Err(e), &user()).is_some());
        }
    }

    #[test]
    fn suspending_keeps_the_record_a_change_or_the_nonce_resets_it() {
        let r = Ok(Record::fresh(&user()));
        let mut suspended = user();
        suspended["job"]["state"] = json!("suspended");
        assert_eq!(stale_reason(&r, &suspended), None);
        let mut tuned = user();
        tuned["flinkConfiguration"]["job.autoscaler.utilization.target"] = json!("0.5");
        assert_eq!(stale_reason(&r, &tuned), None);
        let mut changed = user();
        changed["job"]["jarURI"] = json!("local:///other.sql");
        assert_eq!(
            stale_reason(&r, &changed).as_deref(),
            Some("the spec changed")
        );
        let mut nonce = user();
        nonce["job"]["autoscalerResetNonce"] = json!(1);
        assert_eq!(
            stale_reason(&r, &nonce).as_deref(),
            Some("spec.job.autoscalerResetNonce changed")
        );
    }

    #[test]
    fn overrides_merge_over_the_users_and_read_as_a_rescale() {
        let u = user();
        assert_eq!(effective_spec(&u, &BTreeMap::new()), u);
        let e = effective_spec(&u, &[("1".to_string(), 2), ("3".to_string(), 4)].into());
        assert_eq!(
            e["flinkConfiguration"][VERTEX_PARALLELISM_OVERRIDES],
            json!("0:1,1:2,3:4")
        );
        assert_eq!(
            e["flinkConfiguration"]["job.autoscaler.enabled"],
            json!("true")
        );
        assert_eq!(spec_diff::diff(&u, &e), spec_diff::DiffType::Scale);
    }
}
