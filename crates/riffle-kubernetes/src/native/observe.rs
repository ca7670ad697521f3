//! What an outside controller (the operator) reads of a native cluster
//! without asking its JobManager: the JobManager Deployment and pods (read
//! at once, or trimmed for a watch's cache), and
//! the checkpoint the HA store recorded for a job. Also the one write it
//! needs besides create and delete: removing a cluster's HA data, so a new
//! deployment under the same id does not rerun the jobs recorded there.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus};
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::native::objects::{Component, labels};
use crate::{Kube, KubeError, names};

/// The JobManager side of a native cluster as the apiserver shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterState {
    /// The JobManager Deployment, if it exists.
    pub deployment: Option<DeploymentState>,
    /// The JobManager pods that exist (terminating ones included).
    pub jobmanager_pods: Vec<PodState>,
}

/// The JobManager Deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentState {
    /// Its annotations (the operator records the spec it deployed there).
    pub annotations: BTreeMap<String, String>,
    /// Pods it asks for.
    pub replicas: i32,
    /// Pods that are ready.
    pub ready_replicas: i32,
    /// Set once the apiserver began deleting it.
    pub deleting: bool,
}

/// One JobManager pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodState {
    /// The pod's name.
    pub name: String,
    /// Why its main container cannot run, when it cannot: a waiting reason
    /// such as `CrashLoopBackOff` or `ImagePullBackOff` with its message.
    pub failure: Option<String>,
    /// Container restarts so far.
    pub restarts: i32,
}

/// Waiting reasons that mean the JobManager will not come up by itself.
const FAILING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Reads the cluster's Deployment and JobManager pods from the apiserver.
pub fn observe_cluster(kube: &Kube, cluster_id: &str) -> Result<ClusterState, KubeError> {
    let deployment = kube.get::<Deployment>(cluster_id)?;
    let selector = selector(&labels(cluster_id, Some(Component::JobManager)));
    let api: Api<Pod> = Api::namespaced(kube.client(), kube.namespace());
    let pods = kube.run(async move {
        api.list(&ListParams::default().labels(&selector))
            .await
            .map(|l| l.items)
            .map_err(KubeError::api("listing JobManager pods"))
    })?;
    Ok(cluster_state(deployment.as_ref(), &pods))
}

/// The state of a cluster from its JobManager Deployment and pods, as
/// read from the apiserver or from a watch's cache.
pub fn cluster_state<'a>(
    deployment: Option<&Deployment>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> ClusterState {
    let deployment = deployment.map(|d| {
        let status = d.status.clone().unwrap_or_default();
        DeploymentState {
            annotations: d.metadata.annotations.clone().unwrap_or_default(),
            replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ready_replicas: status.ready_replicas.unwrap_or(0),
            deleting: d.metadata.deletion_timestamp.is_some(),
        }
    });
    ClusterState {
        deployment,
        jobmanager_pods: pods.into_iter().map(pod_state).collect(),
    }
}

/// The label selector of every native cluster's JobManager objects (its
/// Deployment and pods), for a watch over all clusters of a namespace.
pub fn jobmanagers_selector() -> String {
    let mut l = labels("", Some(Component::JobManager));
    l.remove("app");
    selector(&l)
}

/// The cluster id of a native cluster's pod (its `app` label).
pub fn cluster_of(pod: &Pod) -> Option<&str> {
    pod.metadata.labels.as_ref()?.get("app").map(String::as_str)
}

/// Whether `pod` is a JobManager pod of cluster `cluster_id`.
pub fn is_jobmanager_of(pod: &Pod, cluster_id: &str) -> bool {
    let Some(have) = pod.metadata.labels.as_ref() else {
        return false;
    };
    labels(cluster_id, Some(Component::JobManager))
        .iter()
        .all(|(k, v)| have.get(k) == Some(v))
}

/// Drops from a JobManager Deployment what [`cluster_state`] does not read
/// (the pod template, conditions, managedFields), so a cache of many
/// clusters stays small. The labels, owner references and selector stay:
/// watches map the Deployment to its owner by them.
pub fn trim_deployment(d: &mut Deployment) {
    d.metadata.managed_fields = None;
    if let Some(spec) = d.spec.as_mut() {
        spec.template = Default::default();
    }
    if let Some(status) = d.status.take() {
        d.status = Some(DeploymentStatus {
            ready_replicas: status.ready_replicas,
            ..Default::default()
        });
    }
}

/// Drops from a JobManager pod what [`cluster_state`] does not read: all
/// of it but its metadata and its containers' states.
pub fn trim_pod(p: &mut Pod) {
    p.metadata.managed_fields = None;
    p.spec = None;
    if let Some(status) = p.status.take() {
        p.status = Some(PodStatus {
            container_statuses: status.container_statuses,
            ..Default::default()
        });
    }
}

fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn pod_state(pod: &Pod) -> PodState {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let failure = statuses.iter().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.clone()?;
        FAILING_REASONS
            .contains(&reason.as_str())
            .then(|| match &waiting.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            })
    });
    PodState {
        name: pod.metadata.name.clone().unwrap_or_default(),
        failure,
        restarts: statuses.iter().map(|c| c.restart_count).sum(),
    }
}

/// The location of the latest checkpoint the HA store of cluster
/// `ha_cluster_id` recorded for `job_id`; `None` when nothing is recorded.
pub fn recorded_checkpoint(
    kube: &Kube,
    ha_cluster_id: &str,
    job_id: &str,
) -> Result<Option<String>, KubeError> {
    let cm = kube.get::<ConfigMap>(&names::cluster_config_map(ha_cluster_id))?;
    let value = cm
        .and_then(|cm| cm.data)
        .and_then(|d| d.get(&names::checkpoint_key(job_id)).cloned());
    Ok(value.and_then(|v| names::checkpoint_location(&v)))
}

/// Deletes the HA ConfigMap and Lease of cluster `ha_cluster_id` (absent
/// ones are fine). Only while none of its JobManagers runs: a running
/// leader would recreate them.
pub fn delete_ha_data(kube: &Kube, ha_cluster_id: &str) -> Result<(), KubeError> {
    let client = kube.client();
    let ns = kube.namespace().to_string();
    let config_map = names::cluster_config_map(ha_cluster_id);
    let lease = names::leader_lease(ha_cluster_id);
    kube.run(async move {
        let dp = DeleteParams::default();
        let gone = |r: Result<_, kube::Error>, what: String| match r {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(KubeError::Api { what, source: e }),
        };
        gone(
            Api::<ConfigMap>::namespaced(client.clone(), &ns)
                .delete(&config_map, &dp)
                .await
                .map(drop),
            format!("deleting HA ConfigMap {config_map}"),
        )?;
        gone(
            Api::<Lease>::namespaced(client, &ns)
                .delete(&lease, &dp)
                .await
                .map(drop),
            format!("deleting Lease {lease}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus,
    };

    fn waiting(reason: &str) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("jm".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "flink-main-container".into(),
                    restart_count: 4,
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(reason.into()),
                            message: Some("back-off 40s".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_crash_loop_is_a_failure_and_a_pull_in_progress_is_not() {
        let p = pod_state(&waiting("CrashLoopBackOff"));
        assert_eq!(p.failure.as_deref(), Some("CrashLoopBackOff: back-off 40s"));
        assert_eq!(p.restarts, 4);
        assert_eq!(pod_state(&waiting("ContainerCreating")).failure, None);
    }

    #[test]
    fn trimming_keeps_what_the_cluster_state_reads() {
        use k8s_openapi::api::apps::v1::DeploymentSpec;
        use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
        let jm = labels("c", Some(Component::JobManager));
        let mut d = Deployment {
            metadata: kube::api::ObjectMeta {
                name: Some("c".into()),
                labels: Some(jm.clone()),
                annotations: Some(BTreeMap::from([("a".into(), "b".into())])),
                managed_fields: Some(vec![Default::default()]),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                template: PodTemplateSpec {
                    spec: Some(PodSpec::default()),
                    ..Default::default()
                },
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                ready_replicas: Some(1),
                replicas: Some(2),
                ..Default::default()
            }),
        };
        let mut p = waiting("CrashLoopBackOff");
        p.metadata.labels = Some(jm);
        p.spec = Some(PodSpec::default());
        let before = cluster_state(Some(&d), [&p]);
        trim_deployment(&mut d);
        trim_pod(&mut p);
        assert_eq!(cluster_state(Some(&d), [&p]), before);
        assert_eq!(before.deployment.map(|d| d.ready_replicas), Some(1));
        assert!(d.metadata.managed_fields.is_none());
        assert!(d.spec.is_some_and(|s| s.template.spec.is_none()));
        assert!(p.spec.is_none());
        assert!(is_jobmanager_of(&p, "c"));
        assert!(!is_jobmanager_of(&p, "other"));
        assert_eq!(cluster_of(&p), Some("c"));
    }

    #[test]
    fn the_selector_of_all_jobmanagers_names_no_cluster() {
        assert_eq!(
            jobmanagers_selector(),
            "component=jobmanager,type=flink-native-kubernetes"
        );
    }

    #[test]
    fn a_recorded_checkpoint_is_its_location() {
        assert_eq!(
            names::checkpoint_location("7 s3://b/cp/abc/chk-7").as_deref(),
            Some("s3://b/cp/abc/chk-7")
        );
        assert_eq!(names::checkpoint_location("7"), None);
    }
}
