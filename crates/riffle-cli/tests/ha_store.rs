//! The JobManager's side of high availability, against an in-memory
//! `HaStore`: a session job is recorded before it runs, each completed
//! checkpoint before its output is committed, and both are forgotten once
//! the job's end is recorded; a JobManager that becomes leader resumes the
//! recorded jobs from their recorded checkpoints and forgets the ones that
//! already ended. (The Kubernetes implementation of the store is tested on
//! the test bed: `tests/kubernetes/run.sh ha`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riffle_common::config::{ClusterConfig, Configuration};
use riffle_jobmanager::ha::{HaStore, HaStoreError};
use riffle_jobmanager::job::JobStatus;
use riffle_jobmanager::{JobManager, JobManagerOptions, SqlSubmission};
use riffle_rpc::{JobId, ResourceId};
use riffle_taskmanager::{TaskManager, TaskManagerOptions};

#[derive(Debug, Default)]
struct MemoryStore {
    /// Every call, in order.
    log: Mutex<Vec<String>>,
    jobs: Mutex<BTreeMap<JobId, SqlSubmission>>,
    checkpoints: Mutex<BTreeMap<JobId, (u64, String)>>,
}

impl MemoryStore {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl HaStore for MemoryStore {
    fn put_job(&self, job: &SqlSubmission) -> Result<(), HaStoreError> {
        let id: JobId = job.job_id.as_deref().unwrap().parse().unwrap();
        self.log.lock().unwrap().push(format!("put {id}"));
        self.jobs.lock().unwrap().insert(id, job.clone());
        Ok(())
    }

    fn remove_job(&self, id: JobId) -> Result<(), HaStoreError> {
        self.log.lock().unwrap().push(format!("remove {id}"));
        self.jobs.lock().unwrap().remove(&id);
        self.checkpoints.lock().unwrap().remove(&id);
        Ok(())
    }

    fn jobs(&self) -> Result<Vec<SqlSubmission>, HaStoreError> {
        Ok(self.jobs.lock().unwrap().values().cloned().collect())
    }

    fn checkpoint_completed(
        &self,
        job: JobId,
        id: u64,
        location: &str,
    ) -> Result<(), HaStoreError> {
        self.log
            .lock()
            .unwrap()
            .push(format!("checkpoint {job} {id}"));
        self.checkpoints
            .lock()
            .unwrap()
            .insert(job, (id, location.to_string()));
        Ok(())
    }

    fn latest_checkpoint(&self, job: JobId) -> Result<Option<String>, HaStoreError> {
        Ok(self
            .checkpoints
            .lock()
            .unwrap()
            .get(&job)
            .map(|(_, l)| l.clone()))
    }
}

fn config(dir: &std::path::Path) -> Configuration {
    let ck = format!("file://{}", dir.join("ck").display());
    let ha = format!("file://{}", dir.join("ha").display());
    [
        ("execution.checkpointing.interval", "100 ms"),
        ("execution.checkpointing.dir", ck.as_str()),
        // Read here for the job result store's default (Flink's, under the
        // storage directory); the election is the CLI's and not started.
        ("high-availability.type", "kubernetes"),
        ("high-availability.storageDir", ha.as_str()),
        ("kubernetes.cluster-id", "riffle-test"),
        ("heartbeat.interval", "500 ms"),
        ("heartbeat.timeout", "5 s"),
    ]
    .into_iter()
    .collect()
}

fn jobmanager(config: &Configuration, store: &Arc<MemoryStore>) -> JobManager {
    JobManager::start(JobManagerOptions {
        config: config.clone(),
        cluster: ClusterConfig::resolve(config).unwrap(),
        rpc_bind: "127.0.0.1".into(),
        rpc_port: 0,
        rest_bind: "127.0.0.1".into(),
        rest_port: 0,
        metrics_ports: None,
        job_store: Some(Arc::clone(store) as Arc<dyn HaStore>),
    })
    .unwrap()
}

fn taskmanager(jm: &JobManager) -> Arc<TaskManager> {
    TaskManager::start(TaskManagerOptions {
        resource_id: ResourceId::random(),
        jobmanager: format!("127.0.0.1:{}", jm.rpc_port),
        host: Some("127.0.0.1".into()),
        bind_host: "127.0.0.1".into(),
        data_port: 0,
        slots: 2,
        heartbeat_interval: Duration::from_millis(500),
        heartbeat_timeout: Duration::from_secs(5),
        metrics_ports: None,
    })
    .unwrap()
}

fn submission(script: String) -> SqlSubmission {
    SqlSubmission {
        script,
        job_id: None,
        parallelism: Some(1),
        flink_configuration: BTreeMap::new(),
    }
}

fn wait(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_session_job_is_recorded_before_it_runs_and_forgotten_once_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let jm = jobmanager(&config(dir.path()), &store);
    let _tm = taskmanager(&jm);
    let out = dir.path().join("out");
    let script = format!(
            "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '600',
                 'rows-per-second' = '1000', 'fields.k.kind' = 'sequence',
                 'fields.k.start' = '1', 'fields.k.end' = '600');
             CREATE TABLE o (k BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             INSERT INTO o SELECT k FROM s;",
        out.display()
    );
    let id = jm.state.submit(submission(script.clone())).unwrap();
    wait("the job's end", || {
        jm.state.ended(id) == Some(JobStatus::Finished)
    });
    wait("the job forgotten", || {
        store.log().last() == Some(&format!("remove {id}"))
    });
    let log = store.log();
    assert_eq!(log.first(), Some(&format!("put {id}")), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("checkpoint {id} "))),
        "no checkpoint recorded: {log:?}"
    );
    assert!(store.jobs().unwrap().is_empty());
    assert_eq!(store.latest_checkpoint(id).unwrap(), None);
    // The end is recorded where every JobManager of the cluster looks:
    // Flink's default under high-availability.storageDir, not beside the
    // job's checkpoints.
    let results = dir.path().join("ha/job-result-store/riffle-test");
    assert!(results.join(format!("{id}.json")).exists());
    assert!(!dir.path().join("ck/job-result-store").exists());

    // A leader that died before forgetting it leaves the job recorded: the
    // next leader finds its end in the job result store and forgets it
    // instead of running it again.
    store.jobs.lock().unwrap().insert(id, {
        let mut s = submission(script);
        s.job_id = Some(id.to_string());
        s
    });
    let next = jobmanager(&config(dir.path()), &store);
    next.state.recover_jobs();
    assert_eq!(store.log().last(), Some(&format!("remove {id}")));
    assert!(store.jobs().unwrap().is_empty());
    assert_eq!(next.state.job_status(id), None, "an ended job ran again");
}

#[test]
fn a_new_leader_resumes_a_recorded_job_from_its_recorded_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::default());
    let first = jobmanager(&config(dir.path()), &store);
    let _tm = taskmanager(&first);
    let id = first
        .state
        .submit(submission(
            "CREATE TABLE s (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100');
             CREATE TABLE b (k BIGINT) WITH ('connector' = 'blackhole');
             INSERT INTO b SELECT k FROM s;"
                .into(),
        ))
        .unwrap();
    wait("two recorded checkpoints", || {
        store
            .checkpoints
            .lock()
            .unwrap()
            .get(&id)
            .is_some_and(|(n, _)| *n >= 2)
    });
    let (recorded, location) = store.checkpoints.lock().unwrap().get(&id).cloned().unwrap();
    assert!(
        location.ends_with(&format!("{id}/chk-{recorded}")),
        "{location}"
    );

    // Another JobManager becomes leader (the first one's TaskManager stays
    // with it: the recovered job only needs to be planned from the record).
    let next = jobmanager(&config(dir.path()), &store);
    next.state.recover_jobs();
    assert!(next.state.job_status(id).is_some(), "{:?}", store.log());
    let url = format!(
        "http://{}/v1/jobs/{id}/checkpoints",
        next.state.rest_address
    );
    let stats: serde_json::Value = ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let restored = &stats["latest"]["restored"];
    assert!(
        restored["id"].as_u64().unwrap() >= recorded,
        "restored {restored}, recorded {recorded}"
    );
    assert!(
        restored["external_path"]
            .as_str()
            .unwrap()
            .contains(&format!("{id}/chk-"))
    );
}
