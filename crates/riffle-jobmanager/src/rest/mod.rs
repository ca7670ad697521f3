//! The REST API, compatible with Flink's v1 dispatcher API.
//!
//! Every route is served at `/<path>` and `/v1/<path>`, with Flink's JSON
//! field names. Errors are `{"errors": [...]}` with Flink's status codes;
//! metric responses are bare arrays, as Flink's custom serializers send
//! them. Job submission is Riffle's own `POST /v1/sql/jobs` (Flink submits
//! serialized Java job graphs, which a native engine cannot take): the body
//! is `{"script": "...", "jobId": "<32 hex>"?, "parallelism": n?,
//! "flinkConfiguration": {"k": "v"}?}`, the answer `202 {"jobid": "..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use riffle_rpc::control::ExecutionState;
use riffle_rpc::{AbstractId, JobId};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::job::{Job, JobStatus};
use crate::{JobManagerState, now_ms};

pub(crate) type Shared = Arc<JobManagerState>;

mod checkpoints;
mod config;
mod subtask_metrics;

/// A REST error: status code and messages.
pub struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "errors": [self.1] }))).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

pub(crate) fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

pub(crate) fn bad_request(what: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what)
}

/// The router with every endpoint under `/` and `/v1`.
pub fn router(state: Shared) -> Router {
    let limit = state.cluster.rest_max_content_length;
    let api = Router::new()
        .route("/config", get(dashboard_config))
        .route("/overview", get(overview))
        .route("/jobs", get(jobs))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/metrics", get(jobs_metrics))
        .route("/jobs/{jobid}", get(job_details).patch(job_cancel))
        .route("/jobs/{jobid}/status", get(job_status))
        .route("/jobs/{jobid}/exceptions", get(job_exceptions))
        .route("/jobs/{jobid}/config", get(config::job_config))
        .route(
            "/jobs/{jobid}/jobmanager/config",
            get(config::job_jobmanager_config),
        )
        .route("/jobs/{jobid}/plan", get(job_plan))
        .route("/jobs/{jobid}/metrics", get(job_metrics))
        .route("/jobs/{jobid}/vertices/{vertexid}", get(vertex_details))
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics",
            get(subtask_metrics::aggregated),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/backpressure",
            get(vertex_backpressure),
        )
        .route("/taskmanagers", get(taskmanagers))
        .route("/taskmanagers/{tmid}", get(taskmanager_details))
        .route("/taskmanagers/{tmid}/metrics", get(taskmanager_metrics))
        .route("/jobmanager/config", get(config::jobmanager_config))
        .route("/jobmanager/metrics", get(jobmanager_metrics))
        .route(
            "/jobs/{jobid}/savepoints",
            post(checkpoints::trigger_savepoint),
        )
        .route(
            "/jobs/{jobid}/savepoints/{triggerid}",
            get(checkpoints::savepoint_status),
        )
        .route("/jobs/{jobid}/stop", post(checkpoints::stop_with_savepoint))
        .route(
            "/jobs/{jobid}/checkpoints",
            get(checkpoints::statistics).post(checkpoints::trigger_checkpoint),
        )
        .route("/jobs/{jobid}/checkpoints/config", get(checkpoints::config))
        .route(
            "/jobs/{jobid}/checkpoints/details/{checkpointid}",
            get(checkpoints::details),
        )
        .route(
            "/jobs/{jobid}/checkpoints/{triggerid}",
            get(checkpoints::checkpoint_status),
        )
        .route("/savepoint-disposal", post(checkpoints::dispose))
        .route(
            "/savepoint-disposal/{triggerid}",
            get(checkpoints::disposal_status),
        )
        .route("/sql/jobs", post(submit_sql))
        .route("/sql/jobs/{jobid}/results", get(fetch_results));
    Router::new()
        .merge(api.clone())
        .nest("/v1", api)
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "Not found: no such REST endpoint".into(),
            )
        })
        .layer(axum::middleware::map_response(
            move |r: Response| async move { too_large_as_json(r, limit) },
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// A body over the limit is refused by the extractor with a plain-text 413;
/// clients of a Flink REST API expect every error as `{"errors": [...]}`.
fn too_large_as_json(response: Response, limit: usize) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    ApiError(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request body is larger than rest.server.max-content-length ({limit} bytes): \
             send a smaller body or raise rest.server.max-content-length"
        ),
    )
    .into_response()
}

pub(crate) fn parse_job_id(s: &str) -> Result<JobId, ApiError> {
    s.parse::<JobId>().map_err(|e| {
        bad_request(format!(
            "Bad request, could not parse parameter 'jobid': {e}"
        ))
    })
}

pub(crate) fn with_job<T>(
    state: &Shared,
    jobid: &str,
    f: impl FnOnce(&Cluster, &Job) -> T,
) -> Result<T, ApiError> {
    let id = parse_job_id(jobid)?;
    with_cluster(state, |c| match c.jobs.get(&id) {
        Some(job) => Ok(f(c, job)),
        None => Err(not_found(format!("Job {id} not found"))),
    })?
}

pub(crate) fn with_cluster<T>(
    state: &Shared,
    f: impl FnOnce(&Cluster) -> T,
) -> Result<T, ApiError> {
    let c = state
        .shared
        .cluster
        .lock()
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "state poisoned".into()))?;
    Ok(f(&c))
}

async fn dashboard_config(State(state): State<Shared>) -> ApiResult {
    ok(json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": crate::FLINK_API_VERSION,
        "flink-revision": format!("riffle-{}", env!("CARGO_PKG_VERSION")),
        "features": {
            "web-submit": false,
            "web-cancel": true,
            "web-rescale": false,
            "web-history": false,
        },
        "riffle": { "rest-address": state.rest_address },
    }))
}

async fn overview(State(state): State<Shared>) -> ApiResult {
    let v = with_cluster(&state, |c| {
        let count = |s: JobStatus| c.jobs.values().filter(|j| j.status == s).count();
        let running = c
            .jobs
            .values()
            .filter(|j| !j.status.is_globally_terminal())
            .count();
        json!({
            "taskmanagers": c.taskmanagers.len(),
            "slots-total": c.slots_total(),
            "slots-available": c.slots_available(),
            "slots-free-and-blocked": 0,
            "taskmanagers-blocked": 0,
            "jobs-running": running,
            "jobs-finished": count(JobStatus::Finished),
            "jobs-cancelled": count(JobStatus::Canceled),
            "jobs-failed": count(JobStatus::Failed),
            "flink-version": crate::FLINK_API_VERSION,
            "flink-commit": format!("riffle-{}", env!("CARGO_PKG_VERSION")),
        })
    })?;
    ok(v)
}

async fn jobs(State(state): State<Shared>) -> ApiResult {
    ok(with_cluster(
        &state,
        |c| json!({ "jobs": c.jobs.values().map(|j| json!({"id": j.id.to_string(), "status": j.status.name()})).collect::<Vec<_>>() }),
    )?)
}

fn task_counts(job: &Job) -> Value {
    let counts = job.task_counts();
    let mut m = serde_json::Map::new();
    for s in ExecutionState::ALL {
        m.insert(
            s.name().to_lowercase(),
            json!(counts.get(&s).copied().unwrap_or(0)),
        );
    }
    m.insert(
        "pending".into(),
        json!(
            counts.get(&ExecutionState::Created).copied().unwrap_or(0)
                + counts.get(&ExecutionState::Scheduled).copied().unwrap_or(0)
        ),
    );
    m.insert(
        "total".into(),
        json!(job.states.iter().map(Vec::len).sum::<usize>()),
    );
    Value::Object(m)
}

fn duration(job: &Job, now: i64) -> i64 {
    job.end_time.unwrap_or(now) - job.start_time
}

fn job_overview(job: &Job, now: i64) -> Value {
    json!({
        "jid": job.id.to_string(),
        "name": job.name,
        "state": job.status.name(),
        "start-time": job.start_time,
        "end-time": job.end_time.unwrap_or(-1),
        "duration": duration(job, now),
        "last-modification": job.last_modification,
        "tasks": task_counts(job),
        "pending-operators": 0,
        "jobType": "STREAMING",
        "schedulerType": "Default",
    })
}

async fn jobs_overview(State(state): State<Shared>) -> ApiResult {
    let now = now_ms();
    ok(with_cluster(
        &state,
        |c| json!({ "jobs": c.jobs.values().map(|j| job_overview(j, now)).collect::<Vec<_>>() }),
    )?)
}

fn vertex_io(job: &Job, vertex: usize, subtask: Option<usize>) -> Value {
    let mut t = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for ((v, s), r) in &job.reports {
        if *v != vertex || subtask.is_some_and(|x| x != *s) {
            continue;
        }
        t.0 += r.bytes_in;
        t.1 += r.records_in;
        t.2 += r.bytes_out;
        t.3 += r.records_out;
        t.4 += r.backpressured_ms;
        t.5 += r.idle_ms;
        t.6 += r.busy_ms;
    }
    let complete = job
        .states
        .get(vertex)
        .is_some_and(|v| v.iter().all(|s| s.is_terminal()));
    json!({
        "read-bytes": t.0, "read-bytes-complete": complete,
        "read-records": t.1, "read-records-complete": complete,
        "write-bytes": t.2, "write-bytes-complete": complete,
        "write-records": t.3, "write-records-complete": complete,
        "accumulated-backpressured-time": t.4,
        "accumulated-idle-time": t.5,
        "accumulated-busy-time": t.6 as f64,
    })
}

fn vertex_times(job: &Job, vertex: usize, now: i64) -> (i64, i64, i64) {
    let start = job
        .timestamps
        .get(&JobStatus::Running)
        .copied()
        .unwrap_or(-1);
    let done = job
        .states
        .get(vertex)
        .is_some_and(|v| v.iter().all(|s| s.is_terminal()));
    let end = if done {
        job.since
            .get(vertex)
            .and_then(|v| v.iter().max().copied())
            .unwrap_or(-1)
    } else {
        -1
    };
    let dur = if start < 0 {
        -1
    } else if end >= 0 {
        end - start
    } else {
        now - start
    };
    (start, end, dur)
}

fn plan(job: &Job) -> Value {
    let nodes: Vec<Value> = job
        .vertices
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = v
                .inputs
                .iter()
                .enumerate()
                .map(|(n, (from, ship))| {
                    json!({
                        "num": n,
                        "id": job.vertices.get(*from).map(|u| u.id.to_string()).unwrap_or_default(),
                        "ship_strategy": ship,
                        "exchange": "pipelined_bounded",
                    })
                })
                .collect();
            let mut node = json!({
                "id": v.id.to_string(),
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": v.name,
                "optimizer_properties": {},
            });
            if !inputs.is_empty() {
                node["inputs"] = Value::Array(inputs);
            }
            node
        })
        .collect();
    json!({ "jid": job.id.to_string(), "name": job.name, "type": "STREAMING", "nodes": nodes })
}

async fn job_details(State(state): State<Shared>, Path(jobid): Path<String>) -> ApiResult {
    let now = now_ms();
    ok(with_job(&state, &jobid, |_, job| {
        let vertices: Vec<Value> = job
            .vertices
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (start, end, dur) = vertex_times(job, i, now);
                let mut tasks = serde_json::Map::new();
                for s in ExecutionState::ALL {
                    let n = job.states[i].iter().filter(|x| **x == s).count();
                    tasks.insert(s.name().into(), json!(n));
                }
                json!({
                    "id": v.id.to_string(),
                    "slotSharingGroupId": AbstractId::from_seed(&format!("{}/ssg", job.id)).to_string(),
                    "name": v.name,
                    "maxParallelism": v.max_parallelism,
                    "parallelism": v.parallelism,
                    "status": job.vertex_state(i).name(),
                    "start-time": start,
                    "end-time": end,
                    "duration": dur,
                    "tasks": tasks,
                    "metrics": vertex_io(job, i, None),
                })
            })
            .collect();
        let mut status_counts = serde_json::Map::new();
        for s in ExecutionState::ALL {
            let n = (0..job.vertices.len())
                .filter(|i| job.vertex_state(*i) == s)
                .count();
            status_counts.insert(s.name().into(), json!(n));
        }
        let timestamps: serde_json::Map<String, Value> = [
            JobStatus::Initializing,
            JobStatus::Created,
            JobStatus::Running,
            JobStatus::Failing,
            JobStatus::Failed,
            JobStatus::Cancelling,
            JobStatus::Canceled,
            JobStatus::Finished,
            JobStatus::Restarting,
            JobStatus::Suspended,
            JobStatus::Reconciling,
        ]
        .iter()
        .map(|s| {
            (
                s.name().to_string(),
                json!(job.timestamps.get(s).copied().unwrap_or(0)),
            )
        })
        .collect();
        json!({
            "jid": job.id.to_string(),
            "name": job.name,
            "isStoppable": false,
            "state": job.status.name(),
            "job-type": "STREAMING",
            "start-time": job.start_time,
            "end-time": job.end_time.unwrap_or(-1),
            "duration": duration(job, now),
            "maxParallelism": job.vertices.iter().map(|v| v.max_parallelism).max().unwrap_or(128),
            "now": now,
            "timestamps": timestamps,
            "vertices": vertices,
            "status-counts": status_counts,
            "plan": plan(job),
            "stream-graph": {},
            "pending-operators": 0,
            "schedulerType": "Default",
        })
    })?)
}

#[derive(serde::Deserialize)]
struct CancelQuery {
    mode: Option<String>,
}

async fn job_cancel(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    Query(q): Query<CancelQuery>,
) -> ApiResult {
    let id = parse_job_id(&jobid)?;
    match q.mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("cancel") => {}
        Some("stop") => {
            return Err(bad_request(
                "Termination mode STOP is not supported; use POST /jobs/:jobid/stop".into(),
            ));
        }
        Some(other) => {
            return Err(bad_request(format!(
                "Bad request, could not parse parameter 'mode': '{other}' is not one of cancel, stop"
            )));
        }
    }
    match state.cancel(id) {
        Ok(()) => Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()),
        Err(e) if e.contains("not found") => Err(not_found(e)),
        Err(e) if e.contains("poisoned") => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(ApiError(StatusCode::CONFLICT, e)),
    }
}

async fn job_status(State(state): State<Shared>, Path(jobid): Path<String>) -> ApiResult {
    ok(with_job(
        &state,
        &jobid,
        |_, j| json!({ "status": j.status.name() }),
    )?)
}

#[derive(serde::Deserialize)]
struct ExceptionsQuery {
    #[serde(rename = "maxExceptions")]
    max_exceptions: Option<String>,
}

async fn job_exceptions(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    Query(q): Query<ExceptionsQuery>,
) -> ApiResult {
    let max = match q.max_exceptions {
        None => usize::MAX,
        Some(s) => s.parse::<usize>().map_err(|_| {
            bad_request(format!(
                "Bad request, could not parse parameter 'maxExceptions': '{s}'"
            ))
        })?,
    };
    ok(with_job(&state, &jobid, |_, job| {
        let entries: Vec<Value> = job
            .failures
            .iter()
            .rev()
            .take(max)
            .map(|f| {
                json!({
                    "exceptionName": "org.apache.flink.runtime.JobException",
                    "stacktrace": f.message,
                    "timestamp": f.timestamp,
                    "taskName": f.task_name,
                    "endpoint": f.endpoint,
                    "taskManagerId": f.taskmanager_id.map(|t| t.to_string()),
                    "failureLabels": {},
                    "concurrentExceptions": [],
                })
            })
            .collect();
        json!({
            "exceptionHistory": {
                "entries": entries,
                "truncated": job.failures.len() > max,
            }
        })
    })?)
}

async fn job_plan(State(state): State<Shared>, Path(jobid): Path<String>) -> ApiResult {
    ok(with_job(
        &state,
        &jobid,
        |_, job| json!({ "plan": plan(job) }),
    )?)
}

#[derive(serde::Deserialize)]
struct MetricsQuery {
    get: Option<String>,
}

/// Flink's metric collection body: ids only without `get`, values with it.
fn metric_list(available: Vec<(&'static str, String)>, get: Option<String>) -> Value {
    match get {
        None => Value::Array(
            available
                .into_iter()
                .map(|(id, _)| json!({ "id": id }))
                .collect(),
        ),
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            Value::Array(
                available
                    .into_iter()
                    .filter(|(id, _)| wanted.contains(id))
                    .map(|(id, v)| json!({ "id": id, "value": v }))
                    .collect(),
            )
        }
    }
}

fn job_metric_values(job: &Job, now: i64) -> Vec<(&'static str, String)> {
    crate::metrics::job_gauges(job, now)
        .into_iter()
        .map(|(name, _, v)| (name, v.to_string()))
        .collect()
}

async fn job_metrics(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    Query(q): Query<MetricsQuery>,
) -> ApiResult {
    let now = now_ms();
    ok(with_job(&state, &jobid, |_, job| {
        metric_list(job_metric_values(job, now), q.get)
    })?)
}

async fn jobs_metrics(State(state): State<Shared>, Query(q): Query<MetricsQuery>) -> ApiResult {
    let now = now_ms();
    ok(with_cluster(&state, |c| {
        let mut by_id: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
        for job in c.jobs.values() {
            for (id, v) in job_metric_values(job, now) {
                by_id.entry(id).or_default().push(v.parse().unwrap_or(0.0));
            }
        }
        let wanted: Option<Vec<String>> = q
            .get
            .map(|g| g.split(',').map(|s| s.trim().to_string()).collect());
        Value::Array(
            by_id
                .into_iter()
                .filter(|(id, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|x| x == id)))
                .map(|(id, vals)| {
                    if wanted.is_none() {
                        return json!({ "id": id });
                    }
                    let sum: f64 = vals.iter().sum();
                    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let avg = if vals.is_empty() {
                        0.0
                    } else {
                        sum / vals.len() as f64
                    };
                    json!({ "id": id, "min": min, "max": max, "avg": avg, "sum": sum, "skew": 0.0 })
                })
                .collect(),
        )
    })?)
}

fn find_vertex(job: &Job, vertexid: &str) -> Result<usize, ApiError> {
    let id: AbstractId = vertexid.parse().map_err(|e| {
        bad_request(format!(
            "Bad request, could not parse parameter 'vertexid': {e}"
        ))
    })?;
    job.vertices
        .iter()
        .position(|v| v.id == id)
        .ok_or_else(|| not_found(format!("Vertex {id} not found in job {}", job.id)))
}

async fn vertex_details(
    State(state): State<Shared>,
    Path((jobid, vertexid)): Path<(String, String)>,
) -> ApiResult {
    let now = now_ms();
    let v = with_job(&state, &jobid, |c, job| -> Result<Value, ApiError> {
        let i = find_vertex(job, &vertexid)?;
        let v = &job.vertices[i];
        let subtasks: Vec<Value> = (0..v.parallelism)
            .map(|s| {
                let tm = job.taskmanager_of(s);
                let endpoint = tm
                    .and_then(|t| c.taskmanagers.get(&t))
                    .map(|t| t.data_address())
                    .unwrap_or_else(|| "(unassigned)".into());
                let since = job.since[i][s];
                let state = job.states[i][s];
                json!({
                    "subtask": s,
                    "status": state.name(),
                    "attempt": job.attempt,
                    "endpoint": endpoint,
                    "start-time": since,
                    "end-time": if state.is_terminal() { since } else { -1 },
                    "duration": now - since,
                    "metrics": vertex_io(job, i, Some(s)),
                    "taskmanager-id": tm.map(|t| t.to_string()).unwrap_or_else(|| "(unassigned)".into()),
                    "status-duration": { state.name(): now - since },
                    "other-concurrent-attempts": [],
                })
            })
            .collect();
        Ok(json!({
            "id": v.id.to_string(),
            "name": v.name,
            "parallelism": v.parallelism,
            "maxParallelism": v.max_parallelism,
            "now": now,
            "subtasks": subtasks,
            "aggregated": { "metrics": vertex_io(job, i, None), "status-duration": {} },
        }))
    })??;
    ok(v)
}

fn level(ratio: f64) -> &'static str {
    if ratio > 0.5 {
        "high"
    } else if ratio > 0.1 {
        "low"
    } else {
        "ok"
    }
}

async fn vertex_backpressure(
    State(state): State<Shared>,
    Path((jobid, vertexid)): Path<(String, String)>,
) -> ApiResult {
    let now = now_ms();
    let v = with_job(&state, &jobid, |_, job| -> Result<Value, ApiError> {
        let i = find_vertex(job, &vertexid)?;
        let mut worst = 0.0f64;
        let subtasks: Vec<Value> = (0..job.vertices[i].parallelism)
            .map(|s| {
                let r = job.reports.get(&(i, s));
                let ratio = r
                    .map(|r| r.backpressured_ms_per_second / 1000.0)
                    .unwrap_or(0.0);
                let busy = r.map(|r| r.busy_ms_per_second / 1000.0).unwrap_or(0.0);
                worst = worst.max(ratio);
                json!({
                    "subtask": s,
                    "attempt-number": job.attempt,
                    "backpressureLevel": level(ratio),
                    "ratio": ratio,
                    "idleRatio": (1.0 - ratio - busy).max(0.0),
                    "busyRatio": busy,
                    "other-concurrent-attempts": [],
                })
            })
            .collect();
        Ok(json!({
            "status": "ok",
            "backpressureLevel": level(worst),
            "end-timestamp": now,
            "subtasks": subtasks,
        }))
    })??;
    ok(v)
}

fn taskmanager_json(c: &Cluster, t: &crate::cluster::TaskManagerEntry, now: i64) -> Value {
    let id = t.info.resource_id;
    let free = t.info.slots.saturating_sub(c.slots_used(id));
    let assigned: usize = c
        .jobs
        .values()
        .filter(|j| matches!(j.status, JobStatus::Running | JobStatus::Cancelling))
        .map(|j| {
            j.vertices
                .iter()
                .map(|v| {
                    (0..v.parallelism)
                        .filter(|s| j.slots.get(*s) == Some(&id))
                        .count()
                })
                .sum::<usize>()
        })
        .sum();
    let resource = |slots: usize| {
        json!({
            "cpuCores": slots as f64,
            "taskHeapMemory": 0,
            "taskOffHeapMemory": 0,
            "managedMemory": 0,
            "networkMemory": 0,
            "extendedResources": {},
        })
    };
    json!({
        "id": id.to_string(),
        "path": format!("riffle://{}", t.peer),
        "dataPort": t.info.data_port,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": now - t.last_heartbeat,
        "slotsNumber": t.info.slots,
        "freeSlots": free,
        "assignedTasks": assigned,
        "totalResource": resource(t.info.slots),
        "freeResource": resource(free),
        "hardware": {
            "cpuCores": t.info.cpu_cores,
            "physicalMemory": t.info.physical_memory,
            "freeMemory": t.info.physical_memory.saturating_sub(t.process.rss_bytes),
            "managedMemory": 0,
        },
        "memoryConfiguration": {
            "frameworkHeap": 0, "taskHeap": 0, "frameworkOffHeap": 0, "taskOffHeap": 0,
            "networkMemory": 0, "managedMemory": 0, "jvmMetaspace": 0, "jvmOverhead": 0,
            "totalFlinkMemory": t.process.rss_bytes, "totalProcessMemory": t.process.rss_bytes,
        },
        "blocked": false,
    })
}

async fn taskmanagers(State(state): State<Shared>) -> ApiResult {
    let now = now_ms();
    ok(with_cluster(
        &state,
        |c| json!({ "taskmanagers": c.taskmanagers.values().map(|t| taskmanager_json(c, t, now)).collect::<Vec<_>>() }),
    )?)
}

fn find_tm<'a>(
    c: &'a Cluster,
    tmid: &str,
) -> Result<&'a crate::cluster::TaskManagerEntry, ApiError> {
    let id: AbstractId = tmid.parse().map_err(|e| {
        bad_request(format!(
            "Bad request, could not parse parameter 'taskmanagerid': {e}"
        ))
    })?;
    c.taskmanagers
        .get(&id)
        .ok_or_else(|| not_found(format!("TaskManager {id} not found")))
}

async fn taskmanager_details(State(state): State<Shared>, Path(tmid): Path<String>) -> ApiResult {
    let now = now_ms();
    let v = with_cluster(&state, |c| -> Result<Value, ApiError> {
        let t = find_tm(c, &tmid)?;
        let mut v = taskmanager_json(c, t, now);
        let slots: Vec<Value> = c
            .jobs
            .values()
            .filter(|j| matches!(j.status, JobStatus::Running | JobStatus::Cancelling))
            .flat_map(|j| {
                j.slots
                    .iter()
                    .filter(|s| **s == t.info.resource_id)
                    .map(|_| json!({ "jobId": j.id.to_string(), "resource": {} }))
                    .collect::<Vec<_>>()
            })
            .collect();
        v["allocatedSlots"] = Value::Array(slots);
        v["metrics"] = json!({});
        Ok(v)
    })??;
    ok(v)
}

async fn taskmanager_metrics(
    State(state): State<Shared>,
    Path(tmid): Path<String>,
    Query(q): Query<MetricsQuery>,
) -> ApiResult {
    let v = with_cluster(&state, |c| -> Result<Value, ApiError> {
        let t = find_tm(c, &tmid)?;
        let used = c.slots_used(t.info.resource_id);
        Ok(metric_list(
            vec![
                (
                    "Status.ProcessTree.Memory.RSS",
                    t.process.rss_bytes.to_string(),
                ),
                ("Status.ProcessTree.CPU.Time", t.process.cpu_ms.to_string()),
                ("taskSlotsTotal", t.info.slots.to_string()),
                (
                    "taskSlotsAvailable",
                    t.info.slots.saturating_sub(used).to_string(),
                ),
            ],
            q.get,
        ))
    })??;
    ok(v)
}

async fn jobmanager_metrics(
    State(state): State<Shared>,
    Query(q): Query<MetricsQuery>,
) -> ApiResult {
    let p = riffle_common::process::process_stats();
    ok(with_cluster(&state, |c| {
        let mut values: Vec<(&str, String)> = crate::metrics::cluster_gauges(c)
            .into_iter()
            .map(|(name, _, v)| (name, v.to_string()))
            .collect();
        values.push(("Status.ProcessTree.Memory.RSS", p.rss_bytes.to_string()));
        values.push(("Status.ProcessTree.CPU.Time", p.cpu_ms.to_string()));
        metric_list(values, q.get)
    })?)
}

async fn submit_sql(State(state): State<Shared>, body: Bytes) -> ApiResult {
    let req: crate::SqlSubmission = serde_json::from_slice(&body).map_err(|e| {
        bad_request(format!(
            "Bad request, request body is not a valid SQL submission: {e}"
        ))
    })?;
    let st = Arc::clone(&state);
    let result = tokio::task::spawn_blocking(move || st.submit(req))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(id) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "jobid": id.to_string(), "jobUrl": format!("/jobs/{id}") })),
        )
            .into_response()),
        Err(e @ crate::SubmitError::AlreadyEnded(_)) => {
            Err(ApiError(StatusCode::CONFLICT, e.to_string()))
        }
        Err(crate::SubmitError::Conflict(m)) => Err(ApiError(StatusCode::CONFLICT, m)),
        Err(crate::SubmitError::Invalid(m)) => Err(bad_request(m)),
    }
}

#[derive(serde::Deserialize)]
struct ResultsQuery {
    token: Option<String>,
}

/// Flink's name of a change kind, as the SQL Gateway writes it.
fn kind_name(short: &str) -> &'static str {
    match short {
        "-U" => "UPDATE_BEFORE",
        "+U" => "UPDATE_AFTER",
        "-D" => "DELETE",
        _ => "INSERT",
    }
}

/// `GET /v1/sql/jobs/:jobid/results?token=N`: a page of a query's rows,
/// shaped like the SQL Gateway's fetch-results answer.
async fn fetch_results(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> ApiResult {
    let id = parse_job_id(&jobid)?;
    let token = match q.token.as_deref() {
        None => 0,
        Some(t) => t.parse::<u64>().map_err(|_| {
            bad_request(format!(
                "Bad request, could not parse parameter 'token': '{t}' is not a non-negative integer"
            ))
        })?,
    };
    let fetched = state
        .shared
        .apply(|c, _| match c.fetch_results(id, token) {
            Ok((page, out)) => {
                let status = c.jobs.get(&id).map(|j| j.status.name()).unwrap_or("");
                (Ok((page, status)), out)
            }
            Err(e) => (Err(e), Vec::new()),
        })
        .ok_or_else(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "state poisoned".into()))?;
    let (page, status) = match fetched {
        Ok(v) => v,
        Err(e) if e.contains("not found") => return Err(not_found(e)),
        Err(e) => return Err(bad_request(e)),
    };
    let body = match page {
        crate::results::Page::End => json!({
            "resultType": "EOS",
            "isQueryResult": true,
            "jobID": id.to_string(),
            "jobStatus": status,
            "results": { "rowFormat": "PLAIN_TEXT", "data": [] },
        }),
        crate::results::Page::Rows(rows) => json!({
            "resultType": if rows.is_empty() { "NOT_READY" } else { "PAYLOAD" },
            "isQueryResult": true,
            "jobID": id.to_string(),
            "jobStatus": status,
            "results": {
                "rowFormat": "PLAIN_TEXT",
                "data": rows
                    .iter()
                    .map(|r| json!({ "kind": kind_name(&r.kind), "fields": r.fields }))
                    .collect::<Vec<_>>(),
            },
            "nextResultUri": format!("/v1/sql/jobs/{id}/results?token={}", token + 1),
        }),
    };
    ok(body)
}
