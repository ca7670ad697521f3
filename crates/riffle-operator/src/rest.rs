//! The calls the operator makes to a JobManager's REST API, with typed
//! requests and answers.
//!
//! Blocking (the operator's reconciles run on blocking threads, so the
//! JobManager's slowness never stalls the watch). Savepoints are triggered
//! with a trigger id the operator chose and recorded first: asking again
//! with the same id is answered with the same operation, so an operator that
//! restarts between the request and recording its answer does not take a
//! second savepoint.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A REST call that failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The JobManager could not be reached.
    #[error("cannot reach the JobManager at {url}: {reason}")]
    Unreachable {
        /// The address tried.
        url: String,
        /// Why.
        reason: String,
    },
    /// The JobManager answered with an error.
    #[error("{what} failed ({status}): {message}")]
    Refused {
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// Flink's `errors`, joined.
        message: String,
    },
    /// The answer did not have the expected shape.
    #[error("{what}: unexpected answer: {reason}")]
    Malformed {
        /// The call.
        what: String,
        /// Why it did not parse.
        reason: String,
    },
}

impl RestError {
    /// The JobManager answered 404 (no such job or operation).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RestError::Refused { status: 404, .. })
    }
}

/// A job as `GET /jobs/overview` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobOverview {
    /// The job id.
    pub jid: String,
    /// The job's name.
    pub name: String,
    /// Flink's state name (RUNNING, FINISHED, ...).
    pub state: String,
    /// Start time, epoch ms.
    #[serde(rename = "start-time")]
    pub start_time: i64,
    /// Last state change, epoch ms.
    #[serde(rename = "last-modification")]
    pub last_modification: i64,
}

#[derive(Deserialize)]
struct JobsOverview {
    jobs: Vec<JobOverview>,
}

/// Where an asynchronous savepoint or checkpoint stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Still running.
    InProgress,
    /// Done; the snapshot's location.
    Completed(String),
    /// Failed, with the JobManager's reason.
    Failed(String),
}

#[derive(Serialize)]
struct StopRequest<'a> {
    drain: bool,
    #[serde(rename = "formatType")]
    format_type: &'static str,
    #[serde(rename = "triggerId")]
    trigger_id: &'a str,
}

#[derive(Serialize)]
struct SavepointRequest<'a> {
    #[serde(rename = "target-directory", skip_serializing_if = "Option::is_none")]
    target_directory: Option<&'a str>,
    #[serde(rename = "cancel-job")]
    cancel_job: bool,
    #[serde(rename = "formatType")]
    format_type: &'a str,
    #[serde(rename = "triggerId")]
    trigger_id: &'a str,
}

#[derive(Serialize)]
struct CheckpointRequest<'a> {
    #[serde(rename = "checkpointType")]
    checkpoint_type: &'static str,
    #[serde(rename = "triggerId")]
    trigger_id: &'a str,
}

#[derive(Serialize)]
struct DisposalRequest<'a> {
    #[serde(rename = "savepoint-path")]
    savepoint_path: &'a str,
}

#[derive(Deserialize)]
struct RequestId {
    #[serde(rename = "request-id")]
    request_id: String,
}

#[derive(Deserialize)]
struct CheckpointDetails {
    #[serde(default)]
    external_path: Option<String>,
}

#[derive(Deserialize)]
struct OperationAnswer {
    status: QueueStatus,
    #[serde(default)]
    operation: Option<OperationResult>,
}

#[derive(Deserialize)]
struct QueueStatus {
    id: String,
}

#[derive(Deserialize)]
struct OperationResult {
    #[serde(default)]
    location: Option<String>,
    #[serde(rename = "checkpointId", default)]
    checkpoint_id: Option<i64>,
    #[serde(rename = "failure-cause", default)]
    failure_cause: Option<FailureCause>,
}

#[derive(Deserialize)]
struct FailureCause {
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "stack-trace", default)]
    stack_trace: Option<String>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

/// The body of `POST /v1/sql/jobs` (Riffle's SQL submission).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SqlSubmission {
    /// The script.
    pub script: String,
    /// The job's id.
    #[serde(rename = "jobId")]
    pub job_id: String,
    /// Default parallelism.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<usize>,
    /// Configuration of this job.
    #[serde(rename = "flinkConfiguration")]
    pub flink_configuration: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct CheckpointStatistics {
    #[serde(default)]
    latest: Option<LatestCheckpoints>,
}

#[derive(Deserialize)]
struct LatestCheckpoints {
    #[serde(default)]
    completed: Option<CheckpointSummary>,
}

#[derive(Deserialize)]
struct CheckpointSummary {
    #[serde(default)]
    external_path: Option<String>,
}

/// `GET /jobs/:id`, the fields the autoscaler reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobDetails {
    /// The job's vertices, in the job graph's order.
    pub vertices: Vec<JobVertex>,
    /// The job graph, for each vertex's inputs.
    pub plan: JobPlan,
    /// When the job entered each state (`RUNNING` among them), epoch ms.
    #[serde(default)]
    pub timestamps: std::collections::BTreeMap<String, i64>,
}

/// A vertex of [`JobDetails`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobVertex {
    /// The vertex id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: u32,
    /// Its max parallelism (key groups).
    #[serde(rename = "maxParallelism", default)]
    pub max_parallelism: u32,
    /// Its counters, summed over its subtasks.
    pub metrics: VertexCounters,
}

/// The accumulated counters of a vertex or subtask.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct VertexCounters {
    /// Records read from other vertices.
    #[serde(rename = "read-records", default)]
    pub read_records: u64,
    /// Records written to other vertices (or sinks).
    #[serde(rename = "write-records", default)]
    pub write_records: u64,
    /// Milliseconds busy.
    #[serde(rename = "accumulated-busy-time", default)]
    pub busy_ms: f64,
}

/// The job graph of [`JobDetails`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobPlan {
    /// Its nodes (vertices).
    pub nodes: Vec<PlanNode>,
}

/// A node of [`JobPlan`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanNode {
    /// The vertex id.
    pub id: String,
    /// The vertices it reads.
    #[serde(default)]
    pub inputs: Vec<PlanInput>,
}

/// An input edge of a [`PlanNode`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanInput {
    /// The vertex read.
    pub id: String,
}

/// `GET /jobs/:id/vertices/:vid`, the fields the autoscaler reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VertexDetails {
    /// The vertex's subtasks.
    pub subtasks: Vec<SubtaskDetails>,
}

/// A subtask of [`VertexDetails`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SubtaskDetails {
    /// Its index.
    pub subtask: u32,
    /// Its counters.
    pub metrics: VertexCounters,
}

/// A metric of the subtask metrics endpoint: an id, with its sum when asked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct MetricValue {
    id: String,
    #[serde(default)]
    sum: Option<f64>,
}

/// A client of one JobManager.
#[derive(Debug, Clone)]
pub struct JobManagerRest {
    base: String,
    agent: ureq::Agent,
}

impl JobManagerRest {
    /// A client of `endpoint` (`host:port`), giving up on a call after `timeout`.
    pub fn new(endpoint: &str, timeout: Duration) -> JobManagerRest {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        JobManagerRest {
            base: format!("http://{}/v1", endpoint.trim_end_matches('/')),
            agent,
        }
    }

    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, RestError> {
        let mut r = r.map_err(|e| RestError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = r.status();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| RestError::Unreachable {
                url: self.base.clone(),
                reason: format!("reading the answer to {what}: {e}"),
            })?;
        if !status.is_success() {
            let message = serde_json::from_str::<Errors>(&text)
                .map(|e| e.errors.join("; "))
                .unwrap_or(text);
            return Err(RestError::Refused {
                what: what.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        let text = if text.trim().is_empty() {
            "null".to_string()
        } else {
            text
        };
        serde_json::from_str(&text).map_err(|e| RestError::Malformed {
            what: what.to_string(),
            reason: e.to_string(),
        })
    }

    /// `GET /jobs/overview`.
    pub fn jobs(&self) -> Result<Vec<JobOverview>, RestError> {
        let r = self
            .agent
            .get(format!("{}/jobs/overview", self.base))
            .call();
        self.answer::<JobsOverview>("listing jobs", r)
            .map(|o| o.jobs)
    }

    /// `POST /jobs/:id/stop`: stop with a savepoint into the cluster's
    /// savepoint directory, under the caller's `trigger_id`.
    pub fn stop_with_savepoint(&self, job_id: &str, trigger_id: &str) -> Result<(), RestError> {
        let body = StopRequest {
            drain: false,
            format_type: "CANONICAL",
            trigger_id,
        };
        let r = self
            .agent
            .post(format!("{}/jobs/{job_id}/stop", self.base))
            .send_json(&body);
        self.answer::<serde_json::Value>("stop with savepoint", r)
            .map(drop)
    }

    /// `POST /jobs/:id/savepoints` under the caller's `trigger_id`, into
    /// `directory` (`None`: the cluster's savepoint directory), the job
    /// going on.
    pub fn trigger_savepoint(
        &self,
        job_id: &str,
        trigger_id: &str,
        directory: Option<&str>,
        format: &str,
    ) -> Result<(), RestError> {
        let body = SavepointRequest {
            target_directory: directory,
            cancel_job: false,
            format_type: format,
            trigger_id,
        };
        let r = self
            .agent
            .post(format!("{}/jobs/{job_id}/savepoints", self.base))
            .send_json(&body);
        self.answer::<serde_json::Value>("savepoint trigger", r)
            .map(drop)
    }

    /// `POST /jobs/:id/checkpoints` under the caller's `trigger_id`.
    pub fn trigger_checkpoint(&self, job_id: &str, trigger_id: &str) -> Result<(), RestError> {
        let body = CheckpointRequest {
            checkpoint_type: "CONFIGURED",
            trigger_id,
        };
        let r = self
            .agent
            .post(format!("{}/jobs/{job_id}/checkpoints", self.base))
            .send_json(&body);
        self.answer::<serde_json::Value>("checkpoint trigger", r)
            .map(drop)
    }

    /// `GET /jobs/:id/savepoints/:trigger`.
    pub fn savepoint(&self, job_id: &str, trigger_id: &str) -> Result<Operation, RestError> {
        let what = "savepoint status";
        let result = match self.operation(what, "savepoints", job_id, trigger_id)? {
            Ok(result) => result,
            Err(op) => return Ok(op),
        };
        result
            .location
            .map(Operation::Completed)
            .ok_or_else(|| RestError::Malformed {
                what: what.into(),
                reason: "a completed savepoint without its location".into(),
            })
    }

    /// `GET /jobs/:id/checkpoints/:trigger`, and once it completed the
    /// checkpoint's path (`GET /jobs/:id/checkpoints/details/:checkpoint`).
    pub fn checkpoint(&self, job_id: &str, trigger_id: &str) -> Result<Operation, RestError> {
        let what = "checkpoint status";
        let result = match self.operation(what, "checkpoints", job_id, trigger_id)? {
            Ok(result) => result,
            Err(op) => return Ok(op),
        };
        let id = result.checkpoint_id.ok_or_else(|| RestError::Malformed {
            what: what.into(),
            reason: "a completed checkpoint without its id".into(),
        })?;
        let r = self
            .agent
            .get(format!(
                "{}/jobs/{job_id}/checkpoints/details/{id}",
                self.base
            ))
            .call();
        let details: CheckpointDetails = self.answer("checkpoint details", r)?;
        details
            .external_path
            .map(Operation::Completed)
            .ok_or_else(|| RestError::Malformed {
                what: "checkpoint details".into(),
                reason: format!("checkpoint {id} has no external_path"),
            })
    }

    /// An asynchronous operation's result once it completed without
    /// failing; `Err` carries what to report otherwise.
    fn operation(
        &self,
        what: &str,
        kind: &str,
        job_id: &str,
        trigger_id: &str,
    ) -> Result<Result<OperationResult, Operation>, RestError> {
        let r = self
            .agent
            .get(format!("{}/jobs/{job_id}/{kind}/{trigger_id}", self.base))
            .call();
        let a: OperationAnswer = self.answer(what, r)?;
        if a.status.id != "COMPLETED" {
            return Ok(Err(Operation::InProgress));
        }
        let result = a.operation.ok_or_else(|| RestError::Malformed {
            what: what.into(),
            reason: "a completed operation without its result".into(),
        })?;
        if let Some(cause) = result.failure_cause {
            return Ok(Err(Operation::Failed(
                cause
                    .message
                    .or(cause.stack_trace)
                    .unwrap_or_else(|| "unknown failure".into()),
            )));
        }
        Ok(Ok(result))
    }

    /// Disposes of the savepoint at `path` (`POST /savepoint-disposal`)
    /// and waits, at most `wait`, for the JobManager to say it is done.
    pub fn dispose_savepoint(&self, path: &str, wait: Duration) -> Result<(), RestError> {
        let what = "savepoint disposal";
        let r = self
            .agent
            .post(format!("{}/savepoint-disposal", self.base))
            .send_json(&DisposalRequest {
                savepoint_path: path,
            });
        let trigger: RequestId = self.answer(what, r)?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let r = self
                .agent
                .get(format!(
                    "{}/savepoint-disposal/{}",
                    self.base, trigger.request_id
                ))
                .call();
            let a: OperationAnswer = self.answer(what, r)?;
            if a.status.id == "COMPLETED" {
                let cause = a.operation.and_then(|o| o.failure_cause);
                return match cause {
                    None => Ok(()),
                    Some(c) => Err(RestError::Refused {
                        what: what.into(),
                        status: 500,
                        message: c
                            .message
                            .or(c.stack_trace)
                            .unwrap_or_else(|| "unknown failure".into()),
                    }),
                };
            }
            if std::time::Instant::now() >= deadline {
                return Err(RestError::Unreachable {
                    url: self.base.clone(),
                    reason: format!("the disposal of {path} did not finish within {wait:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `POST /sql/jobs`: submits a SQL job under its id. A job of that id
    /// already on the cluster is the same submission again: not an error.
    pub fn submit(&self, job: &SqlSubmission) -> Result<(), RestError> {
        let r = self
            .agent
            .post(format!("{}/sql/jobs", self.base))
            .send_json(job);
        match self.answer::<serde_json::Value>("job submission", r) {
            Ok(_) => Ok(()),
            Err(RestError::Refused {
                status: 409,
                message,
                ..
            }) if message.contains(&job.job_id) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The location of the job's latest completed checkpoint
    /// (`GET /jobs/:id/checkpoints`), if it has one.
    pub fn latest_checkpoint(&self, job_id: &str) -> Result<Option<String>, RestError> {
        let r = self
            .agent
            .get(format!("{}/jobs/{job_id}/checkpoints", self.base))
            .call();
        let stats: CheckpointStatistics = self.answer("checkpoint statistics", r)?;
        Ok(stats
            .latest
            .and_then(|l| l.completed)
            .and_then(|c| c.external_path))
    }

    /// `GET /jobs/:id`: the job's vertices with their counters and its plan.
    pub fn job_details(&self, job_id: &str) -> Result<JobDetails, RestError> {
        let r = self
            .agent
            .get(format!("{}/jobs/{job_id}", self.base))
            .call();
        self.answer("job details", r)
    }

    /// `GET /jobs/:id/vertices/:vid`: a vertex's subtasks with their counters.
    pub fn vertex_details(
        &self,
        job_id: &str,
        vertex_id: &str,
    ) -> Result<VertexDetails, RestError> {
        let r = self
            .agent
            .get(format!("{}/jobs/{job_id}/vertices/{vertex_id}", self.base))
            .call();
        self.answer("vertex details", r)
    }

    /// `GET /jobs/:id/vertices/:vid/subtasks/metrics`: the sums over a
    /// vertex's subtasks of the metrics whose ids `pick` accepts (the list of
    /// ids first, then their values).
    pub fn subtask_metric_sums(
        &self,
        job_id: &str,
        vertex_id: &str,
        pick: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, f64)>, RestError> {
        let url = format!(
            "{}/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics",
            self.base
        );
        let listed: Vec<MetricValue> =
            self.answer("listing subtask metrics", self.agent.get(&url).call())?;
        let ids: Vec<String> = listed
            .into_iter()
            .map(|m| m.id)
            .filter(|id| pick(id))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let r = self
            .agent
            .get(&url)
            .query("get", ids.join(","))
            .query("agg", "sum")
            .call();
        let values: Vec<MetricValue> = self.answer("subtask metrics", r)?;
        Ok(values
            .into_iter()
            .filter_map(|m| m.sum.map(|s| (m.id, s)))
            .collect())
    }

    /// `PATCH /jobs/:id?mode=cancel`.
    pub fn cancel(&self, job_id: &str) -> Result<(), RestError> {
        let r = self
            .agent
            .patch(format!("{}/jobs/{job_id}?mode=cancel", self.base))
            .send_empty();
        self.answer::<serde_json::Value>("cancel", r).map(drop)
    }
}
