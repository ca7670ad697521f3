//! The objects of a native cluster, built from its spec without I/O: the
//! JobManager Deployment, its two Services, the configuration ConfigMap and
//! the TaskManager pods, named and labelled as Flink names and labels them.
//!
//! Pod templates: a configured template is the starting point of a pod and
//! Riffle's settings are applied on top, with Flink's precedence. Riffle
//! overwrites what it must control (image, pull policy, args, CPU and
//! memory, service account, restart policy) and merges what both may add
//! (labels, annotations, node selector, tolerations, pull secrets, env,
//! volumes and mounts, with Riffle's entry winning on a name clash). What
//! Riffle does not set (sidecars, init containers, affinity, probes and
//! security contexts the template gives, other resources) stays as written.
//! The main container is the template's container named
//! `flink-main-container`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, LocalObjectReference, ObjectFieldSelector, Pod,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::native::spec::{NativeSpec, PodSettings};

/// The name of the main container in pods and pod templates (Flink's).
pub const MAIN_CONTAINER: &str = "flink-main-container";

/// Where the configuration ConfigMap is mounted (the image's `RIFFLE_CONF_DIR`).
pub const CONF_DIR: &str = "/opt/riffle/conf";

/// The TaskManager pod template's file name in the ConfigMap.
pub const TASKMANAGER_TEMPLATE_FILE: &str = "taskmanager-pod-template.yaml";

/// The SQL file of an application cluster in the ConfigMap.
pub const JOB_FILE: &str = "job.sql";

const CONFIG_VOLUME: &str = "flink-config-volume";

/// The configuration ConfigMap of a cluster (Flink's name).
pub fn config_map_name(cluster_id: &str) -> String {
    format!("flink-config-{cluster_id}")
}

/// The REST Service of a cluster.
pub fn rest_service_name(cluster_id: &str) -> String {
    format!("{cluster_id}-rest")
}

/// The prefix of a cluster's TaskManager pod names.
pub fn taskmanager_prefix(cluster_id: &str) -> String {
    format!("{cluster_id}-taskmanager")
}

/// Which process a pod runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A JobManager.
    JobManager,
    /// A TaskManager.
    TaskManager,
}

impl Component {
    fn label(self) -> &'static str {
        match self {
            Component::JobManager => "jobmanager",
            Component::TaskManager => "taskmanager",
        }
    }
}

/// Flink's labels of a native cluster's objects; with a component, the
/// selector of its pods.
pub fn labels(cluster_id: &str, component: Option<Component>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app".to_string(), cluster_id.to_string()),
        ("type".to_string(), "flink-native-kubernetes".to_string()),
    ]);
    if let Some(c) = component {
        l.insert("component".into(), c.label().into());
    }
    l
}

/// What the JobManager runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A session: jobs are submitted later.
    Session,
    /// One job, from this SQL file in the pod.
    Application {
        /// Path of the SQL file inside the JobManager pod.
        job_file: String,
        /// The job's id (`$internal.pipeline.job-id`, set by the operator
        /// per deployment); else derived from the cluster id.
        job_id: Option<String>,
    },
}

/// Values the pods fill in themselves because only they know them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unset {
    /// `rest.address` is not configured: the JobManager advertises its pod IP.
    pub rest_address: bool,
    /// `taskmanager.host` is not configured: a TaskManager advertises its pod IP.
    pub taskmanager_host: bool,
}

/// An owner reference to the JobManager Deployment: deleting it deletes
/// the object. `None` until the Deployment has a uid.
pub fn owner_reference(deployment: &Deployment) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: deployment.metadata.name.clone()?,
        uid: deployment.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

fn meta(name: &str, namespace: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// The configuration ConfigMap: `config.yaml` and the other files.
pub fn config_map(
    spec: &NativeSpec,
    namespace: &str,
    files: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(
            &config_map_name(&spec.cluster_id),
            namespace,
            labels(&spec.cluster_id, None),
        ),
        data: Some(files),
        ..ConfigMap::default()
    }
}

/// The JobManager Deployment, `replicas` pods (standbys with HA).
pub fn jobmanager_deployment(
    spec: &NativeSpec,
    namespace: &str,
    mode: &Mode,
    unset: Unset,
) -> Deployment {
    let mut args = match mode {
        Mode::Session => vec!["jobmanager".to_string()],
        // The job id stays the same when the pod is replaced, so the job
        // resumes from its own checkpoints.
        Mode::Application { job_file, job_id } => {
            let (flag, id) = match job_id {
                Some(id) => ("--job-id", id.clone()),
                None => ("--job-id-seed", spec.cluster_id.clone()),
            };
            vec![
                "standalone-job".to_string(),
                "--job-file".to_string(),
                job_file.clone(),
                flag.to_string(),
                id,
            ]
        }
    };
    if unset.rest_address {
        args.push("-Drest.address=$(POD_IP)".into());
    }
    let (pod_meta, mut pod_spec) = pod(spec, &spec.jobmanager, Component::JobManager, args);
    pod_spec.restart_policy = Some("Always".into());
    if let Some(main) = pod_spec
        .containers
        .iter_mut()
        .find(|c| c.name == MAIN_CONTAINER)
        && main.readiness_probe.is_none()
    {
        main.readiness_probe = Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/config".into()),
                port: IntOrString::Int(i32::from(spec.rest_bind_port)),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        });
    }
    let selector = labels(&spec.cluster_id, Some(Component::JobManager));
    Deployment {
        metadata: meta(&spec.deployment_name(), namespace, selector.clone()),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            // A JobManager's ports (host ports with host networking) and its
            // Lease are released before the next one starts.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(pod_meta),
                spec: Some(pod_spec),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The headless Service TaskManagers reach the JobManager's RPC port by
/// (`jobmanager.rpc.address` = `<cluster-id>.<namespace>`); only a ready
/// (leading) JobManager is behind it.
pub fn internal_service(spec: &NativeSpec, namespace: &str) -> Service {
    Service {
        metadata: meta(&spec.cluster_id, namespace, labels(&spec.cluster_id, None)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(labels(&spec.cluster_id, Some(Component::JobManager))),
            ports: Some(vec![ServicePort {
                name: Some("jobmanager-rpc".into()),
                port: i32::from(spec.rpc_port),
                target_port: Some(IntOrString::Int(i32::from(spec.rpc_port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The REST Service `<cluster-id>-rest`, of `kubernetes.rest-service.exposed.type`.
pub fn rest_service(spec: &NativeSpec, namespace: &str) -> Service {
    let mut m = meta(
        &rest_service_name(&spec.cluster_id),
        namespace,
        labels(&spec.cluster_id, None),
    );
    if !spec.rest_service_annotations.is_empty() {
        m.annotations = Some(spec.rest_service_annotations.clone());
    }
    let (type_, cluster_ip) = match spec.rest_service_type.as_str() {
        "Headless_ClusterIP" => ("ClusterIP", Some("None".to_string())),
        other => (other, None),
    };
    Service {
        metadata: m,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            cluster_ip,
            selector: Some(labels(&spec.cluster_id, Some(Component::JobManager))),
            ports: Some(vec![ServicePort {
                name: Some("rest".into()),
                port: i32::from(spec.rest_port),
                target_port: Some(IntOrString::Int(i32::from(spec.rest_bind_port))),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A TaskManager pod named `name`, owned by the JobManager Deployment.
pub fn taskmanager_pod(
    spec: &NativeSpec,
    namespace: &str,
    name: &str,
    owner: Option<&OwnerReference>,
    unset: Unset,
) -> Pod {
    let mut args = vec![
        "taskmanager".to_string(),
        format!("-Dtaskmanager.resource-id={name}"),
    ];
    if unset.taskmanager_host {
        args.push("-Dtaskmanager.host=$(POD_IP)".into());
    }
    let (mut pod_meta, mut pod_spec) = pod(spec, &spec.taskmanager, Component::TaskManager, args);
    // A TaskManager that ends is replaced by the JobManager under a new name.
    pod_spec.restart_policy = Some("Never".into());
    // TaskManagers never call the Kubernetes API.
    if pod_spec.automount_service_account_token.is_none() {
        pod_spec.automount_service_account_token = Some(false);
    }
    pod_meta.name = Some(name.to_string());
    pod_meta.namespace = Some(namespace.to_string());
    pod_meta.owner_references = owner.map(|o| vec![o.clone()]);
    Pod {
        metadata: pod_meta,
        spec: Some(pod_spec),
        ..Pod::default()
    }
}

/// A pod of `component`: its template (if any) with Riffle's settings applied.
fn pod(
    spec: &NativeSpec,
    settings: &PodSettings,
    component: Component,
    args: Vec<String>,
) -> (ObjectMeta, PodSpec) {
    let template = settings.template.clone().unwrap_or_default();
    let mut m = template.metadata;
    m.name = None;
    m.namespace = None;
    m.resource_version = None;
    m.uid = None;
    let mut l = m.labels.take().unwrap_or_default();
    l.extend(settings.labels.clone());
    l.extend(labels(&spec.cluster_id, Some(component)));
    m.labels = Some(l);
    if !settings.annotations.is_empty() {
        let mut a = m.annotations.take().unwrap_or_default();
        a.extend(settings.annotations.clone());
        m.annotations = Some(a);
    }

    let mut p = template.spec.unwrap_or_default();
    p.service_account_name = Some(settings.service_account.clone());
    if let Some(host) = spec.host_network {
        p.host_network = Some(host);
    }
    if p.host_network == Some(true) && p.dns_policy.is_none() {
        p.dns_policy = Some("ClusterFirstWithHostNet".into());
    }
    if !spec.pull_secrets.is_empty() {
        let secrets = p.image_pull_secrets.get_or_insert_with(Vec::new);
        for s in &spec.pull_secrets {
            if !secrets.iter().any(|r| &r.name == s) {
                secrets.push(LocalObjectReference { name: s.clone() });
            }
        }
    }
    if !settings.node_selector.is_empty() {
        p.node_selector
            .get_or_insert_with(BTreeMap::new)
            .extend(settings.node_selector.clone());
    }
    if !settings.tolerations.is_empty() {
        p.tolerations
            .get_or_insert_with(Vec::new)
            .extend(settings.tolerations.clone());
    }
    if p.security_context.is_none() {
        p.security_context = Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(9999),
            run_as_group: Some(9999),
            fs_group: Some(9999),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        });
    }
    merge_by_name(
        p.volumes.get_or_insert_with(Vec::new),
        vec![
            Volume {
                name: CONFIG_VOLUME.into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: config_map_name(&spec.cluster_id),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "riffle-tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ],
        |v| v.name.clone(),
    );

    let index = match p.containers.iter().position(|c| c.name == MAIN_CONTAINER) {
        Some(i) => i,
        None => {
            p.containers.insert(
                0,
                Container {
                    name: MAIN_CONTAINER.into(),
                    ..Container::default()
                },
            );
            0
        }
    };
    let main = &mut p.containers[index];
    main.image = Some(spec.image.clone());
    main.image_pull_policy = Some(spec.pull_policy.clone());
    main.command = None;
    main.args = Some(args);
    let field = |path: &str| EnvVar {
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let mut env = vec![
        EnvVar {
            name: "POD_IP".into(),
            ..field("status.podIP")
        },
        EnvVar {
            name: "POD_NAME".into(),
            ..field("metadata.name")
        },
    ];
    env.extend(settings.env.iter().map(|(k, v)| EnvVar {
        name: k.clone(),
        value: Some(v.clone()),
        ..EnvVar::default()
    }));
    merge_by_name(main.env.get_or_insert_with(Vec::new), env, |e| {
        e.name.clone()
    });
    merge_by_name(
        main.volume_mounts.get_or_insert_with(Vec::new),
        vec![
            VolumeMount {
                name: CONFIG_VOLUME.into(),
                mount_path: CONF_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "riffle-tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            },
        ],
        |v| v.mount_path.clone(),
    );
    let resources = main
        .resources
        .get_or_insert_with(ResourceRequirements::default);
    let requests = resources.requests.get_or_insert_with(BTreeMap::new);
    requests.insert("cpu".into(), cpu(settings.cpu));
    let limits = resources.limits.get_or_insert_with(BTreeMap::new);
    limits.insert("cpu".into(), cpu(settings.cpu * settings.cpu_limit_factor));
    if let Some(bytes) = settings.memory {
        requests.insert("memory".into(), Quantity(bytes.to_string()));
        let limit = (bytes as f64 * settings.memory_limit_factor) as u64;
        limits.insert("memory".into(), Quantity(limit.to_string()));
    }
    if main.security_context.is_none() {
        main.security_context = Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        });
    }
    (m, p)
}

/// CPU cores as millicores.
fn cpu(cores: f64) -> Quantity {
    Quantity(format!("{}m", (cores * 1000.0).round().max(1.0) as u64))
}

/// Adds `ours` to `list`, replacing entries with the same name.
fn merge_by_name<T, K: PartialEq>(list: &mut Vec<T>, ours: Vec<T>, name: impl Fn(&T) -> K) {
    for item in ours {
        let key = name(&item);
        match list.iter().position(|x| name(x) == key) {
            Some(i) => list[i] = item,
            None => list.push(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::yaml::parse_pod;
    use riffle_common::config::Configuration;

    fn spec(pairs: &[(&str, &str)]) -> NativeSpec {
        let mut c: Configuration = pairs.iter().copied().collect();
        c.set("kubernetes.cluster-id", "orders");
        NativeSpec::resolve(&c).expect("valid spec")
    }

    fn main(p: &PodSpec) -> &Container {
        p.containers
            .iter()
            .find(|c| c.name == MAIN_CONTAINER)
            .expect("main container")
    }

    #[test]
    fn a_session_deployment_as_flink_names_it() {
        let s = spec(&[("kubernetes.jobmanager.replicas", "1")]);
        let d = jobmanager_deployment(&s, "ns", &Mode::Session, Unset::default());
        assert_eq!(d.metadata.name.as_deref(), Some("orders"));
        let ds = d.spec.expect("spec");
        let pod = ds.template.spec.expect("pod");
        let c = main(&pod);
        assert_eq!(c.args.as_deref(), Some(&["jobmanager".to_string()][..]));
        assert_eq!(
            c.image.as_deref(),
            Some(crate::native::spec::default_image().as_str())
        );
        let labels = ds.template.metadata.expect("meta").labels.expect("labels");
        assert_eq!(labels["component"], "jobmanager");
        assert_eq!(labels["type"], "flink-native-kubernetes");
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        let mounts = c.volume_mounts.as_ref().expect("mounts");
        assert!(mounts.iter().any(|m| m.mount_path == CONF_DIR));
        assert!(c.readiness_probe.is_some());
        assert_eq!(
            internal_service(&s, "ns").metadata.name.as_deref(),
            Some("orders")
        );
        let rest = rest_service(&s, "ns");
        assert_eq!(rest.metadata.name.as_deref(), Some("orders-rest"));
        assert_eq!(
            rest.spec.and_then(|s| s.type_).as_deref(),
            Some("ClusterIP")
        );
    }

    #[test]
    fn an_application_keeps_its_job_id_across_pods() {
        let s = spec(&[]);
        let d = jobmanager_deployment(
            &s,
            "ns",
            &Mode::Application {
                job_file: "/opt/riffle/conf/job.sql".into(),
                job_id: None,
            },
            Unset {
                rest_address: true,
                taskmanager_host: true,
            },
        );
        let pod = d.spec.and_then(|d| d.template.spec).expect("pod");
        let args = main(&pod).args.clone().unwrap_or_default();
        assert_eq!(
            args,
            [
                "standalone-job",
                "--job-file",
                "/opt/riffle/conf/job.sql",
                "--job-id-seed",
                "orders",
                "-Drest.address=$(POD_IP)"
            ]
        );
    }

    #[test]
    fn taskmanager_pods_carry_their_name_owner_and_resources() {
        let s = spec(&[
            ("taskmanager.numberOfTaskSlots", "2"),
            ("taskmanager.memory.process.size", "1g"),
            ("kubernetes.taskmanager.memory.limit-factor", "1.5"),
            ("kubernetes.taskmanager.cpu.limit-factor", "2"),
            ("containerized.taskmanager.env.A", "1"),
            ("kubernetes.container.image.pull-secrets", "reg"),
        ]);
        let owner = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "orders".into(),
            uid: "u-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let pod = taskmanager_pod(
            &s,
            "ns",
            "orders-taskmanager-1-1",
            Some(&owner),
            Unset {
                rest_address: false,
                taskmanager_host: true,
            },
        );
        assert_eq!(pod.metadata.name.as_deref(), Some("orders-taskmanager-1-1"));
        assert_eq!(pod.metadata.owner_references.as_deref(), Some(&[owner][..]));
        let p = pod.spec.expect("spec");
        assert_eq!(p.restart_policy.as_deref(), Some("Never"));
        let c = main(&p);
        let args = c.args.clone().unwrap_or_default();
        assert!(args.contains(&"-Dtaskmanager.resource-id=orders-taskmanager-1-1".to_string()));
        assert!(args.contains(&"-Dtaskmanager.host=$(POD_IP)".to_string()));
        let r = c.resources.clone().expect("resources");
        let (req, lim) = (r.requests.expect("req"), r.limits.expect("lim"));
        assert_eq!(req["cpu"].0, "2000m");
        assert_eq!(lim["cpu"].0, "4000m");
        assert_eq!(req["memory"].0, (1u64 << 30).to_string());
        assert_eq!(lim["memory"].0, ((1u64 << 30) * 3 / 2).to_string());
        let env = c.env.clone().unwrap_or_default();
        assert!(
            env.iter()
                .any(|e| e.name == "A" && e.value.as_deref() == Some("1"))
        );
        assert_eq!(p.image_pull_secrets.map(|s| s.len()), Some(1));
    }

    #[test]
    fn a_template_is_the_base_and_riffle_settings_win() -> Result<(), String> {
        let template = parse_pod(
            "metadata:\n  labels:\n    team: data\n    component: wrong\nspec:\n  \
             serviceAccountName: template-sa\n  hostNetwork: true\n  nodeSelector:\n    \
             disk: ssd\n  containers:\n  - name: flink-main-container\n    image: other\n    \
             env:\n    - name: FROM_TEMPLATE\n      value: t\n    - name: B\n      value: \
             template\n    resources:\n      limits:\n        ephemeral-storage: 2Gi\n    \
             volumeMounts:\n    - name: extra\n      mountPath: /data\n  - name: sidecar\n    \
             image: busybox\n  volumes:\n  - name: extra\n    emptyDir: {}\n",
        )?;
        let mut s = spec(&[
            ("kubernetes.taskmanager.node-selector", "zone:a"),
            ("containerized.taskmanager.env.B", "riffle"),
        ]);
        s.taskmanager.template = Some(template);
        let pod = taskmanager_pod(&s, "ns", "orders-taskmanager-1-1", None, Unset::default());
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["team"], "data");
        assert_eq!(labels["component"], "taskmanager", "Riffle's label wins");
        let p = pod.spec.ok_or("spec")?;
        assert_eq!(p.service_account_name.as_deref(), Some("default"));
        assert_eq!(p.host_network, Some(true), "kept: the key is not set");
        assert_eq!(p.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
        let ns = p.node_selector.clone().unwrap_or_default();
        assert_eq!((ns["disk"].as_str(), ns["zone"].as_str()), ("ssd", "a"));
        assert_eq!(p.containers.len(), 2, "the sidecar stays");
        let c = main(&p);
        assert_eq!(c.image.as_deref(), Some(s.image.as_str()));
        let env = c.env.clone().unwrap_or_default();
        let value = |n: &str| {
            env.iter()
                .find(|e| e.name == n)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(value("FROM_TEMPLATE").as_deref(), Some("t"));
        assert_eq!(value("B").as_deref(), Some("riffle"));
        let limits = c
            .resources
            .clone()
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert!(limits.contains_key("ephemeral-storage") && limits.contains_key("cpu"));
        let mounts = c.volume_mounts.clone().unwrap_or_default();
        assert!(mounts.iter().any(|m| m.mount_path == "/data"));
        assert!(mounts.iter().any(|m| m.mount_path == CONF_DIR));
        let volumes = p.volumes.clone().unwrap_or_default();
        assert_eq!(volumes.len(), 3);
        // The key, when set, overrides the template.
        s.host_network = Some(false);
        let pod = taskmanager_pod(&s, "ns", "x", None, Unset::default());
        assert_eq!(pod.spec.and_then(|p| p.host_network), Some(false));
        Ok(())
    }
}
