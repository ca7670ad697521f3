//! TaskManager pods as the JobManager's workers: the Kubernetes side of
//! [`riffle_jobmanager::resources`].

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use riffle_jobmanager::resources::{
    ObservedWorker, ProviderError, WorkerProvider, WorkerSpec, WorkerState,
};

use crate::native::objects::{self, Component, Unset};
use crate::native::spec::NativeSpec;
use crate::{Kube, KubeError};

/// Creates, lists and deletes a cluster's TaskManager pods.
#[derive(Debug)]
pub struct TaskManagerPods {
    kube: Kube,
    spec: NativeSpec,
    unset: Unset,
    owner: Option<OwnerReference>,
}

impl TaskManagerPods {
    /// The pods of the cluster `spec` describes, owned by its JobManager
    /// Deployment (read now, so that deleting it deletes the pods).
    pub fn new(kube: Kube, spec: NativeSpec, unset: Unset) -> Result<TaskManagerPods, KubeError> {
        let name = spec.deployment_name();
        let deployment = kube.get::<Deployment>(&name)?;
        let owner = deployment.as_ref().and_then(objects::owner_reference);
        if owner.is_none() {
            tracing::warn!(deployment = %name, "the JobManager Deployment was not found: TaskManager pods get no owner and outlive the cluster");
        }
        Ok(TaskManagerPods {
            kube,
            spec,
            unset,
            owner,
        })
    }

    /// The resource manager's view of these workers.
    pub fn worker_spec(&self) -> WorkerSpec {
        WorkerSpec {
            name_prefix: objects::taskmanager_prefix(&self.spec.cluster_id),
            slots_per_worker: self.spec.slots,
            idle_timeout_ms: self.spec.taskmanager_timeout_ms,
        }
    }

    fn api(&self) -> Api<Pod> {
        Api::namespaced(self.kube.client(), self.kube.namespace())
    }
}

fn provider_error(e: KubeError) -> ProviderError {
    ProviderError(e.to_string())
}

impl WorkerProvider for TaskManagerPods {
    fn observe(&self) -> Result<Vec<ObservedWorker>, ProviderError> {
        let api = self.api();
        let selector = objects::labels(&self.spec.cluster_id, Some(Component::TaskManager))
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods = self
            .kube
            .run(async move {
                api.list(&ListParams::default().labels(&selector))
                    .await
                    .map(|l| l.items)
                    .map_err(KubeError::api("listing TaskManager pods"))
            })
            .map_err(provider_error)?;
        Ok(pods.iter().filter_map(observed).collect())
    }

    fn start(&self, name: &str) -> Result<(), ProviderError> {
        let pod = objects::taskmanager_pod(
            &self.spec,
            self.kube.namespace(),
            name,
            self.owner.as_ref(),
            self.unset,
        );
        let api = self.api();
        let what = format!("creating TaskManager pod {name}");
        self.kube
            .run(async move {
                api.create(&PostParams::default(), &pod)
                    .await
                    .map(|_| ())
                    .map_err(KubeError::api(what))
            })
            .map_err(provider_error)
    }

    fn stop(&self, name: &str) -> Result<(), ProviderError> {
        let api = self.api();
        let name = name.to_string();
        self.kube
            .run(async move {
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
                    Err(e) => Err(KubeError::Api {
                        what: format!("deleting TaskManager pod {name}"),
                        source: e,
                    }),
                }
            })
            .map_err(provider_error)
    }
}

/// A pod as a worker: being deleted → stopping; ended or unable to start
/// its container → failed; else starting or running by its phase.
fn observed(pod: &Pod) -> Option<ObservedWorker> {
    let name = pod.metadata.name.clone()?;
    let status = pod.status.clone().unwrap_or_default();
    let state = if pod.metadata.deletion_timestamp.is_some() {
        WorkerState::Stopping
    } else {
        let waiting_bad = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
            .find(|w| {
                matches!(
                    w.reason.as_deref(),
                    Some(
                        "ErrImagePull"
                            | "ImagePullBackOff"
                            | "CreateContainerConfigError"
                            | "InvalidImageName"
                    )
                )
            })
            .map(|w| {
                format!(
                    "{}: {}",
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                )
            });
        match (status.phase.as_deref(), waiting_bad) {
            (Some("Failed" | "Succeeded"), _) => {
                let reason = status
                    .container_statuses
                    .iter()
                    .flatten()
                    .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
                    .map(|t| {
                        format!(
                            "exit code {}{}",
                            t.exit_code,
                            t.reason
                                .as_deref()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        )
                    })
                    .next()
                    .or(status.reason.clone())
                    .unwrap_or_else(|| "the pod ended".into());
                WorkerState::Failed(reason)
            }
            (_, Some(reason)) => WorkerState::Failed(reason),
            (Some("Running"), None) => WorkerState::Running,
            _ => WorkerState::Starting,
        }
    };
    Some(ObservedWorker { name, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::api::ObjectMeta;

    fn pod(phase: &str, state: Option<ContainerState>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("orders-taskmanager-1-1".into()),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                container_statuses: state.map(|s| {
                    vec![ContainerStatus {
                        name: "flink-main-container".into(),
                        state: Some(s),
                        ..ContainerStatus::default()
                    }]
                }),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn pod_phases_map_to_worker_states() {
        let state = |p: &Pod| observed(p).map(|w| w.state);
        assert_eq!(state(&pod("Pending", None)), Some(WorkerState::Starting));
        assert_eq!(state(&pod("Running", None)), Some(WorkerState::Running));
        let oom = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 137,
                reason: Some("OOMKilled".into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        };
        assert_eq!(
            state(&pod("Failed", Some(oom))),
            Some(WorkerState::Failed("exit code 137 (OOMKilled)".into()))
        );
        let pull = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ErrImagePull".into()),
                message: Some("not found".into()),
            }),
            ..ContainerState::default()
        };
        assert!(matches!(
            state(&pod("Pending", Some(pull))),
            Some(WorkerState::Failed(r)) if r.contains("ErrImagePull")
        ));
        let mut deleted = pod("Running", None);
        deleted.metadata.deletion_timestamp = Some(Time(Default::default()));
        assert_eq!(state(&deleted), Some(WorkerState::Stopping));
    }
}
