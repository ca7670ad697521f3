//! What a client writes into a new native cluster's ConfigMap: the
//! configuration the pods start with, and the files beside it.
//!
//! The client's own configuration (its config file and `-D`) becomes the
//! cluster's, with what the pods need added: the cluster's id, namespace and
//! `execution.target`, the JobManager's address as the internal Service
//! (unless set), and the TaskManager pod template as a file in the
//! ConfigMap (the JobManager creates the TaskManager pods, so the template
//! must travel with the cluster). Keys only a client uses are dropped.

use std::collections::BTreeMap;

use riffle_common::config::{self as keys, Configuration};

use crate::native::objects::{CONF_DIR, JOB_FILE, Mode, TASKMANAGER_TEMPLATE_FILE, Unset};
use crate::native::spec::NativeSpec;

/// Keys that describe the client's own connection, not the cluster.
const CLIENT_ONLY: &[&str] = &[
    keys::KUBERNETES_CONFIG_FILE,
    keys::KUBERNETES_CONTEXT,
    keys::KUBERNETES_POD_TEMPLATE,
    "kubernetes.pod-template-file",
    keys::KUBERNETES_JM_POD_TEMPLATE,
    keys::KUBERNETES_TM_POD_TEMPLATE,
];

/// Where a native application's SQL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// A file already in the image (`local:///opt/riffle/usrlib/job.sql`).
    InImage(String),
    /// The script's text, shipped in the ConfigMap.
    Shipped(String),
}

/// The ConfigMap's files and what the JobManager runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// File name → content (`config.yaml`, the TaskManager template, the job).
    pub files: BTreeMap<String, String>,
    /// Session or application.
    pub mode: Mode,
    /// Values the pods fill in themselves.
    pub unset: Unset,
    /// Who owns the cluster and what it is annotated with: set by the
    /// operator (its resource owns the cluster); empty for a client.
    pub owner: Ownership,
}

/// The owner of a cluster's JobManager Deployment, and its annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ownership {
    /// The owning object: deleting it deletes the cluster.
    pub reference: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    /// Annotations of the Deployment (the operator records which spec it runs).
    pub annotations: BTreeMap<String, String>,
}

/// Builds the cluster's files from the client's configuration.
pub fn describe(
    config: &Configuration,
    spec: &NativeSpec,
    namespace: &str,
    job: Option<JobSource>,
) -> Result<Descriptor, String> {
    let mut cluster = config.clone();
    for key in CLIENT_ONLY {
        cluster.remove(key);
    }
    cluster.set(keys::KUBERNETES_CLUSTER_ID, &spec.cluster_id);
    cluster.set(keys::KUBERNETES_NAMESPACE, namespace);
    let unset = Unset {
        rest_address: config.get(keys::REST_ADDRESS).is_none(),
        taskmanager_host: config.get(keys::TASKMANAGER_HOST).is_none(),
    };
    if config.get(keys::JOBMANAGER_RPC_ADDRESS).is_none() {
        cluster.set(
            keys::JOBMANAGER_RPC_ADDRESS,
            format!("{}.{namespace}", spec.cluster_id),
        );
    }
    let mut files = BTreeMap::new();
    // A template given as a file travels as written; one given as an
    // object (the operator's podTemplate) as JSON, which is YAML too.
    let template = match (&spec.taskmanager.template_path, &spec.taskmanager.template) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the pod template {path}: {e}"))?,
        ),
        (None, Some(pod)) => Some(
            serde_json::to_string_pretty(pod)
                .map_err(|e| format!("cannot write the TaskManager pod template: {e}"))?,
        ),
        (None, None) => None,
    };
    if let Some(text) = template {
        files.insert(TASKMANAGER_TEMPLATE_FILE.to_string(), text);
        cluster.set(
            keys::KUBERNETES_TM_POD_TEMPLATE,
            format!("{CONF_DIR}/{TASKMANAGER_TEMPLATE_FILE}"),
        );
    }
    let mode = match job {
        None => {
            cluster.set(keys::EXECUTION_TARGET, "kubernetes-session");
            Mode::Session
        }
        Some(source) => {
            cluster.set(keys::EXECUTION_TARGET, "kubernetes-application");
            let job_file = match source {
                JobSource::InImage(path) => path,
                JobSource::Shipped(text) => {
                    files.insert(JOB_FILE.to_string(), text);
                    format!("{CONF_DIR}/{JOB_FILE}")
                }
            };
            Mode::Application {
                job_file,
                job_id: cluster.get(keys::PIPELINE_FIXED_JOB_ID).map(str::to_string),
            }
        }
    };
    files.insert("config.yaml".to_string(), config_yaml(&cluster));
    Ok(Descriptor {
        files,
        mode,
        unset,
        owner: Ownership::default(),
    })
}

/// A flat `config.yaml`: one `key: value` line per entry, both as
/// double-quoted scalars (JSON strings are valid YAML), so no value is
/// reinterpreted.
pub fn config_yaml(config: &Configuration) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::from("# Written by `riffle` for a native Kubernetes cluster.\n");
    for (k, v) in config.entries() {
        out.push_str(&format!("{}: {}\n", quote(k), quote(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_common::config::Origin;

    fn client_config() -> Configuration {
        [
            ("kubernetes.cluster-id", "orders"),
            ("kubernetes.context", "admin@prod"),
            ("taskmanager.numberOfTaskSlots", "2"),
            ("pipeline.name", "it's \"quoted\": yes # not a comment"),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_session_gets_its_target_address_and_no_client_keys() -> Result<(), String> {
        let c = client_config();
        let spec = NativeSpec::resolve(&c).map_err(|e| e.to_string())?;
        let d = describe(&c, &spec, "data", None)?;
        assert_eq!(d.mode, Mode::Session);
        assert!(d.unset.rest_address && d.unset.taskmanager_host);
        let back = Configuration::from_yaml(&d.files["config.yaml"], &|_| Origin::Riffle)
            .map_err(|e| e.to_string())?;
        assert_eq!(back.get("execution.target"), Some("kubernetes-session"));
        assert_eq!(back.get("jobmanager.rpc.address"), Some("orders.data"));
        assert_eq!(back.get("kubernetes.namespace"), Some("data"));
        assert_eq!(back.get("kubernetes.context"), None);
        assert_eq!(
            back.get("pipeline.name"),
            Some("it's \"quoted\": yes # not a comment")
        );
        Ok(())
    }

    #[test]
    fn an_application_ships_its_script_or_names_the_image_file() -> Result<(), String> {
        let mut c = client_config();
        c.set("jobmanager.rpc.address", "127.0.0.1");
        let spec = NativeSpec::resolve(&c).map_err(|e| e.to_string())?;
        let d = describe(
            &c,
            &spec,
            "data",
            Some(JobSource::Shipped("INSERT ...".into())),
        )?;
        assert_eq!(d.files[JOB_FILE], "INSERT ...");
        assert_eq!(
            d.mode,
            Mode::Application {
                job_file: format!("{CONF_DIR}/{JOB_FILE}"),
                job_id: None,
            }
        );
        assert!(d.files["config.yaml"].contains("\"jobmanager.rpc.address\": \"127.0.0.1\""));
        let d = describe(
            &c,
            &spec,
            "data",
            Some(JobSource::InImage("/opt/riffle/usrlib/q.sql".into())),
        )?;
        assert!(!d.files.contains_key(JOB_FILE));
        assert!(d.files["config.yaml"].contains("kubernetes-application"));
        Ok(())
    }
}
