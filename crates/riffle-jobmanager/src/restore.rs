//! Finding and checking what a job starts from: a savepoint named by
//! `execution.savepoint.path` (`--fromSavepoint`), or, for a job id that
//! already has checkpoints in the checkpoint directory (a JobManager
//! restarted with the same `--job-id`), the latest of them that reads.
//!
//! The check compares the snapshot's operators with the planned query's:
//! state of an operator the query no longer has is refused unless
//! `execution.savepoint.ignore-unclaimed-state` (`--allowNonRestoredState`)
//! is set, and state whose shape differs from what the operator keeps now
//! is refused naming the operator. Doing this at submission gives the user
//! the error right away instead of a failing deployment.

use riffle_common::config::StorageConfig;
use riffle_rpc::JobId;
use riffle_rpc::checkpoint::{CheckpointMetadata, METADATA_FILE, RestoreSpec};
use riffle_runtime::JobGraph;
use riffle_runtime::checkpoint::uid::operator_uids;
use riffle_storage::Storage;

/// What a job starts from, and whether it owns it.
#[derive(Debug, Clone, PartialEq)]
pub enum RestoreSource {
    /// The latest checkpoint the job's id already has in the checkpoint
    /// directory (an earlier JobManager took it): owned, so subsumed and
    /// deleted like the job's new checkpoints.
    OwnCheckpoint(RestoreSpec),
    /// A savepoint or another job's retained checkpoint: read, never deleted.
    Savepoint(RestoreSpec),
}

impl RestoreSource {
    /// The snapshot itself.
    pub fn spec(&self) -> &RestoreSpec {
        match self {
            RestoreSource::OwnCheckpoint(s) | RestoreSource::Savepoint(s) => s,
        }
    }

    /// The snapshot itself, by value.
    pub fn into_spec(self) -> RestoreSpec {
        match self {
            RestoreSource::OwnCheckpoint(s) | RestoreSource::Savepoint(s) => s,
        }
    }
}

/// A stateful operator of the planned query.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOperator {
    /// Stable uid.
    pub uid: String,
    /// Name, for messages.
    pub name: String,
    /// State descriptor.
    pub descriptor: String,
    /// Key groups.
    pub max_parallelism: usize,
}

/// The stateful operators of a graph (sources included).
pub fn planned_operators(graph: &JobGraph, max_parallelism: usize) -> Vec<PlannedOperator> {
    let uids = operator_uids(graph);
    let mut out = Vec::new();
    for v in &graph.vertices {
        let mut it = uids.get(v.id).cloned().unwrap_or_default().into_iter();
        if let Some(src) = &v.source
            && let Some(uid) = it.next()
        {
            out.push(PlannedOperator {
                uid,
                name: format!("Source: {}", src.connector()),
                descriptor: src.state_descriptor(),
                max_parallelism,
            });
        }
        for op in &v.operators {
            let Some(uid) = it.next() else { break };
            if let Some(descriptor) = op.state_descriptor() {
                out.push(PlannedOperator {
                    uid,
                    name: op.name(),
                    descriptor,
                    max_parallelism,
                });
            }
        }
    }
    out
}

/// Reads `_metadata` of a checkpoint or savepoint directory.
pub fn read_metadata(location: &str, storage: &StorageConfig) -> Result<RestoreSpec, String> {
    let location = location.trim_end_matches('/').to_string();
    let storage = Storage::open(&location, storage).map_err(|e| e.to_string())?;
    let bytes = storage.get(METADATA_FILE).map_err(|e| {
        if e.is_not_found() {
            format!(
                "{location} holds no {METADATA_FILE} file: it is not a completed checkpoint or savepoint"
            )
        } else {
            format!("cannot read {location}/{METADATA_FILE}: {e}")
        }
    })?;
    let metadata = CheckpointMetadata::parse(&bytes, &location).map_err(|e| e.to_string())?;
    Ok(RestoreSpec { location, metadata })
}

/// Deletes a checkpoint or savepoint directory with everything in it.
pub fn delete_directory(location: &str, storage: &StorageConfig) -> Result<(), String> {
    // Opened at the parent, so that a local directory itself goes too.
    let trimmed = location.trim_end_matches('/');
    let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
    Storage::open(parent, storage)
        .and_then(|s| s.delete_all(name))
        .map_err(|e| format!("cannot delete {location}: {e}"))
}

/// Whether anything is stored under a checkpoint or savepoint directory
/// (a savepoint disposed of earlier is not).
pub fn directory_exists(location: &str, storage: &StorageConfig) -> Result<bool, String> {
    let location = location.trim_end_matches('/');
    Storage::open(location, storage)
        .and_then(|s| s.list(""))
        .map(|files| !files.is_empty())
        .map_err(|e| format!("cannot list {location}: {e}"))
}

/// The latest readable checkpoint of `job` under the checkpoint directory.
pub fn latest_checkpoint(
    dir: &str,
    job: JobId,
    storage: &StorageConfig,
) -> Result<Option<RestoreSpec>, String> {
    let root = format!("{}/{job}", dir.trim_end_matches('/'));
    let store = Storage::open(&root, storage).map_err(|e| e.to_string())?;
    let dirs = match store.list_dirs("") {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("cannot list checkpoints in {root}: {e}")),
    };
    let mut ids: Vec<u64> = dirs
        .iter()
        .filter_map(|d| d.trim_end_matches('/').strip_prefix("chk-")?.parse().ok())
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    for id in ids {
        match read_metadata(&format!("{root}/chk-{id}"), storage) {
            Ok(spec) => return Ok(Some(spec)),
            // An incomplete or damaged checkpoint: the one before may do.
            Err(e) => {
                tracing::warn!(checkpoint = id, error = %e, "skipping an unusable checkpoint")
            }
        }
    }
    Ok(None)
}

/// Checks a snapshot against the planned operators; with `allow_unclaimed`
/// the state of operators that no longer exist is dropped.
pub fn check(
    mut spec: RestoreSpec,
    planned: &[PlannedOperator],
    allow_unclaimed: bool,
) -> Result<RestoreSpec, String> {
    let mut kept = Vec::new();
    for op in std::mem::take(&mut spec.metadata.operators) {
        match planned.iter().find(|p| p.uid == op.uid) {
            None if allow_unclaimed => {
                tracing::info!(uid = %op.uid, name = %op.name, "skipping state of an operator the job no longer has");
            }
            None => {
                return Err(format!(
                    "Failed to rollback to checkpoint/savepoint {}. Cannot map checkpoint/savepoint \
                     state for operator {} ({}) to the new program, because the operator is not \
                     available in the new program. If you want to allow to skip this, you can set \
                     the --allowNonRestoredState option on the CLI \
                     (execution.savepoint.ignore-unclaimed-state: true).",
                    spec.location, op.uid, op.name
                ));
            }
            Some(p) if p.descriptor != op.descriptor => {
                return Err(format!(
                    "Cannot restore {} into the job: operator {} ({}) holds state of the shape \
                     [{}] there, but the query's operator now keeps [{}]. The query changed in a \
                     way its state cannot follow; start without the savepoint or restore the \
                     previous query.",
                    spec.location, p.name, op.uid, op.descriptor, p.descriptor
                ));
            }
            Some(p) if p.max_parallelism != op.max_parallelism => {
                return Err(format!(
                    "Cannot restore {} into the job: operator {} ({}) was checkpointed with \
                     pipeline.max-parallelism {} and the job has {}; keep pipeline.max-parallelism \
                     unchanged",
                    spec.location, p.name, op.uid, op.max_parallelism, p.max_parallelism
                ));
            }
            Some(_) => kept.push(op),
        }
    }
    spec.metadata.operators = kept;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_rpc::checkpoint::{METADATA_VERSION, OperatorState, SnapshotKind};

    fn spec(ops: &[(&str, &str)]) -> RestoreSpec {
        RestoreSpec {
            location: "/sp/savepoint-1".into(),
            metadata: CheckpointMetadata {
                version: METADATA_VERSION,
                job_id: JobId::from_seed("j"),
                checkpoint_id: 4,
                timestamp: 0,
                kind: SnapshotKind::Savepoint,
                operators: ops
                    .iter()
                    .map(|(uid, d)| OperatorState {
                        uid: uid.to_string(),
                        name: "GroupAggregate".into(),
                        parallelism: 2,
                        max_parallelism: 128,
                        descriptor: d.to_string(),
                        files: vec![],
                    })
                    .collect(),
            },
        }
    }

    fn planned(uid: &str, d: &str) -> PlannedOperator {
        PlannedOperator {
            uid: uid.into(),
            name: "GroupAggregate".into(),
            descriptor: d.into(),
            max_parallelism: 128,
        }
    }

    fn plan(sql: &str) -> Vec<PlannedOperator> {
        let mut session = riffle_sql::Session::new(riffle_common::Configuration::new());
        let script = session
            .run_script(sql, &std::sync::Arc::new(Default::default()))
            .unwrap();
        planned_operators(&script.job.unwrap(), 128)
    }

    #[test]
    fn uids_are_unique_and_stable_when_the_same_sql_is_planned_again() {
        let sql = "CREATE TABLE s (k BIGINT, v BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
            CREATE TABLE a (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
            CREATE TABLE b (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');
            INSERT INTO a SELECT k, COUNT(*) FROM s GROUP BY k;
            INSERT INTO b SELECT k, COUNT(*) FROM s GROUP BY k;";
        let unique = |ops: &[PlannedOperator]| {
            let uids: std::collections::BTreeSet<&str> =
                ops.iter().map(|o| o.uid.as_str()).collect();
            uids.len() == ops.len()
        };
        // The repeated aggregate is planned once (sub-plan reuse): one source,
        // one aggregate, two sinks.
        let first = plan(sql);
        assert!(unique(&first), "{first:?}");
        assert_eq!(first.len(), 4, "{first:?}");
        assert_eq!(plan(sql), first);
        // Without reuse, two sources, two aggregates, two sinks: twins get distinct uids.
        let twins = format!("SET 'table.optimizer.reuse-sub-plan-enabled' = 'false';\n{sql}");
        let first = plan(&twins);
        assert!(unique(&first), "{first:?}");
        assert_eq!(first.len(), 6, "{first:?}");
        assert_eq!(plan(&twins), first);
    }

    #[test]
    fn unclaimed_state_needs_allow_non_restored_state() {
        let s = spec(&[("a", "d"), ("gone", "d")]);
        let e = check(s.clone(), &[planned("a", "d")], false).unwrap_err();
        assert!(e.contains("--allowNonRestoredState"), "{e}");
        assert!(e.contains("gone"), "{e}");
        let ok = check(s, &[planned("a", "d")], true).unwrap();
        assert_eq!(ok.metadata.operators.len(), 1);
    }

    #[test]
    fn a_changed_state_shape_names_the_operator_and_both_shapes() {
        let e = check(
            spec(&[("a", "keys [BIGINT]")]),
            &[planned("a", "keys [Utf8]")],
            true,
        )
        .unwrap_err();
        assert!(e.contains("GroupAggregate (a)"), "{e}");
        assert!(
            e.contains("[keys [BIGINT]]") && e.contains("[keys [Utf8]]"),
            "{e}"
        );
    }

    #[test]
    fn the_latest_readable_checkpoint_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let job = JobId::from_seed("j");
        let conf = StorageConfig::default();
        assert!(latest_checkpoint(&root, job, &conf).unwrap().is_none());
        for id in [1u64, 2, 3] {
            let d = dir.path().join(job.to_string()).join(format!("chk-{id}"));
            std::fs::create_dir_all(&d).unwrap();
            let mut m = spec(&[]).metadata;
            m.checkpoint_id = id;
            let bytes = if id == 3 {
                b"{broken".to_vec()
            } else {
                m.to_bytes().unwrap()
            };
            std::fs::write(d.join(METADATA_FILE), bytes).unwrap();
        }
        // chk-4 has no metadata: incomplete.
        std::fs::create_dir_all(dir.path().join(job.to_string()).join("chk-4")).unwrap();
        std::fs::write(
            dir.path().join(job.to_string()).join("chk-4").join("x-0"),
            b"x",
        )
        .unwrap();
        let found = latest_checkpoint(&root, job, &conf).unwrap().unwrap();
        assert_eq!(found.metadata.checkpoint_id, 2);
        let e = read_metadata(&format!("{root}/nothing"), &conf).unwrap_err();
        assert!(e.contains("not a completed checkpoint or savepoint"), "{e}");
    }
}
