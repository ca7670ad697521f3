//! The operator's custom resources, with the Flink Kubernetes Operator's
//! field names and values in Riffle's API group `riffle.dev` (version
//! `v1beta1`, as Flink's): moving a resource over means changing its
//! `apiVersion` from `flink.apache.org/v1beta1` to `riffle.dev/v1beta1` and
//! giving the job as SQL.
//!
//! The CRDs are derived from these types; the YAML committed under
//! `deploy/operator/crds/` is generated from them (`riffle operator crds
//! --write deploy/operator/crds`) and a test fails when it is stale.
//!
//! Pod templates and `flinkConfiguration` are free-form objects in the
//! schema (`x-kubernetes-preserve-unknown-fields`): the operator checks them
//! against the Pod type and the configuration keys when it validates a
//! resource, so a mistake is reported with its field in the resource's
//! status instead of a 500 KB schema per template in every CRD.

pub mod common;
pub mod deployment;
pub mod reference;
pub mod session_job;
pub mod snapshot;
mod yaml;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use deployment::{FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus};
pub use session_job::{FlinkSessionJob, FlinkSessionJobSpec, FlinkSessionJobStatus};
pub use snapshot::{FlinkStateSnapshot, FlinkStateSnapshotSpec, FlinkStateSnapshotStatus};

/// The API group of every resource.
pub const GROUP: &str = "riffle.dev";

/// Every CRD of the operator.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        FlinkDeployment::crd(),
        FlinkSessionJob::crd(),
        FlinkStateSnapshot::crd(),
    ]
    .into_iter()
    .map(without_null_enum_values)
    .collect()
}

/// An optional enum field's schema lists `null` among its values (beside
/// `nullable: true`); kubectl's and older apiservers' validation refuse a
/// `null` enum value ("unknown object type nil"), and `nullable` already
/// admits it, so it is dropped.
fn without_null_enum_values(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(values)) = m.get_mut("enum") {
                    values.retain(|x| !x.is_null());
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    strip(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// A CRD as the YAML file committed for it: `(file name, text)`.
pub fn crd_file(crd: &CustomResourceDefinition) -> Result<(String, String), serde_json::Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let value = serde_json::to_value(crd)?;
    let text = format!(
        "# Generated from the Rust types in crates/riffle-operator/src/crd/ by\n\
         # `riffle operator crds --write deploy/operator/crds`; do not edit.\n{}",
        yaml::to_yaml(&value)
    );
    Ok((format!("{name}.yaml"), text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

    use super::*;
    use std::path::PathBuf;

    /// Where the generated CRDs are committed: beside the manifests, and in
    /// the operator chart's `crds/` (which Helm installs).
    const COMMITTED: [&str; 2] = ["deploy/operator/crds", "charts/riffle-operator/crds"];

    #[test]
    fn the_committed_crds_are_generated_from_the_types() {
        for committed in COMMITTED {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(committed);
            let mut names = Vec::new();
            for crd in crds() {
                let (name, text) = crd_file(&crd).unwrap();
                let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
                assert!(
                    on_disk == text,
                    "{committed}/{name} is stale or missing: regenerate it with \
                     `cargo run -p riffle-cli -- operator crds --write {committed}`"
                );
                names.push(name);
            }
            let mut present: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml"))
                .collect();
            present.sort();
            names.sort();
            assert_eq!(present, names, "a file in {committed} has no resource type");
        }
    }

    #[test]
    fn names_and_columns_follow_the_flink_operator() {
        let crds = crds();
        let names: Vec<_> = crds
            .iter()
            .map(|c| {
                (
                    c.spec.names.plural.clone(),
                    c.spec.names.short_names.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("flinkdeployments".to_string(), vec!["flinkdep".to_string()]),
                (
                    "flinksessionjobs".to_string(),
                    vec!["sessionjob".to_string()]
                ),
                (
                    "flinkstatesnapshots".to_string(),
                    vec!["flinksnp".to_string()]
                ),
            ]
        );
        let dep = &crds[0].spec.versions[0];
        assert_eq!(dep.name, "v1beta1");
        let scale = dep
            .subresources
            .as_ref()
            .and_then(|s| s.scale.clone())
            .expect("scale subresource");
        assert_eq!(scale.spec_replicas_path, ".spec.taskManager.replicas");
        let columns: Vec<_> = dep
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(columns, ["Job Status", "Lifecycle State"]);
    }

    #[test]
    fn a_flink_operator_resource_reads_with_only_its_api_version_changed() {
        let text = r#"{
            "apiVersion": "riffle.dev/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": "basic-example"},
            "spec": {
                "image": "flink:1.20",
                "flinkVersion": "v1_20",
                "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"},
                "serviceAccount": "flink",
                "jobManager": {"resource": {"memory": "2048m", "cpu": 1}},
                "taskManager": {"resource": {"memory": "2048m", "cpu": 1}},
                "job": {
                    "jarURI": "local:///opt/flink/usrlib/sql-runner.jar",
                    "args": ["/opt/flink/usrlib/sql-scripts/simple.sql"],
                    "parallelism": 2,
                    "upgradeMode": "last-state",
                    "state": "running"
                }
            }
        }"#;
        let d: FlinkDeployment = serde_json::from_str(text).unwrap();
        let job = d.spec.job.clone().unwrap();
        assert_eq!(job.upgrade_mode, Some(common::UpgradeMode::LastState));
        assert_eq!(job.args, ["/opt/flink/usrlib/sql-scripts/simple.sql"]);
        assert_eq!(
            d.spec.flink_configuration.unwrap()["taskmanager.numberOfTaskSlots"],
            "2"
        );
        let back = serde_json::to_value(&d.spec.job).unwrap();
        assert_eq!(back["jarURI"], "local:///opt/flink/usrlib/sql-runner.jar");
    }
}
