//! Names and labels of a cluster's HA objects, shaped like Flink's so that
//! `kubectl get cm -l configmap-type=high-availability` finds them.

use std::collections::BTreeMap;

/// The Lease the cluster's JobManagers compete for.
pub fn leader_lease(cluster_id: &str) -> String {
    format!("{cluster_id}-cluster-leader")
}

/// The cluster's HA ConfigMap: the leader's address and the submitted jobs.
pub fn cluster_config_map(cluster_id: &str) -> String {
    format!("{cluster_id}-cluster-config-map")
}

/// The ConfigMap key that points at a submitted job (Flink's `jobGraph-<id>`).
pub fn job_key(job_id: &str) -> String {
    format!("{JOB_KEY_PREFIX}{job_id}")
}

/// The ConfigMap key holding a job's latest completed checkpoint, as
/// `<checkpoint id> <location>`.
pub fn checkpoint_key(job_id: &str) -> String {
    format!("checkpoint-{job_id}")
}

/// The location in a [`checkpoint_key`] value (`<checkpoint id> <location>`).
pub fn checkpoint_location(value: &str) -> Option<String> {
    let (_, location) = value.trim().split_once(' ')?;
    let location = location.trim();
    (!location.is_empty()).then(|| location.to_string())
}

/// Prefix of [`job_key`].
pub const JOB_KEY_PREFIX: &str = "jobGraph-";

/// The REST address of the leader (Flink's key).
pub const REST_LEADER_KEY: &str = "org.apache.flink.k8s.leader.restserver";

/// The annotation naming the JobManager that may write the ConfigMap.
pub const LEADER_ANNOTATION: &str = "riffle.dev/leader";

/// Flink's labels on HA objects.
pub fn ha_labels(cluster_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), cluster_id.to_string()),
        (
            "configmap-type".to_string(),
            "high-availability".to_string(),
        ),
        ("type".to_string(), "flink-native-kubernetes".to_string()),
    ])
}
