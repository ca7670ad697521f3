//! Checkpoint and savepoint endpoints, with Flink's paths, bodies and field
//! names: triggering savepoints, stop-with-savepoint and manual checkpoints
//! (each answered with a trigger id to poll), checkpoint statistics and
//! configuration, and savepoint disposal. These are what `flink savepoint`,
//! `flink stop`, `flink checkpoint` and `flink savepoint -d` call.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use riffle_common::config::ExternalizedCheckpointRetention;
use riffle_rpc::checkpoint::SnapshotKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Shared, bad_request, not_found, ok, parse_job_id, with_job};
use crate::checkpoints::{Coordinator, Operation, Stats, StatsStatus, random_hex};
use crate::coordination::TriggerError;
use crate::job::Job;
use crate::now_ms;

/// `POST /jobs/:jobid/savepoints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavepointRequest {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// `POST /jobs/:jobid/stop`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopRequest {
    #[serde(rename = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
    #[serde(rename = "formatType")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// `POST /jobs/:jobid/checkpoints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointRequest {
    #[serde(rename = "checkpointType")]
    checkpoint_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

/// `POST /savepoint-disposal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisposalRequest {
    #[serde(rename = "savepoint-path")]
    savepoint_path: String,
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes, what: &str) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "Bad request, request body is not a valid {what} request: {e}"
        ))
    })
}

fn check_format(format: Option<&str>) -> Result<(), ApiError> {
    match format.map(str::to_ascii_uppercase).as_deref() {
        None | Some("CANONICAL") | Some("NATIVE") => Ok(()),
        Some(other) => Err(bad_request(format!(
            "Bad request, 'formatType' must be CANONICAL or NATIVE, not '{other}'"
        ))),
    }
}

fn accepted(trigger_id: String) -> ApiResult {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "request-id": trigger_id })),
    )
        .into_response())
}

fn trigger(
    state: &Shared,
    jobid: &str,
    kind: SnapshotKind,
    target: Option<String>,
    trigger_id: Option<String>,
) -> ApiResult {
    let id = parse_job_id(jobid)?;
    // A blank directory would put the savepoint at the file system's root.
    if target.as_deref().is_some_and(|d| d.trim().is_empty()) {
        return Err(bad_request(
            "Bad request, the savepoint target directory is empty: pass a directory (a path \
             or an s3://, gs:// or abfs:// location), or leave it out to use \
             execution.checkpointing.savepoint-dir"
                .into(),
        ));
    }
    let result = state
        .shared
        .apply(
            |c, now| match c.trigger(id, kind, target, trigger_id, now) {
                Ok((t, out)) => (Ok(t), out),
                Err(e) => (Err(e), Vec::new()),
            },
        )
        .ok_or_else(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "state poisoned".into()))?;
    match result {
        Ok(t) => accepted(t),
        Err(TriggerError::NotFound(m)) => Err(not_found(m)),
        Err(TriggerError::Refused(m)) => Err(ApiError(StatusCode::CONFLICT, m)),
    }
}

pub(super) async fn trigger_savepoint(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: SavepointRequest = parse_body(&body, "savepoint")?;
    check_format(req.format_type.as_deref())?;
    // Cancel-with-savepoint (deprecated in Flink) ends the job like stop.
    let kind = if req.cancel_job {
        SnapshotKind::StopWithSavepoint { drain: false }
    } else {
        SnapshotKind::Savepoint
    };
    trigger(&state, &jobid, kind, req.target_directory, req.trigger_id)
}

pub(super) async fn stop_with_savepoint(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: StopRequest = parse_body(&body, "stop-with-savepoint")?;
    check_format(req.format_type.as_deref())?;
    trigger(
        &state,
        &jobid,
        SnapshotKind::StopWithSavepoint { drain: req.drain },
        req.target_directory,
        req.trigger_id,
    )
}

pub(super) async fn trigger_checkpoint(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let req: CheckpointRequest = parse_body(&body, "checkpoint")?;
    match req
        .checkpoint_type
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("CONFIGURED") | Some("FULL") => {}
        Some(other) => {
            return Err(bad_request(format!(
                "Bad request, 'checkpointType' must be CONFIGURED or FULL (Riffle's checkpoints \
                 are always full), not '{other}'"
            )));
        }
    }
    trigger(
        &state,
        &jobid,
        SnapshotKind::Checkpoint,
        None,
        req.trigger_id,
    )
}

/// Flink's `AsynchronousOperationResult` for an operation.
fn operation_json(op: &Operation) -> Value {
    let failure = |m: &str| {
        json!({
            "class": "org.apache.flink.runtime.checkpoint.CheckpointException",
            "stack-trace": m,
            "message": m,
        })
    };
    match op {
        Operation::InProgress => json!({ "status": { "id": "IN_PROGRESS" } }),
        Operation::Savepoint(location) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "location": location },
        }),
        Operation::Checkpoint(id) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "checkpointId": id },
        }),
        Operation::Disposed => json!({
            "status": { "id": "COMPLETED" },
            "operation": {},
        }),
        Operation::Failed(m) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": failure(m), "failureCause": failure(m) },
        }),
    }
}

fn operation_status(state: &Shared, jobid: &str, triggerid: &str) -> ApiResult {
    let op = with_job(state, jobid, |_, job| {
        job.checkpoints.operations.get(triggerid).cloned()
    })?
    .ok_or_else(|| {
        not_found(format!(
            "There is no operation with trigger id {triggerid} for job {jobid}"
        ))
    })?;
    if op != Operation::InProgress {
        state.result_fetched(triggerid);
    }
    ok(operation_json(&op))
}

pub(super) async fn savepoint_status(
    State(state): State<Shared>,
    Path((jobid, triggerid)): Path<(String, String)>,
) -> ApiResult {
    operation_status(&state, &jobid, &triggerid)
}

pub(super) async fn checkpoint_status(
    State(state): State<Shared>,
    Path((jobid, triggerid)): Path<(String, String)>,
) -> ApiResult {
    operation_status(&state, &jobid, &triggerid)
}

pub(super) async fn dispose(State(state): State<Shared>, body: Bytes) -> ApiResult {
    let req: DisposalRequest = parse_body(&body, "savepoint disposal")?;
    let trigger_id = random_hex(32);
    if let Ok(mut d) = state.disposals.lock() {
        d.insert(trigger_id.clone(), Operation::InProgress);
    }
    let st = Arc::clone(&state);
    let t = trigger_id.clone();
    tokio::task::spawn_blocking(move || {
        let result = match st.dispose_savepoint(&req.savepoint_path) {
            Ok(()) => Operation::Disposed,
            Err(e) => Operation::Failed(e),
        };
        if let Ok(mut d) = st.disposals.lock() {
            d.insert(t, result);
        }
    });
    ok(json!({ "request-id": trigger_id }))
}

pub(super) async fn disposal_status(
    State(state): State<Shared>,
    Path(triggerid): Path<String>,
) -> ApiResult {
    let op = state
        .disposals
        .lock()
        .ok()
        .and_then(|d| d.get(&triggerid).cloned())
        .ok_or_else(|| {
            not_found(format!(
                "There is no savepoint disposal with trigger id {triggerid}"
            ))
        })?;
    ok(operation_json(&op))
}

fn status_name(s: StatsStatus) -> &'static str {
    match s {
        StatsStatus::InProgress => "IN_PROGRESS",
        StatsStatus::Completed => "COMPLETED",
        StatsStatus::Failed => "FAILED",
    }
}

/// One checkpoint, as Flink's `CheckpointStatistics`.
fn stats_json(job: &Job, s: &Stats) -> Value {
    let class = match s.status {
        StatsStatus::InProgress => "in_progress",
        StatsStatus::Completed => "completed",
        StatsStatus::Failed => "failed",
    };
    let checkpoint_type = match s.kind {
        SnapshotKind::Checkpoint => "CHECKPOINT",
        SnapshotKind::Savepoint => "SAVEPOINT",
        SnapshotKind::StopWithSavepoint { .. } => "SYNC_SAVEPOINT",
    };
    let mut tasks = serde_json::Map::new();
    for (vi, v) in job.vertices.iter().enumerate() {
        let vs = s.vertices.get(&vi).cloned().unwrap_or_default();
        tasks.insert(
            v.id.to_string(),
            json!({
                "id": s.id,
                "status": status_name(s.status),
                "latest_ack_timestamp": vs.latest_ack.unwrap_or(-1),
                "checkpointed_size": vs.state_size,
                "state_size": vs.state_size,
                "end_to_end_duration": vs.latest_ack.map_or(-1, |t| t - s.trigger_timestamp),
                "alignment_buffered": 0,
                "processed_data": 0,
                "persisted_data": 0,
                "num_subtasks": v.parallelism,
                "num_acknowledged_subtasks": vs.acknowledged,
            }),
        );
    }
    let mut m = json!({
        "className": class,
        "id": s.id,
        "status": status_name(s.status),
        "is_savepoint": s.kind.is_savepoint(),
        "savepointFormat": if s.kind.is_savepoint() { json!("CANONICAL") } else { Value::Null },
        "trigger_timestamp": s.trigger_timestamp,
        "latest_ack_timestamp": s.latest_ack_timestamp.unwrap_or(-1),
        "checkpointed_size": s.state_size,
        "state_size": s.state_size,
        "end_to_end_duration": if s.status == StatsStatus::InProgress {
            now_ms() - s.trigger_timestamp
        } else {
            s.end_to_end_duration
        },
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": s.num_subtasks,
        "num_acknowledged_subtasks": s.num_acknowledged,
        "checkpoint_type": checkpoint_type,
        "tasks": tasks,
    });
    if let Some(obj) = m.as_object_mut() {
        match s.status {
            StatsStatus::Completed => {
                obj.insert("external_path".into(), json!(s.external_path));
                obj.insert("discarded".into(), json!(s.discarded));
            }
            StatsStatus::Failed => {
                obj.insert("failure_timestamp".into(), json!(s.failure_timestamp));
                obj.insert("failure_message".into(), json!(s.failure));
            }
            StatsStatus::InProgress => {}
        }
    }
    m
}

/// `StatsSummaryDto` over some values.
fn summary(mut values: Vec<i64>) -> Value {
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
    }
    values.sort_unstable();
    let n = values.len();
    let q = |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64;
    json!({
        "min": values[0],
        "max": values[n - 1],
        "avg": values.iter().sum::<i64>() / n as i64,
        "p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "p999": q(0.999),
    })
}

fn statistics_json(job: &Job) -> Value {
    let c: &Coordinator = &job.checkpoints;
    let completed: Vec<&Stats> = c
        .history
        .iter()
        .filter(|s| s.status == StatsStatus::Completed)
        .collect();
    let sizes: Vec<i64> = completed.iter().map(|s| s.state_size as i64).collect();
    let durations: Vec<i64> = completed.iter().map(|s| s.end_to_end_duration).collect();
    let zeros: Vec<i64> = completed.iter().map(|_| 0).collect();
    let latest = |s: &Option<Stats>| s.as_ref().map_or(Value::Null, |s| stats_json(job, s));
    json!({
        "counts": {
            "restored": c.counts.restored,
            "total": c.counts.total,
            "in_progress": c.pending.len(),
            "completed": c.counts.completed,
            "failed": c.counts.failed,
        },
        "summary": {
            "checkpointed_size": summary(sizes.clone()),
            "state_size": summary(sizes),
            "end_to_end_duration": summary(durations),
            "alignment_buffered": summary(zeros.clone()),
            "processed_data": summary(zeros.clone()),
            "persisted_data": summary(zeros),
        },
        "latest": {
            "completed": latest(&c.latest_completed),
            "savepoint": latest(&c.latest_savepoint),
            "failed": latest(&c.latest_failed),
            "restored": c.restored.as_ref().map_or(Value::Null, |r| json!({
                "id": r.id,
                "restore_timestamp": r.restore_timestamp,
                "is_savepoint": r.is_savepoint,
                "external_path": r.location,
            })),
        },
        "history": c.history.iter().rev().map(|s| stats_json(job, s)).collect::<Vec<_>>(),
    })
}

pub(super) async fn statistics(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
) -> ApiResult {
    ok(with_job(&state, &jobid, |_, job| statistics_json(job))?)
}

pub(super) async fn details(
    State(state): State<Shared>,
    Path((jobid, checkpointid)): Path<(String, String)>,
) -> ApiResult {
    let id: u64 = checkpointid.parse().map_err(|_| {
        bad_request(format!(
            "Bad request, could not parse parameter 'checkpointid': '{checkpointid}' is not a number"
        ))
    })?;
    with_job(&state, &jobid, |_, job| {
        job.checkpoints
            .history
            .iter()
            .find(|s| s.id == id)
            .map(|s| stats_json(job, s))
    })?
    .map_or_else(
        || {
            Err(not_found(format!(
                "Could not find checkpointing statistics for checkpoint {id}."
            )))
        },
        ok,
    )
}

pub(super) async fn config(State(state): State<Shared>, Path(jobid): Path<String>) -> ApiResult {
    ok(with_job(&state, &jobid, |_, job| {
        let s = &job.checkpoints.settings;
        let (enabled, delete) = match s.retention {
            ExternalizedCheckpointRetention::NoExternalizedCheckpoints => (false, false),
            ExternalizedCheckpointRetention::DeleteOnCancellation => (true, true),
            ExternalizedCheckpointRetention::RetainOnCancellation => (true, false),
        };
        json!({
            "mode": "exactly_once",
            "interval": s.interval_ms.unwrap_or(i64::MAX),
            "timeout": s.timeout_ms,
            "min_pause": s.min_pause_ms,
            "max_concurrent": s.max_concurrent,
            "externalization": { "enabled": enabled, "delete_on_cancellation": delete },
            "state_backend": "HashMapStateBackend",
            "checkpoint_storage": if s.dir.is_some() { "FileSystemCheckpointStorage" } else { "JobManagerCheckpointStorage" },
            "unaligned_checkpoints": false,
            "tolerable_failed_checkpoints": s.tolerable_failures,
            "aligned_checkpoint_timeout": 0,
            "checkpoints_after_tasks_finish": true,
            "state_changelog_enabled": false,
            "changelog_periodic_materialization_interval": 600_000,
            "changelog_storage": "memory",
        })
    })?)
}
