//! The submitted jobs of a highly available session and their latest
//! checkpoints, for the next leader.
//!
//! Each job's submission (SQL, configuration, job id) is a JSON file under
//! `high-availability.storageDir/<cluster-id>/job-graphs/`; the cluster's HA
//! ConfigMap holds one `jobGraph-<job id>` key per job pointing at it, as
//! Flink keeps pointers to its job graphs there, and one
//! `checkpoint-<job id>` key with the location of the job's latest completed
//! checkpoint (Flink keeps those in a ConfigMap per job; one ConfigMap keeps
//! the Role free of `delete`). The ConfigMap is also where
//! leadership is enforced on every write: its `riffle.dev/leader` annotation
//! names the JobManager that may change it, each leader claims it on
//! election, and every update carries the resourceVersion it read. A
//! deposed leader's write therefore fails, whether it reads before or after
//! the new leader's claim.

use bytes::Bytes;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use riffle_jobmanager::SqlSubmission;
use riffle_jobmanager::ha::{HaStore, HaStoreError};
use riffle_rpc::JobId;
use riffle_storage::Storage;

use crate::{Kube, KubeError, names};

/// How often an update that lost a race with another write of the same
/// leader (a job submitted while another ended) is tried again.
const ATTEMPTS: usize = 5;

/// The job store of one cluster, written as one JobManager.
#[derive(Debug)]
pub struct ConfigMapJobStore {
    kube: Kube,
    cluster_id: String,
    identity: String,
    storage: Storage,
}

impl ConfigMapJobStore {
    /// The store of cluster `cluster_id`, with files under `storage`
    /// (`high-availability.storageDir/<cluster-id>`), for JobManager
    /// `identity`.
    pub fn new(
        kube: Kube,
        cluster_id: &str,
        identity: &str,
        storage: Storage,
    ) -> ConfigMapJobStore {
        ConfigMapJobStore {
            kube,
            cluster_id: cluster_id.to_string(),
            identity: identity.to_string(),
            storage,
        }
    }

    /// Makes this JobManager the ConfigMap's writer (it just became leader)
    /// and publishes its REST address; creates the ConfigMap if needed.
    pub fn claim(&self, rest_url: &str) -> Result<(), KubeError> {
        let (me, url) = (self.identity.clone(), rest_url.to_string());
        self.update(true, move |cm| {
            cm.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(names::LEADER_ANNOTATION.into(), me.clone());
            cm.data
                .get_or_insert_with(Default::default)
                .insert(names::REST_LEADER_KEY.into(), url.clone());
        })
    }

    fn api(&self) -> Api<ConfigMap> {
        Api::namespaced(self.kube.client(), self.kube.namespace())
    }

    fn name(&self) -> String {
        names::cluster_config_map(&self.cluster_id)
    }

    fn read(&self) -> Result<Option<ConfigMap>, KubeError> {
        self.kube.get(&self.name())
    }

    /// Read, change, write with the read resourceVersion; a lost race is
    /// tried again. Only the JobManager the annotation names may write,
    /// unless `claiming`.
    fn update(
        &self,
        claiming: bool,
        change: impl Fn(&mut ConfigMap) + Send + Sync + Clone + 'static,
    ) -> Result<(), KubeError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let current = self.read()?;
            let exists = current.is_some();
            let mut cm = current.unwrap_or_else(|| ConfigMap {
                metadata: ObjectMeta {
                    name: Some(self.name()),
                    labels: Some(names::ha_labels(&self.cluster_id)),
                    ..ObjectMeta::default()
                },
                ..ConfigMap::default()
            });
            let writer = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(names::LEADER_ANNOTATION))
                .cloned();
            if !claiming && writer.as_deref() != Some(self.identity.as_str()) {
                return Err(KubeError::NotLeader(format!(
                    "ConfigMap {} is written by JobManager {} now, not by this one ({}): it is \
                     no longer the leader",
                    self.name(),
                    writer.as_deref().unwrap_or("(none)"),
                    self.identity
                )));
            }
            change(&mut cm);
            let (api, name) = (self.api(), self.name());
            let written = self.kube.run(async move {
                let pp = PostParams::default();
                if exists {
                    api.replace(&name, &pp, &cm).await
                } else {
                    api.create(&pp, &cm).await
                }
                .map(|_| ())
                .map_err(KubeError::api(format!("writing ConfigMap {name}")))
            });
            match written {
                Err(e) if e.is_conflict() => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| KubeError::Config("no attempt made".into())))
    }

    fn file(id: &str) -> String {
        format!("job-graphs/{id}.json")
    }
}

fn store_error(e: KubeError) -> HaStoreError {
    HaStoreError(e.to_string())
}

impl HaStore for ConfigMapJobStore {
    fn put_job(&self, job: &SqlSubmission) -> Result<(), HaStoreError> {
        let id = job
            .job_id
            .clone()
            .ok_or_else(|| HaStoreError("a job without an id cannot be recorded".into()))?;
        let json = serde_json::to_vec(job).map_err(|e| HaStoreError(e.to_string()))?;
        let file = Self::file(&id);
        self.storage.put(&file, Bytes::from(json)).map_err(|e| {
            HaStoreError(format!("cannot write {}/{file}: {e}", self.storage.url()))
        })?;
        let pointer = format!("{}/{file}", self.storage.url().trim_end_matches('/'));
        self.update(false, move |cm| {
            cm.data
                .get_or_insert_with(Default::default)
                .insert(names::job_key(&id), pointer.clone());
        })
        .map_err(store_error)
    }

    fn remove_job(&self, id: JobId) -> Result<(), HaStoreError> {
        let keys = [
            names::job_key(&id.to_string()),
            names::checkpoint_key(&id.to_string()),
        ];
        self.update(false, move |cm| {
            if let Some(d) = cm.data.as_mut() {
                for key in &keys {
                    d.remove(key);
                }
            }
        })
        .map_err(store_error)?;
        let file = Self::file(&id.to_string());
        match self.storage.delete(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(HaStoreError(format!(
                "cannot delete {}/{file}: {e}",
                self.storage.url()
            ))),
        }
    }

    fn jobs(&self) -> Result<Vec<SqlSubmission>, HaStoreError> {
        let Some(cm) = self.read().map_err(store_error)? else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        for (key, _) in cm.data.unwrap_or_default() {
            let Some(id) = key.strip_prefix(names::JOB_KEY_PREFIX) else {
                continue;
            };
            let file = Self::file(id);
            let bytes = self.storage.get(&file).map_err(|e| {
                HaStoreError(format!("cannot read {}/{file}: {e}", self.storage.url()))
            })?;
            let job: SqlSubmission = serde_json::from_slice(&bytes).map_err(|e| {
                HaStoreError(format!(
                    "{}/{file} is not a recorded job: {e}",
                    self.storage.url()
                ))
            })?;
            jobs.push(job);
        }
        Ok(jobs)
    }

    fn checkpoint_completed(
        &self,
        job: JobId,
        id: u64,
        location: &str,
    ) -> Result<(), HaStoreError> {
        let key = names::checkpoint_key(&job.to_string());
        let value = format!("{id} {location}");
        self.update(false, move |cm| {
            cm.data
                .get_or_insert_with(Default::default)
                .insert(key.clone(), value.clone());
        })
        .map_err(store_error)
    }

    fn latest_checkpoint(&self, job: JobId) -> Result<Option<String>, HaStoreError> {
        let Some(cm) = self.read().map_err(store_error)? else {
            return Ok(None);
        };
        let key = names::checkpoint_key(&job.to_string());
        Ok(cm
            .data
            .and_then(|d| d.get(&key).cloned())
            .and_then(|v| names::checkpoint_location(&v)))
    }
}
