//! The `kubernetes.*` keys of a native cluster, read once into types.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Toleration};
use riffle_common::config::{self as keys, Configuration, HighAvailability};

use crate::KubeError;
use crate::native::yaml;

/// The image used when `kubernetes.container.image.ref` is not set.
pub fn default_image() -> String {
    format!("riffle:{}", env!("CARGO_PKG_VERSION"))
}

/// What differs between the JobManager's pods and the TaskManagers'.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSettings {
    /// `kubernetes.<component>.service-account`, else `kubernetes.service-account`.
    pub service_account: String,
    /// CPU request in cores.
    pub cpu: f64,
    /// CPU limit = request × this.
    pub cpu_limit_factor: f64,
    /// Memory request in bytes (`<component>.memory.process.size`), if set.
    pub memory: Option<u64>,
    /// Memory limit = request × this.
    pub memory_limit_factor: f64,
    /// Pod labels added to Riffle's own.
    pub labels: BTreeMap<String, String>,
    /// Pod annotations.
    pub annotations: BTreeMap<String, String>,
    /// Pod nodeSelector entries.
    pub node_selector: BTreeMap<String, String>,
    /// Pod tolerations.
    pub tolerations: Vec<Toleration>,
    /// Environment of the main container (`containerized.*.env.*`).
    pub env: BTreeMap<String, String>,
    /// The pod template, if one is configured.
    pub template: Option<Pod>,
    /// The template's path, as configured.
    pub template_path: Option<String>,
}

/// A native cluster as its configuration describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeSpec {
    /// `kubernetes.cluster-id`.
    pub cluster_id: String,
    /// `kubernetes.namespace`, if set.
    pub namespace: Option<String>,
    /// The pods' image.
    pub image: String,
    /// `kubernetes.container.image.pull-policy`.
    pub pull_policy: String,
    /// `kubernetes.container.image.pull-secrets`.
    pub pull_secrets: Vec<String>,
    /// JobManager pods.
    pub jobmanager: PodSettings,
    /// TaskManager pods.
    pub taskmanager: PodSettings,
    /// `kubernetes.jobmanager.replicas`.
    pub replicas: i32,
    /// `kubernetes.rest-service.exposed.type`.
    pub rest_service_type: String,
    /// `kubernetes.rest-service.annotations`.
    pub rest_service_annotations: BTreeMap<String, String>,
    /// `kubernetes.rest-service.exposed.node-port-address-type`.
    pub node_port_address_type: String,
    /// `kubernetes.hostnetwork.enabled`, when set explicitly (else the
    /// template decides).
    pub host_network: Option<bool>,
    /// `jobmanager.rpc.port`.
    pub rpc_port: u16,
    /// `rest.port`: the REST Service's port.
    pub rest_port: u16,
    /// The port the JobManager's REST server binds (`rest.bind-port`, else `rest.port`).
    pub rest_bind_port: u16,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: usize,
    /// `resourcemanager.taskmanager-timeout` in ms.
    pub taskmanager_timeout_ms: i64,
    /// Kubernetes high availability is on.
    pub high_availability: bool,
}

/// Checks a cluster id as Flink does: it names Services, so it must be a
/// DNS-1035 label, short enough for the `-taskmanager-<a>-<n>` suffix.
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let starts = id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let ends = id.chars().last().is_some_and(|c| c != '-');
    if id.is_empty() || !ok_chars || !starts || !ends {
        return Err(format!(
            "kubernetes.cluster-id '{id}' must consist of lower case letters, digits and '-', \
             start with a letter and end with a letter or digit (it names Services)"
        ));
    }
    if id.len() > 45 {
        return Err(format!(
            "kubernetes.cluster-id '{id}' is {} characters long; at most 45 are allowed",
            id.len()
        ));
    }
    Ok(())
}

impl NativeSpec {
    /// Reads the spec; pod template files are read from this machine (the
    /// client's, or the JobManager pod's mounted configuration).
    pub fn resolve(c: &Configuration) -> Result<NativeSpec, KubeError> {
        let cluster = riffle_common::ClusterConfig::resolve(c)?;
        let cluster_id = c.opt_text(keys::KUBERNETES_CLUSTER_ID)?.ok_or_else(|| {
            KubeError::Invalid(
                "native Kubernetes mode needs the cluster's id: pass \
                 -Dkubernetes.cluster-id=<name>"
                    .into(),
            )
        })?;
        check_cluster_id(&cluster_id).map_err(KubeError::Invalid)?;
        let high_availability =
            matches!(cluster.high_availability, HighAvailability::Kubernetes(_));
        let replicas = c.count(keys::KUBERNETES_JM_REPLICAS)?;
        if replicas > 1 && !high_availability {
            return Err(KubeError::Invalid(format!(
                "kubernetes.jobmanager.replicas is {replicas}, but standby JobManagers need \
                 high-availability.type: kubernetes (and high-availability.storageDir)"
            )));
        }
        let service_account = c.text(keys::KUBERNETES_SERVICE_ACCOUNT)?;
        let template_of = |key: &str| -> Result<Option<String>, KubeError> {
            Ok(match c.opt_text(key)? {
                Some(p) => Some(p),
                None => c.opt_text(keys::KUBERNETES_POD_TEMPLATE)?,
            })
        };
        let settings = |role: Role| -> Result<PodSettings, KubeError> {
            let k = role.keys();
            let cpu = match c.value(k.cpu)? {
                Some(riffle_common::config::Value::Float(x)) => x,
                _ => cluster.slots as f64,
            };
            let template_path = template_of(k.template)?;
            let template = match &template_path {
                Some(path) => Some(yaml::read_pod(path)?),
                None => None,
            };
            Ok(PodSettings {
                service_account: c
                    .opt_text(k.service_account)?
                    .unwrap_or_else(|| service_account.clone()),
                cpu,
                cpu_limit_factor: c.float(k.cpu_limit_factor)?,
                memory: match c.value(k.memory)? {
                    Some(riffle_common::config::Value::MemorySize(b)) => Some(b),
                    _ => None,
                },
                memory_limit_factor: c.float(k.memory_limit_factor)?,
                labels: c.map(k.labels)?,
                annotations: c.map(k.annotations)?,
                node_selector: c.map(k.node_selector)?,
                tolerations: tolerations(c, k.tolerations)?,
                env: c.prefixed(k.env_prefix),
                template,
                template_path,
            })
        };
        Ok(NativeSpec {
            cluster_id,
            namespace: c.opt_text(keys::KUBERNETES_NAMESPACE)?,
            image: c
                .opt_text(keys::KUBERNETES_IMAGE)?
                .unwrap_or_else(default_image),
            pull_policy: c
                .opt_enum(keys::KUBERNETES_PULL_POLICY)?
                .unwrap_or("IfNotPresent")
                .to_string(),
            pull_secrets: c.list(keys::KUBERNETES_PULL_SECRETS)?,
            jobmanager: settings(Role::JobManager)?,
            taskmanager: settings(Role::TaskManager)?,
            replicas: i32::try_from(replicas).unwrap_or(i32::MAX),
            rest_service_type: c
                .opt_enum(keys::KUBERNETES_REST_SERVICE_TYPE)?
                .unwrap_or("ClusterIP")
                .to_string(),
            rest_service_annotations: c.map(keys::KUBERNETES_REST_SERVICE_ANNOTATIONS)?,
            node_port_address_type: c
                .opt_enum(keys::KUBERNETES_NODE_PORT_ADDRESS_TYPE)?
                .unwrap_or("InternalIP")
                .to_string(),
            host_network: match c.get(keys::KUBERNETES_HOST_NETWORK) {
                Some(_) => Some(c.flag(keys::KUBERNETES_HOST_NETWORK)?),
                None => None,
            },
            rpc_port: cluster.jobmanager_rpc_port,
            rest_port: cluster.rest_port,
            // A range cannot be a Service's target: its first port is.
            rest_bind_port: cluster.rest_bind_port.start,
            slots: cluster.slots,
            taskmanager_timeout_ms: c.ms(keys::TASKMANAGER_TIMEOUT)?,
            high_availability,
        })
    }

    /// The name of the JobManager Deployment, the owner of every object of
    /// the cluster.
    pub fn deployment_name(&self) -> String {
        self.cluster_id.clone()
    }
}

/// Which pods a group of keys is for.
#[derive(Debug, Clone, Copy)]
enum Role {
    JobManager,
    TaskManager,
}

/// The keys of one role's pod settings.
struct RoleKeys {
    service_account: &'static str,
    cpu: &'static str,
    cpu_limit_factor: &'static str,
    memory: &'static str,
    memory_limit_factor: &'static str,
    labels: &'static str,
    annotations: &'static str,
    node_selector: &'static str,
    tolerations: &'static str,
    env_prefix: &'static str,
    template: &'static str,
}

impl Role {
    fn keys(self) -> RoleKeys {
        match self {
            Role::JobManager => RoleKeys {
                service_account: keys::KUBERNETES_JM_SERVICE_ACCOUNT,
                cpu: keys::KUBERNETES_JM_CPU,
                cpu_limit_factor: keys::KUBERNETES_JM_CPU_LIMIT_FACTOR,
                memory: keys::JOBMANAGER_MEMORY_PROCESS_SIZE,
                memory_limit_factor: keys::KUBERNETES_JM_MEMORY_LIMIT_FACTOR,
                labels: keys::KUBERNETES_JM_LABELS,
                annotations: keys::KUBERNETES_JM_ANNOTATIONS,
                node_selector: keys::KUBERNETES_JM_NODE_SELECTOR,
                tolerations: keys::KUBERNETES_JM_TOLERATIONS,
                env_prefix: keys::CONTAINERIZED_MASTER_ENV,
                template: keys::KUBERNETES_JM_POD_TEMPLATE,
            },
            Role::TaskManager => RoleKeys {
                service_account: keys::KUBERNETES_TM_SERVICE_ACCOUNT,
                cpu: keys::KUBERNETES_TM_CPU,
                cpu_limit_factor: keys::KUBERNETES_TM_CPU_LIMIT_FACTOR,
                memory: keys::TASKMANAGER_MEMORY_PROCESS_SIZE,
                memory_limit_factor: keys::KUBERNETES_TM_MEMORY_LIMIT_FACTOR,
                labels: keys::KUBERNETES_TM_LABELS,
                annotations: keys::KUBERNETES_TM_ANNOTATIONS,
                node_selector: keys::KUBERNETES_TM_NODE_SELECTOR,
                tolerations: keys::KUBERNETES_TM_TOLERATIONS,
                env_prefix: keys::CONTAINERIZED_TASKMANAGER_ENV,
                template: keys::KUBERNETES_TM_POD_TEMPLATE,
            },
        }
    }
}

/// Flink's toleration form: `key:k,operator:Equal,value:v,effect:NoSchedule`,
/// several separated by `;`.
fn tolerations(c: &Configuration, key: &str) -> Result<Vec<Toleration>, KubeError> {
    let mut out = Vec::new();
    for item in c.list(key)? {
        let fields = riffle_common::config::parse::map(&item).map_err(|e| {
            KubeError::Invalid(format!("{key}: '{item}' is not a toleration: {}", e.0))
        })?;
        let mut t = Toleration::default();
        for (name, value) in fields {
            match name.to_ascii_lowercase().as_str() {
                "key" => t.key = Some(value),
                "operator" => t.operator = Some(value),
                "value" => t.value = Some(value),
                "effect" => t.effect = Some(value),
                "tolerationseconds" => {
                    t.toleration_seconds = Some(value.parse().map_err(|_| {
                        KubeError::Invalid(format!(
                            "{key}: tolerationSeconds '{value}' is not a whole number"
                        ))
                    })?)
                }
                _ => {
                    return Err(KubeError::Invalid(format!(
                        "{key}: unknown toleration field '{name}' (allowed: key, operator, \
                         value, effect, tolerationSeconds)"
                    )));
                }
            }
        }
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        pairs.iter().copied().collect()
    }

    #[test]
    fn defaults_follow_flink() -> Result<(), KubeError> {
        let s = NativeSpec::resolve(&config(&[
            ("kubernetes.cluster-id", "orders"),
            ("taskmanager.numberOfTaskSlots", "2"),
        ]))?;
        assert_eq!(s.image, default_image());
        assert_eq!(s.pull_policy, "IfNotPresent");
        assert_eq!(s.jobmanager.service_account, "default");
        assert_eq!(s.jobmanager.cpu, 1.0);
        assert_eq!(
            s.taskmanager.cpu, 2.0,
            "TaskManager cpu defaults to its slots"
        );
        assert_eq!(s.rest_service_type, "ClusterIP");
        assert_eq!(s.replicas, 1);
        assert_eq!(s.taskmanager_timeout_ms, 30_000);
        assert_eq!(s.host_network, None);
        assert_eq!((s.rpc_port, s.rest_port), (6123, 8081));
        Ok(())
    }

    #[test]
    fn keys_are_read_per_component() -> Result<(), KubeError> {
        let s = NativeSpec::resolve(&config(&[
            ("kubernetes.cluster-id", "orders"),
            ("kubernetes.container.image", "registry.example/riffle:1"),
            ("kubernetes.service-account", "riffle"),
            ("kubernetes.taskmanager.service-account", "tm"),
            ("kubernetes.jobmanager.cpu.amount", "0.5"),
            ("kubernetes.jobmanager.cpu.limit-factor", "2"),
            ("jobmanager.memory.process.size", "1g"),
            ("kubernetes.taskmanager.labels", "team:data"),
            (
                "kubernetes.taskmanager.tolerations",
                "key:dedicated,operator:Equal,value:riffle,effect:NoSchedule;key:spot,operator:Exists",
            ),
            ("containerized.taskmanager.env.AWS_REGION", "eu-west-1"),
            ("kubernetes.rest-service.exposed.type", "NodePort"),
            ("kubernetes.hostnetwork.enabled", "true"),
        ]))?;
        assert_eq!(s.image, "registry.example/riffle:1");
        assert_eq!(s.jobmanager.service_account, "riffle");
        assert_eq!(s.taskmanager.service_account, "tm");
        assert_eq!(
            (s.jobmanager.cpu, s.jobmanager.cpu_limit_factor),
            (0.5, 2.0)
        );
        assert_eq!(s.jobmanager.memory, Some(1 << 30));
        assert_eq!(s.taskmanager.memory, None);
        assert_eq!(s.taskmanager.labels["team"], "data");
        assert_eq!(s.taskmanager.tolerations.len(), 2);
        assert_eq!(
            s.taskmanager.tolerations[0].effect.as_deref(),
            Some("NoSchedule")
        );
        assert_eq!(s.taskmanager.env["AWS_REGION"], "eu-west-1");
        assert!(s.jobmanager.env.is_empty());
        assert_eq!(s.rest_service_type, "NodePort");
        assert_eq!(s.host_network, Some(true));
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused_with_the_key() {
        let err = |pairs: &[(&str, &str)]| match NativeSpec::resolve(&config(pairs)) {
            Ok(_) => String::from("accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err(&[]).contains("-Dkubernetes.cluster-id"));
        assert!(err(&[("kubernetes.cluster-id", "Orders_1")]).contains("lower case"));
        assert!(err(&[("kubernetes.cluster-id", &"a".repeat(46))]).contains("at most 45"));
        let e = err(&[
            ("kubernetes.cluster-id", "a"),
            ("kubernetes.jobmanager.replicas", "2"),
        ]);
        assert!(e.contains("high-availability.type"), "{e}");
        let e = err(&[
            ("kubernetes.cluster-id", "a"),
            ("kubernetes.jobmanager.tolerations", "key:a,colour:blue"),
        ]);
        assert!(
            e.contains("colour") && e.contains("tolerationSeconds"),
            "{e}"
        );
        let e = err(&[
            ("kubernetes.cluster-id", "a"),
            ("kubernetes.rest-service.exposed.type", "Ingress"),
        ]);
        assert!(e.contains("kubernetes.rest-service.exposed.type"), "{e}");
        let e = err(&[
            ("kubernetes.cluster-id", "a"),
            (
                "kubernetes.pod-template-file.default",
                "/no/such/template.yaml",
            ),
        ]);
        assert!(e.contains("/no/such/template.yaml"), "{e}");
    }
}
