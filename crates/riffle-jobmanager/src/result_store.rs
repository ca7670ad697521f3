//! The job result store: which job ids reached a globally terminal state,
//! kept on durable storage so that a JobManager started again (a pod
//! restarted after its job finished, a standalone job launched twice) does
//! not run the same job a second time.
//!
//! Why it exists: a finished job's output is committed. Running its id again
//! would either start from scratch (every row written twice) or restore a
//! checkpoint left behind and commit that checkpoint's rows again. Flink
//! keeps such a store for the same reason; Riffle keeps one entry per job:
//!
//! - `<store>/<job-id>_DIRTY.json` is written the moment a job ends, before
//!   anything is cleaned up;
//! - the job's checkpoints are then deleted (per the retention setting);
//! - `<store>/<job-id>.json` replaces the dirty entry once that is done.
//!
//! A JobManager that finds a dirty entry finishes the clean-up itself. The
//! entries are never deleted by Riffle: running a recorded job id again is an
//! explicit choice (`riffle standalone-job --rerun`, or another job id).
//!
//! Where: `job-result-store.storage-path`; else, with Kubernetes high
//! availability, Flink's default
//! `<high-availability.storageDir>/job-result-store/<cluster-id>` (shared by
//! every JobManager of the cluster); else `job-result-store` under the
//! checkpoint directory (see [`CheckpointingConfig::result_store`]).
//!
//! [`CheckpointingConfig::result_store`]: riffle_common::config::CheckpointingConfig

use bytes::Bytes;
use riffle_common::config::StorageConfig;
use riffle_rpc::JobId;
use riffle_storage::Storage;
use serde::{Deserialize, Serialize};

use crate::job::{Job, JobStatus};

/// The format version written into each entry.
const ENTRY_VERSION: u32 = 1;

/// What went wrong reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum ResultStoreError {
    /// The store's location cannot be reached or written.
    #[error("job result store {location}: {source}")]
    Storage {
        /// The entry or directory.
        location: String,
        /// The storage error (boxed: it is large, and errors here are rare).
        #[source]
        source: Box<riffle_storage::Error>,
    },
    /// An entry exists but does not read as one.
    #[error(
        "job result store entry {location} is damaged ({reason}); it records that the job \
         already ended: restore it, or delete it to let the job id run again"
    )]
    Corrupt {
        /// The entry.
        location: String,
        /// Why it does not read.
        reason: String,
    },
}

/// How a job ended, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    /// Format version.
    pub version: u32,
    /// The job.
    pub job_id: JobId,
    /// Its name.
    pub job_name: String,
    /// FINISHED, CANCELED or FAILED.
    pub state: JobStatus,
    /// Submission time (epoch ms).
    pub start_time: i64,
    /// When it ended (epoch ms).
    pub end_time: i64,
    /// The root cause when it failed.
    pub failure: Option<String>,
}

impl JobResult {
    /// The result of a job that reached a globally terminal state.
    pub fn of(job: &Job) -> JobResult {
        JobResult {
            version: ENTRY_VERSION,
            job_id: job.id,
            job_name: job.name.clone(),
            state: job.status,
            start_time: job.start_time,
            end_time: job.end_time.unwrap_or(job.last_modification),
            failure: (job.status == JobStatus::Failed)
                .then(|| job.failures.last().map(|f| f.message.clone()))
                .flatten(),
        }
    }

    /// One line for people: "FINISHED at 2026-12-04 21:03:11.000 UTC".
    pub fn describe(&self) -> String {
        let mut when = String::new();
        riffle_common::time::format_timestamp_ms(self.end_time, &mut when);
        when.push_str(" UTC");
        match &self.failure {
            Some(cause) => format!("{} at {when}: {cause}", self.state.name()),
            None => format!("{} at {when}", self.state.name()),
        }
    }
}

/// An entry found in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The result.
    pub result: JobResult,
    /// Whether the job's clean-up finished (else it must be redone).
    pub clean: bool,
    /// The entry's full location, for messages.
    pub location: String,
}

/// The store at one location.
#[derive(Debug, Clone)]
pub struct JobResultStore {
    storage: Storage,
    location: String,
}

fn dirty_name(job: JobId) -> String {
    format!("{job}_DIRTY.json")
}

fn clean_name(job: JobId) -> String {
    format!("{job}.json")
}

impl JobResultStore {
    /// Opens the store at `location` (created on first write).
    pub fn open(location: &str, config: &StorageConfig) -> Result<Self, ResultStoreError> {
        let location = location.trim_end_matches('/').to_string();
        let storage =
            Storage::open(&location, config).map_err(|source| ResultStoreError::Storage {
                location: location.clone(),
                source: Box::new(source),
            })?;
        Ok(JobResultStore { storage, location })
    }

    /// Where the store is.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn storage_error(&self, name: &str, source: riffle_storage::Error) -> ResultStoreError {
        ResultStoreError::Storage {
            location: format!("{}/{name}", self.location),
            source: Box::new(source),
        }
    }

    /// The entry of `job`, if it ended before; a clean entry wins over a dirty one.
    pub fn find(&self, job: JobId) -> Result<Option<Recorded>, ResultStoreError> {
        for (name, clean) in [(clean_name(job), true), (dirty_name(job), false)] {
            let bytes = match self.storage.get(&name) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(self.storage_error(&name, e)),
            };
            let location = format!("{}/{name}", self.location);
            let corrupt = |reason: String| ResultStoreError::Corrupt {
                location: location.clone(),
                reason,
            };
            let result: JobResult =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            if result.job_id != job {
                return Err(corrupt(format!("it names job {}", result.job_id)));
            }
            if !result.state.is_globally_terminal() {
                return Err(corrupt(format!(
                    "state {} is not a final state",
                    result.state.name()
                )));
            }
            return Ok(Some(Recorded {
                result,
                clean,
                location,
            }));
        }
        Ok(None)
    }

    /// Records that a job ended; its clean-up is still to come.
    pub fn record_dirty(&self, result: &JobResult) -> Result<(), ResultStoreError> {
        self.put(&dirty_name(result.job_id), result)
    }

    /// Records that a job's clean-up is done.
    pub fn mark_clean(&self, result: &JobResult) -> Result<(), ResultStoreError> {
        let dirty = dirty_name(result.job_id);
        self.put(&clean_name(result.job_id), result)?;
        match self.storage.delete(&dirty) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(self.storage_error(&dirty, e)),
        }
    }

    /// Forgets a job's result, so its id can run again.
    pub fn remove(&self, job: JobId) -> Result<(), ResultStoreError> {
        for name in [clean_name(job), dirty_name(job)] {
            match self.storage.delete(&name) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(self.storage_error(&name, e)),
            }
        }
        Ok(())
    }

    fn put(&self, name: &str, result: &JobResult) -> Result<(), ResultStoreError> {
        let bytes = serde_json::to_vec_pretty(result).map_err(|e| ResultStoreError::Corrupt {
            location: format!("{}/{name}", self.location),
            reason: e.to_string(),
        })?;
        self.storage
            .put(name, Bytes::from(bytes))
            .map_err(|e| self.storage_error(name, e))
    }
}

/// How often recording a job's result is tried before giving up.
const RECORD_ATTEMPTS: u32 = 5;

/// Records a job's result, then deletes its directories, then marks the
/// record clean. Nothing is deleted unless the result is durable: a job
/// whose end could not be recorded keeps its checkpoints, so a later start
/// resumes from them instead of running from scratch.
pub fn record_and_clean_up(
    result: &JobResult,
    store: Option<&str>,
    deletes: &[String],
    storage: &riffle_common::config::StorageConfig,
) {
    let job_id = result.job_id;
    let store = match store.map(|s| JobResultStore::open(s, storage)) {
        None => None,
        Some(Ok(store)) => Some(store),
        Some(Err(e)) => {
            tracing::error!(%job_id, error = %e, "cannot open the job result store; the job's checkpoints are kept");
            return;
        }
    };
    if let Some(store) = &store {
        let mut attempt = 1;
        while let Err(e) = store.record_dirty(result) {
            if attempt == RECORD_ATTEMPTS {
                tracing::error!(%job_id, error = %e, "cannot record the job's result; its checkpoints are kept so that a new start resumes instead of running it again");
                return;
            }
            tracing::warn!(%job_id, attempt, error = %e, "cannot record the job's result yet; retrying");
            std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
            attempt += 1;
        }
    }
    let mut complete = true;
    for location in deletes {
        if let Err(e) = crate::restore::delete_directory(location, storage) {
            complete = false;
            tracing::warn!(%location, error = %e, "cannot delete a checkpoint directory");
        }
    }
    if let Some(store) = &store
        && complete
        && let Err(e) = store.mark_clean(result)
    {
        tracing::warn!(%job_id, error = %e, "cannot mark the job's result clean; the next start redoes its clean-up");
    }
    if let Some(store) = &store {
        tracing::info!(%job_id, state = result.state.name(), store = store.location(), "job result recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(job: JobId, state: JobStatus) -> JobResult {
        JobResult {
            version: ENTRY_VERSION,
            job_id: job,
            job_name: "q".into(),
            state,
            start_time: 1,
            end_time: 2,
            failure: None,
        }
    }

    fn store(dir: &tempfile::TempDir) -> JobResultStore {
        let path = dir.path().join("jrs");
        JobResultStore::open(path.to_str().unwrap(), &StorageConfig::default()).unwrap()
    }

    #[test]
    fn an_entry_goes_from_dirty_to_clean_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let job = JobId::from_seed("a");
        assert_eq!(s.find(job).unwrap(), None);
        let r = result(job, JobStatus::Finished);
        s.record_dirty(&r).unwrap();
        let found = s.find(job).unwrap().unwrap();
        assert!(!found.clean);
        assert_eq!(found.result, r);
        s.mark_clean(&r).unwrap();
        let found = s.find(job).unwrap().unwrap();
        assert!(found.clean);
        assert!(!dir.path().join("jrs").join(dirty_name(job)).exists());
        // Another job is not affected.
        assert_eq!(s.find(JobId::from_seed("b")).unwrap(), None);
        s.remove(job).unwrap();
        assert_eq!(s.find(job).unwrap(), None);
    }

    #[test]
    fn a_damaged_entry_is_an_error_naming_the_file_not_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let job = JobId::from_seed("a");
        std::fs::create_dir_all(dir.path().join("jrs")).unwrap();
        std::fs::write(dir.path().join("jrs").join(clean_name(job)), b"{not json").unwrap();
        let e = s.find(job).unwrap_err().to_string();
        assert!(e.contains(&clean_name(job)) && e.contains("damaged"), "{e}");
        let other = result(JobId::from_seed("other"), JobStatus::Finished);
        std::fs::write(
            dir.path().join("jrs").join(clean_name(job)),
            serde_json::to_vec(&other).unwrap(),
        )
        .unwrap();
        let e = s.find(job).unwrap_err().to_string();
        assert!(e.contains("it names job"), "{e}");
        let running = result(job, JobStatus::Running);
        std::fs::write(
            dir.path().join("jrs").join(clean_name(job)),
            serde_json::to_vec(&running).unwrap(),
        )
        .unwrap();
        let e = s.find(job).unwrap_err().to_string();
        assert!(e.contains("not a final state"), "{e}");
    }
}
